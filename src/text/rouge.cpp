#include "synthforge/text/rouge.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace synthforge::text {

namespace {

// Calls emit(token) for every rouge_score token of `text`. Works on bytes: in UTF-8 no byte of a
// multi-byte sequence is ASCII, so every non-ASCII code point is a separator except the two whose
// Python lower case yields an ASCII letter, recognised by their byte sequences.
template <typename Emit>
void scan_tokens(std::string_view text, std::string& buf, Emit&& emit) {
    buf.clear();
    auto flush = [&] {
        if (!buf.empty()) {
            emit(std::string_view(buf));
            buf.clear();
        }
    };
    const size_t n = text.size();
    for (size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 'a' && c <= 'z') {
            buf.push_back(static_cast<char>(c));
        } else if (c >= '0' && c <= '9') {
            buf.push_back(static_cast<char>(c));
        } else if (c >= 'A' && c <= 'Z') {
            buf.push_back(static_cast<char>(c - 'A' + 'a'));
        } else if (c == 0xC4 && i + 1 < n && static_cast<unsigned char>(text[i + 1]) == 0xB0) {
            // U+0130 lowers to "i" + U+0307 COMBINING DOT ABOVE: the "i" joins the current token,
            // the combining mark then ends it.
            buf.push_back('i');
            flush();
            i += 1;
        } else if (c == 0xE2 && i + 2 < n && static_cast<unsigned char>(text[i + 1]) == 0x84 &&
                   static_cast<unsigned char>(text[i + 2]) == 0xAA) {
            buf.push_back('k');  // U+212A KELVIN SIGN lowers to ASCII "k"
            i += 2;
        } else {
            flush();
        }
    }
    flush();
}

// Below this distance from the threshold an upper bound is not trusted to prune: the computed F1
// is within a few ulps (~1e-15 relative) of the exact 2 * lcs / (m + n), so a bound at least 1e-9
// under the threshold proves the computed score cannot exceed it either.
constexpr double kBoundMargin = 1e-9;

bool bound_can_exceed(size_t overlap, size_t m, size_t n, double threshold) {
    return 2.0 * static_cast<double>(overlap) / static_cast<double>(m + n) > threshold - kBoundMargin;
}

// One step of the bit-parallel LCS recurrence over `words` 64-bit words:
// V' = (V + (V & M)) | (V & ~M), the addition carrying across words (low word first).
inline void lcs_step(uint64_t* v, const uint64_t* mask, size_t words) {
    uint64_t carry = 0;
    for (size_t w = 0; w < words; ++w) {
        const uint64_t x = v[w];
        const uint64_t u = x & mask[w];
        const uint64_t sum = x + u;
        const uint64_t out1 = sum < x ? 1 : 0;
        const uint64_t sum2 = sum + carry;
        const uint64_t out2 = sum2 < sum ? 1 : 0;
        carry = out1 | out2;
        v[w] = sum2 | (x & ~mask[w]);
    }
}

// The LCS is the number of zero bits among the pattern's m positions (bits above m may be
// disturbed by carries, which only travel upwards, so they are ignored).
size_t zeros_in_pattern(const std::vector<uint64_t>& v, size_t m) {
    size_t ones = 0;
    const size_t full = m / 64;
    for (size_t w = 0; w < full; ++w) ones += std::popcount(v[w]);
    if (m % 64 != 0) ones += std::popcount(v[full] & ((uint64_t{1} << (m % 64)) - 1));
    return m - ones;
}

}  // namespace

std::vector<std::string> rouge_tokenize(std::string_view text) {
    std::vector<std::string> out;
    std::string buf;
    scan_tokens(text, buf, [&](std::string_view tok) { out.emplace_back(tok); });
    return out;
}

uint32_t TokenVocab::intern(std::string_view token) {
    if (auto it = ids_.find(token); it != ids_.end()) return it->second;
    const auto id = static_cast<uint32_t>(tokens_.size());
    tokens_.emplace_back(token);
    ids_.emplace(tokens_.back(), id);
    return id;
}

std::vector<uint32_t> TokenVocab::encode(std::string_view text) {
    std::vector<uint32_t> out;
    std::string buf;
    scan_tokens(text, buf, [&](std::string_view tok) { out.push_back(intern(tok)); });
    return out;
}

size_t lcs_length(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
    const auto& pattern = a.size() <= b.size() ? a : b;
    const auto& text = a.size() <= b.size() ? b : a;
    const size_t m = pattern.size();
    if (m == 0) return 0;
    const size_t words = (m + 63) / 64;

    // Match masks per distinct pattern token, found by binary search over the sorted distinct
    // tokens (no vocabulary-sized table: ids may be arbitrary here).
    std::vector<uint32_t> distinct(pattern);
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    std::vector<uint64_t> masks(distinct.size() * words, 0);
    for (size_t i = 0; i < m; ++i) {
        const size_t s = std::lower_bound(distinct.begin(), distinct.end(), pattern[i]) - distinct.begin();
        masks[s * words + i / 64] |= uint64_t{1} << (i % 64);
    }

    std::vector<uint64_t> v(words, ~uint64_t{0});
    for (uint32_t tok : text) {
        auto it = std::lower_bound(distinct.begin(), distinct.end(), tok);
        if (it == distinct.end() || *it != tok) continue;  // no match: V is unchanged
        lcs_step(v.data(), &masks[static_cast<size_t>(it - distinct.begin()) * words], words);
    }
    return zeros_in_pattern(v, m);
}

double rouge_l_f1_from_lcs(size_t lcs, size_t n_target, size_t n_prediction) {
    if (n_target == 0 || n_prediction == 0) return 0.0;
    // Same operations in the same order as rouge_score (scoring.fmeasure), so the double is
    // identical: precision and recall first, then 2 * p * r / (p + r).
    const double precision = static_cast<double>(lcs) / static_cast<double>(n_prediction);
    const double recall = static_cast<double>(lcs) / static_cast<double>(n_target);
    if (precision + recall > 0) return 2 * precision * recall / (precision + recall);
    return 0.0;
}

double rouge_l_f1(const std::vector<uint32_t>& target, const std::vector<uint32_t>& prediction) {
    return rouge_l_f1_from_lcs(lcs_length(target, prediction), target.size(), prediction.size());
}

double rouge_l_f1(std::string_view target, std::string_view prediction) {
    TokenVocab vocab;
    const auto t = vocab.encode(target);
    const auto p = vocab.encode(prediction);
    return rouge_l_f1(t, p);
}

// ---------------------------------------------------------------------------------------------
// RougeLIndex

struct RougeLIndex::Query {
    size_t m = 0;
    size_t words = 0;
    struct Tok {
        uint32_t id;
        uint32_t count;  // occurrences in the candidate
    };
    std::vector<Tok> distinct;  // sorted by posting-list length, rarest first
};

size_t RougeLIndex::add(std::vector<uint32_t> tokens) {
    const auto idx = static_cast<uint32_t>(items_.size());
    // Distinct tokens with counts, for the postings.
    std::vector<uint32_t> sorted(tokens);
    std::sort(sorted.begin(), sorted.end());
    const auto len = static_cast<uint16_t>(std::min<size_t>(tokens.size(), 0xFFFF));
    for (size_t i = 0; i < sorted.size();) {
        size_t j = i;
        while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
        if (sorted[i] >= postings_.size()) postings_.resize(sorted[i] + 1);
        postings_[sorted[i]].push_back({idx, static_cast<uint16_t>(std::min<size_t>(j - i, 0xFFFF)), len});
        i = j;
    }
    items_.push_back(std::move(tokens));
    overlap_.push_back(0);
    return idx;
}

void RougeLIndex::prepare(const std::vector<uint32_t>& candidate, Query& q) {
    q.m = candidate.size();
    q.words = (q.m + 63) / 64;
    uint32_t max_id = 0;
    for (uint32_t t : candidate) max_id = std::max(max_id, t);
    if (slot_.size() <= max_id) slot_.resize(static_cast<size_t>(max_id) + 1, -1);
    q.distinct.clear();
    masks_.clear();
    for (size_t i = 0; i < q.m; ++i) {
        const uint32_t t = candidate[i];
        if (slot_[t] < 0) {
            slot_[t] = static_cast<int32_t>(q.distinct.size());
            q.distinct.push_back({t, 0});
            masks_.resize(masks_.size() + q.words, 0);
        }
        const auto s = static_cast<size_t>(slot_[t]);
        q.distinct[s].count += 1;
        masks_[s * q.words + i / 64] |= uint64_t{1} << (i % 64);
    }
    // Rarest tokens first: they find the similar items through the shortest lists, so the long
    // lists of common words can often be left unread (see any_above).
    auto df = [&](uint32_t id) { return id < postings_.size() ? postings_[id].size() : size_t{0}; };
    std::stable_sort(q.distinct.begin(), q.distinct.end(),
                     [&](const Query::Tok& x, const Query::Tok& y) { return df(x.id) < df(y.id); });
    // The slots were assigned in candidate order; the masks stay addressed by slot, so re-sorting
    // `distinct` does not disturb them.
}

size_t RougeLIndex::lcs_with_candidate(const std::vector<uint32_t>& item, const Query& q) const {
    const size_t nslots = slot_.size();
    if (q.words == 1) {
        uint64_t v = ~uint64_t{0};
        for (uint32_t tok : item) {
            if (tok >= nslots) continue;
            const int32_t s = slot_[tok];
            if (s < 0) continue;
            const uint64_t mask = masks_[static_cast<size_t>(s)];
            const uint64_t u = v & mask;
            v = (v + u) | (v & ~mask);
        }
        const uint64_t low = q.m == 64 ? ~uint64_t{0} : ((uint64_t{1} << q.m) - 1);
        return q.m - static_cast<size_t>(std::popcount(v & low));
    }
    std::vector<uint64_t> v(q.words, ~uint64_t{0});
    for (uint32_t tok : item) {
        if (tok >= nslots) continue;
        const int32_t s = slot_[tok];
        if (s < 0) continue;
        lcs_step(v.data(), &masks_[static_cast<size_t>(s) * q.words], q.words);
    }
    return zeros_in_pattern(v, q.m);
}

void RougeLIndex::finish_query() {
    for (uint32_t i : touched_) overlap_[i] = 0;
    touched_.clear();
}

bool RougeLIndex::any_above(const std::vector<uint32_t>& candidate, double threshold, size_t* which) {
    stats_ = {};
    if (which) *which = npos;
    if (std::isnan(threshold) || items_.empty()) return false;
    if (threshold < 0) {  // every F1 is >= 0, so any item is above
        if (which) *which = 0;
        return true;
    }
    const size_t m = candidate.size();
    // F1 > threshold >= 0 needs lcs >= 1, hence a shared token: items reached through no posting
    // list of a candidate token have F1 0 and are never visited.
    if (m == 0) return false;

    Query q;
    prepare(candidate, q);

    // Length bound: F1 <= 2 min(m, n) / (m + n). Feasible item lengths form an interval around m.
    size_t n_lo = 1;
    while (n_lo <= m && !bound_can_exceed(n_lo, m, n_lo, threshold)) ++n_lo;
    size_t n_hi = m;
    if (n_lo > m) {
        n_hi = 0;  // even n == m gives 1.0 <= threshold: nothing can be above
    } else {
        // 2m / (m + n) decreases in n; cap the search, saturated lengths are then "long".
        while (n_hi < 0xFFFF && bound_can_exceed(m, m, n_hi + 1, threshold)) ++n_hi;
        if (n_hi >= 0xFFFF) n_hi = static_cast<size_t>(-1);
    }
    bool found = false;
    size_t hit = npos;
    if (n_hi >= n_lo) {
        // Token-overlap bound: lcs <= |multiset intersection|. Overlaps are accumulated over the
        // posting lists, rarest token first. `remaining` counts the candidate tokens not yet read;
        // an item first met now has overlap <= min(remaining, n), and 2 min(R, n) / (m + n) peaks
        // at n = R. Once 2R / (m + R) cannot exceed the threshold, no unseen item can qualify, so
        // the remaining (common-word) lists are skipped and `remaining` is added to the bound of
        // the items already met instead.
        size_t remaining = m;
        size_t k = 0;
        for (; k < q.distinct.size(); ++k) {
            if (!bound_can_exceed(remaining, m, remaining, threshold)) break;
            const auto& tok = q.distinct[k];
            if (tok.id < postings_.size()) {
                const auto& list = postings_[tok.id];
                stats_.postings_scanned += list.size();
                for (const Posting& p : list) {
                    const size_t len = p.length == 0xFFFF ? static_cast<size_t>(-1) - 1 : p.length;
                    if (len < n_lo || len > n_hi) continue;
                    const uint32_t c = p.count == 0xFFFF ? tok.count : std::min<uint32_t>(p.count, tok.count);
                    if (overlap_[p.item] == 0) touched_.push_back(p.item);
                    overlap_[p.item] += c;
                }
            }
            remaining -= tok.count;
        }
        for (uint32_t i : touched_) {
            const size_t n = items_[i].size();
            const size_t bound = std::min({static_cast<size_t>(overlap_[i]) + remaining, m, n});
            if (!bound_can_exceed(bound, m, n, threshold)) continue;
            ++stats_.lcs_computed;
            const size_t lcs = lcs_with_candidate(items_[i], q);
            if (rouge_l_f1_from_lcs(lcs, n, m) > threshold) {
                found = true;
                hit = i;
                break;
            }
        }
    }
    finish_query();
    for (const auto& t : q.distinct) slot_[t.id] = -1;
    if (which) *which = hit;
    return found;
}

RougeLIndex::Best RougeLIndex::max_f1(const std::vector<uint32_t>& candidate) {
    stats_ = {};
    Best best;
    const size_t m = candidate.size();
    if (m == 0 || items_.empty()) return best;
    Query q;
    prepare(candidate, q);
    for (const auto& tok : q.distinct) {
        if (tok.id >= postings_.size()) continue;
        const auto& list = postings_[tok.id];
        stats_.postings_scanned += list.size();
        for (const Posting& p : list) {
            const uint32_t c = p.count == 0xFFFF ? tok.count : std::min<uint32_t>(p.count, tok.count);
            if (overlap_[p.item] == 0) touched_.push_back(p.item);
            overlap_[p.item] += c;
        }
    }
    // Highest bound first, so the best score is found early and the bound prunes the rest.
    std::vector<std::pair<double, uint32_t>> order;
    order.reserve(touched_.size());
    for (uint32_t i : touched_) {
        const size_t n = items_[i].size();
        const size_t bound = std::min({static_cast<size_t>(overlap_[i]), m, n});
        order.emplace_back(2.0 * static_cast<double>(bound) / static_cast<double>(m + n), i);
    }
    std::sort(order.begin(), order.end(), [](const auto& x, const auto& y) {
        return x.first != y.first ? x.first > y.first : x.second < y.second;
    });
    for (const auto& [bound, i] : order) {
        // Items with a bound clearly below the best cannot beat or tie it.
        if (best.item != npos && bound < best.f1 - kBoundMargin) break;
        ++stats_.lcs_computed;
        const double f = rouge_l_f1_from_lcs(lcs_with_candidate(items_[i], q), items_[i].size(), m);
        if (best.item == npos || f > best.f1 || (f == best.f1 && i < best.item)) best = {f, i};
    }
    finish_query();
    for (const auto& t : q.distinct) slot_[t.id] = -1;
    return best;
}

}  // namespace synthforge::text
