// Diversity metrics of a set of texts: distinct-n and n-gram entropy over the whole set,
// self-BLEU and mean pairwise ROUGE-L on a seeded sample, and the most common openings.
//
// Words are interned as dense ids and every n-gram as a dense id of its order (the pair
// "id of its first n-1 words, id of its last word"), so counting, clipping and comparing
// work on integers. Self-BLEU reproduces nltk's sentence_bleu with SmoothingFunction().method1
// operation for operation (see bleu_from_counts), which is what lets the unit tests pin it to
// values computed by nltk itself.
#include "synthforge/text/diversity.h"

#include "synthforge/text/rouge.h"

#include "splitmix64.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace synthforge::text {

namespace {

// Dense ids for pairs of 32-bit ids: an n-gram of order n > 1 is the pair (id of its first
// n - 1 words as an (n-1)-gram, id of its last word), so each order needs one such map and
// n-grams of any length are told apart exactly (no hashing of word strings, no collisions).
// Open addressing with linear probing in one flat array: this map takes two lookups per word
// of the whole set, and std::unordered_map's node per entry made it the dominant cost.
class PairIds {
  public:
    uint32_t intern(uint32_t a, uint32_t b) {
        if (2 * (size_ + 1) > slots_.size()) grow();
        const uint64_t key = (static_cast<uint64_t>(a) << 32) | b;
        const size_t mask = slots_.size() - 1;
        for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
            Slot& s = slots_[i];
            if (s.id_plus_1 == 0) {
                s = {key, static_cast<uint32_t>(++size_)};
                return s.id_plus_1 - 1;
            }
            if (s.key == key) return s.id_plus_1 - 1;
        }
    }
    size_t size() const { return size_; }

  private:
    struct Slot {
        uint64_t key = 0;
        uint32_t id_plus_1 = 0;  // 0: empty
    };
    // Murmur3's finaliser: consecutive ids must not land in consecutive slots.
    static uint64_t mix(uint64_t k) {
        k ^= k >> 33;
        k *= 0xFF51AFD7ED558CCDULL;
        k ^= k >> 33;
        k *= 0xC4CEB9FE1A85EC53ULL;
        k ^= k >> 33;
        return k;
    }
    void grow() {
        std::vector<Slot> old(std::max<size_t>(64, 2 * slots_.size()));
        old.swap(slots_);
        const size_t mask = slots_.size() - 1;
        for (const Slot& s : old) {
            if (s.id_plus_1 == 0) continue;
            size_t i = mix(s.key) & mask;
            while (slots_[i].id_plus_1 != 0) i = (i + 1) & mask;
            slots_[i] = s;
        }
    }

    std::vector<Slot> slots_;
    size_t size_ = 0;
};

// The ids of the order-n n-grams of a text, given its order-(n-1) ids and its words.
void next_order(const std::vector<uint32_t>& prev, const std::vector<uint32_t>& words, size_t n, PairIds& ids,
                std::vector<uint32_t>& out) {
    out.clear();
    if (words.size() < n) return;
    for (size_t i = 0; i + n <= words.size(); ++i) out.push_back(ids.intern(prev[i], words[i + n - 1]));
}

// Tallies of one n-gram order over the whole set.
struct Tally {
    std::vector<uint64_t> count;  // by n-gram id
    uint64_t total = 0;

    void add(const std::vector<uint32_t>& grams) {
        for (uint32_t g : grams) {
            if (g >= count.size()) count.resize(static_cast<size_t>(g) + 1, 0);
            ++count[g];
        }
        total += grams.size();
    }
    double distinct() const {
        return total == 0 ? 0.0 : static_cast<double>(count.size()) / static_cast<double>(total);
    }
    // -sum p log2 p, term by term, so a single n-gram gives exactly 0 and 2^k equally frequent
    // ones exactly k (the shortcut log2 N - sum c log2 c / N is off by rounding).
    double entropy() const {
        double h = 0;
        const auto n = static_cast<double>(total);
        for (uint64_t c : count) {
            const double p = static_cast<double>(c) / n;
            h -= p * std::log2(p);
        }
        return h;
    }
};

// Python's math.fsum (Shewchuk's exact partials, then the correctly rounded sum), which
// nltk's corpus_bleu uses to add the weighted log precisions. All inputs here are finite.
double fsum(const double* xs, size_t count) {
    double partials[8];
    size_t np = 0;
    for (size_t k = 0; k < count; ++k) {
        double x = xs[k];
        size_t i = 0;
        for (size_t j = 0; j < np; ++j) {
            double y = partials[j];
            if (std::fabs(x) < std::fabs(y)) std::swap(x, y);
            const double hi = x + y;
            const double lo = y - (hi - x);
            if (lo != 0.0) partials[i++] = lo;
            x = hi;
        }
        np = i;
        partials[np++] = x;
    }
    if (np == 0) return 0.0;
    double hi = partials[--np];
    double lo = 0;
    while (np > 0) {
        const double x = hi;
        const double y = partials[--np];
        hi = x + y;
        const double yr = hi - x;
        lo = y - yr;
        if (lo != 0.0) break;
    }
    // Round half-even correctly when the remaining partials would push a tie either way.
    if (np > 0 && ((lo < 0 && partials[np - 1] < 0) || (lo > 0 && partials[np - 1] > 0))) {
        const double y = lo * 2;
        const double x = hi + y;
        const double yr = x - hi;
        if (y == yr) hi = x;
    }
    return hi;
}

constexpr size_t kBleuOrder = 4;

// nltk 3.8 corpus_bleu for one hypothesis, smoothing method1, uniform weights:
//   p_n = matches_n / max(1, hypothesis n-grams) (a Fraction, converted to the correctly
//         rounded double, as int / int is here), or 0.1 / denominator when matches_n == 0;
//   0 when there is no unigram match at all;
//   bp * exp(fsum(0.25 * log(p_n))) with bp = 1 if hyp_len > ref_len else
//   exp(1 - ref_len / hyp_len).
double bleu_from_counts(const uint64_t* matches, size_t hyp_len, size_t ref_len) {
    if (matches[0] == 0 || hyp_len == 0) return 0.0;
    double terms[kBleuOrder];
    for (size_t n = 1; n <= kBleuOrder; ++n) {
        const uint64_t denominator = std::max<uint64_t>(1, hyp_len >= n ? hyp_len - n + 1 : 0);
        const double p = matches[n - 1] != 0 ? static_cast<double>(matches[n - 1]) / static_cast<double>(denominator)
                                             : 0.1 / static_cast<double>(denominator);
        terms[n - 1] = 0.25 * std::log(p);
    }
    const double bp =
        hyp_len > ref_len ? 1.0 : std::exp(1.0 - static_cast<double>(ref_len) / static_cast<double>(hyp_len));
    return bp * std::exp(fsum(terms, kBleuOrder));
}

// nltk's closest_ref_length for hypothesis `self` of the sample: the length of another
// text nearest to its own, the shorter one on a tie. `sorted` holds every sample length.
size_t closest_other_length(const std::vector<size_t>& sorted, size_t h) {
    const auto [lo, hi] = std::equal_range(sorted.begin(), sorted.end(), h);
    if (hi - lo >= 2) return h;  // another text has the very same length
    const bool has_below = lo != sorted.begin();
    const bool has_above = hi != sorted.end();
    if (!has_above) return *(lo - 1);
    if (!has_below) return *hi;
    const size_t below = *(lo - 1), above = *hi;
    return h - below <= above - h ? below : above;
}

// For every n-gram of one order, the largest count in any sampled text and the largest in
// any other text: "max count over all references except the hypothesis itself" is then
// O(1) (second when the hypothesis holds the maximum, else best), instead of a pass over
// the k - 1 references for every hypothesis.
struct Top2 {
    uint32_t best = 0;
    uint32_t best_text = 0;
    uint32_t second = 0;  // the largest count among texts other than best_text

    void add(uint32_t c, uint32_t text) {
        if (c > best) {
            second = best;
            best = c;
            best_text = text;
        } else if (c > second) {
            second = c;
        }
    }
    uint32_t max_excluding(uint32_t text) const { return text == best_text ? second : best; }
};

// Self-BLEU of the sample (word ids per sampled text, all non-empty, at least two).
double self_bleu(const std::vector<const std::vector<uint32_t>*>& sample, PairIds* gram_ids) {
    const size_t k = sample.size();
    std::vector<uint64_t> matches(k * kBleuOrder, 0);

    // grams[s]: order-n ids of text s, advanced one order per round.
    std::vector<std::vector<uint32_t>> grams(k), next(k);
    for (size_t s = 0; s < k; ++s) grams[s] = *sample[s];
    std::vector<std::vector<std::pair<uint32_t, uint32_t>>> distinct(k);  // (id, count) per text
    std::vector<uint32_t> sorted;
    std::vector<Top2> top;
    for (size_t n = 1; n <= kBleuOrder; ++n) {
        if (n > 1) {
            for (size_t s = 0; s < k; ++s) {
                next_order(grams[s], *sample[s], n, gram_ids[n - 2], next[s]);
                std::swap(grams[s], next[s]);
            }
        }
        uint32_t max_id = 0;
        for (size_t s = 0; s < k; ++s) {
            sorted = grams[s];
            std::sort(sorted.begin(), sorted.end());
            auto& d = distinct[s];
            d.clear();
            for (size_t i = 0; i < sorted.size();) {
                size_t j = i;
                while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
                d.emplace_back(sorted[i], static_cast<uint32_t>(j - i));
                max_id = std::max(max_id, sorted[i]);
                i = j;
            }
        }
        top.assign(static_cast<size_t>(max_id) + 1, Top2{});
        for (size_t s = 0; s < k; ++s)
            for (const auto& [g, c] : distinct[s]) top[g].add(c, static_cast<uint32_t>(s));
        for (size_t s = 0; s < k; ++s) {
            uint64_t m = 0;
            for (const auto& [g, c] : distinct[s]) m += std::min(c, top[g].max_excluding(static_cast<uint32_t>(s)));
            matches[s * kBleuOrder + n - 1] = m;
        }
    }

    std::vector<size_t> lengths(k);
    for (size_t s = 0; s < k; ++s) lengths[s] = sample[s]->size();
    std::vector<size_t> sorted_lengths(lengths);
    std::sort(sorted_lengths.begin(), sorted_lengths.end());
    // Summed in sample order, as sum(scores) / len(scores) over the same list would.
    double sum = 0;
    for (size_t s = 0; s < k; ++s)
        sum += bleu_from_counts(&matches[s * kBleuOrder], lengths[s], closest_other_length(sorted_lengths, lengths[s]));
    return sum / static_cast<double>(k);
}

// One step of the bit-parallel LCS recurrence (Hyyro), as lcs_length() runs it:
// V' = (V + (V & M)) | (V & ~M), the addition carrying across words, low word first.
inline void lcs_step(uint64_t* v, const uint64_t* mask, size_t words) {
    uint64_t carry = 0;
    for (size_t w = 0; w < words; ++w) {
        const uint64_t x = v[w];
        const uint64_t sum = x + (x & mask[w]);
        const uint64_t sum2 = sum + carry;
        carry = (sum < x ? 1 : 0) | (sum2 < sum ? 1 : 0);
        v[w] = sum2 | (x & ~mask[w]);
    }
}

// Mean ROUGE-L F1 over all pairs i < j of the sample, summed in that order. lcs_length()
// builds the match masks of its pattern for every call; here text i's masks are built once
// and run against every later text, which is what makes 125,000 pairs take milliseconds.
double mean_pairwise_rougel(const std::vector<const std::vector<uint32_t>*>& sample, size_t vocab_size) {
    const size_t k = sample.size();
    std::vector<int32_t> slot(vocab_size, -1);  // word id -> row of its mask in `masks`, -1 if absent
    std::vector<uint32_t> present;
    std::vector<uint64_t> masks, v;
    double sum = 0;
    for (size_t i = 0; i < k; ++i) {
        const std::vector<uint32_t>& pattern = *sample[i];
        const size_t m = pattern.size();
        const size_t words = (m + 63) / 64;
        masks.clear();
        for (size_t pos = 0; pos < m; ++pos) {
            const uint32_t t = pattern[pos];
            if (slot[t] < 0) {
                slot[t] = static_cast<int32_t>(present.size());
                present.push_back(t);
                masks.resize(masks.size() + words, 0);
            }
            masks[static_cast<size_t>(slot[t]) * words + pos / 64] |= uint64_t{1} << (pos % 64);
        }
        for (size_t j = i + 1; j < k; ++j) {
            const std::vector<uint32_t>& text = *sample[j];
            size_t lcs;
            if (words == 1) {
                uint64_t x = ~uint64_t{0};
                for (uint32_t t : text) {
                    if (slot[t] < 0) continue;
                    const uint64_t mask = masks[static_cast<size_t>(slot[t])];
                    x = (x + (x & mask)) | (x & ~mask);
                }
                const uint64_t low = m == 64 ? ~uint64_t{0} : (uint64_t{1} << m) - 1;
                lcs = m - static_cast<size_t>(std::popcount(x & low));
            } else {
                v.assign(words, ~uint64_t{0});
                for (uint32_t t : text)
                    if (slot[t] >= 0) lcs_step(v.data(), &masks[static_cast<size_t>(slot[t]) * words], words);
                // The LCS is the number of zero bits among the pattern's m positions.
                size_t ones = 0;
                for (size_t w = 0; w < m / 64; ++w) ones += static_cast<size_t>(std::popcount(v[w]));
                if (m % 64 != 0)
                    ones += static_cast<size_t>(std::popcount(v[m / 64] & ((uint64_t{1} << (m % 64)) - 1)));
                lcs = m - ones;
            }
            sum += rouge_l_f1_from_lcs(lcs, m, text.size());
        }
        for (uint32_t t : present) slot[t] = -1;
        present.clear();
    }
    return sum / (static_cast<double>(k) * static_cast<double>(k - 1) / 2);
}

void add_flags(const DiversityMetrics& m, size_t bigrams, size_t top_first_count, double top_first_share,
               const std::string& top_first, const DiversityOptions& o, std::vector<DiversityFlag>& flags) {
    if (bigrams > 0 && m.distinct_2 < o.min_distinct_2)
        flags.push_back({"distinct_2", fmt::format("distinct-2 is {:.2f} (< {:.2f}): the texts reuse the same phrases; "
                                                   "raise the temperature or diversify the seeds",
                                                   m.distinct_2, o.min_distinct_2)});
    if (m.self_bleu_sample >= 2 && m.self_bleu > o.max_self_bleu)
        flags.push_back({"self_bleu", fmt::format("self-BLEU is {:.2f} (> {:.2f}) over {} sampled texts: the texts "
                                                  "resemble each other; vary the prompts and seed examples or raise "
                                                  "the temperature",
                                                  m.self_bleu, o.max_self_bleu, m.self_bleu_sample)});
    if (m.rougel_pairs > 0 && m.mean_pairwise_rougel > o.max_mean_rougel)
        flags.push_back(
            {"mean_pairwise_rougel", fmt::format("mean pairwise ROUGE-L is {:.2f} (> {:.2f}): texts share long word "
                                                 "sequences; add a dedup_rougel step or diversify the prompts",
                                                 m.mean_pairwise_rougel, o.max_mean_rougel)});
    // One text always has a share of 1 / texts; a flag needs an opening actually repeated.
    if (top_first_count >= 2 && top_first_share > o.max_top_first_share)
        flags.push_back({"first_words", fmt::format("{:.0f}% of the texts begin with \"{}\" (> {:.0f}%): ask for "
                                                    "varied openings or mix different task types into the prompts",
                                                    100 * top_first_share, top_first, 100 * o.max_top_first_share)});
}

}  // namespace

std::vector<size_t> diversity_sample_positions(size_t n, size_t k, uint64_t seed) {
    std::vector<size_t> out;
    if (k >= n) {
        out.resize(n);
        for (size_t i = 0; i < n; ++i) out[i] = i;
        return out;
    }
    // Floyd's algorithm: k draws, O(k) memory whatever n is; every k-subset equally likely.
    SplitMix64 rng(seed);
    std::unordered_set<size_t> chosen;
    chosen.reserve(k);
    for (size_t j = n - k; j < n; ++j) {
        const auto t = static_cast<size_t>(rng.below(static_cast<uint64_t>(j) + 1));
        if (!chosen.insert(t).second) chosen.insert(j);
    }
    out.assign(chosen.begin(), chosen.end());
    std::sort(out.begin(), out.end());  // the set's iteration order is not portable; sorted is
    return out;
}

DiversityMetrics diversity_metrics(const std::vector<std::string_view>& texts, const DiversityOptions& options) {
    DiversityMetrics m;
    m.texts = texts.size();

    TokenVocab vocab;
    // gram_ids[0] makes bigram ids, [1] trigrams, [2] 4-grams (these only for the sample).
    PairIds gram_ids[kBleuOrder - 1];
    Tally tally[3];
    std::vector<std::vector<uint32_t>> words;  // texts with at least one token, in input order
    words.reserve(texts.size());
    std::unordered_map<std::string, size_t> openings;
    std::vector<uint32_t> bigrams, trigrams;
    std::string key;
    for (std::string_view text : texts) {
        std::vector<uint32_t> w = vocab.encode(text);
        if (w.empty()) {
            ++m.empty_texts;
            continue;
        }
        m.tokens += w.size();
        next_order(w, w, 2, gram_ids[0], bigrams);
        next_order(bigrams, w, 3, gram_ids[1], trigrams);
        tally[0].add(w);
        tally[1].add(bigrams);
        tally[2].add(trigrams);
        if (options.first_words > 0) {
            key.clear();
            for (size_t i = 0; i < std::min(options.first_words, w.size()); ++i) {
                if (i) key += ' ';
                key += vocab.token(w[i]);
            }
            ++openings[key];
        }
        words.push_back(std::move(w));
    }
    m.vocabulary = vocab.size();
    m.distinct_1 = tally[0].distinct();
    m.distinct_2 = tally[1].distinct();
    m.distinct_3 = tally[2].distinct();
    m.entropy_1 = tally[0].entropy();
    m.entropy_2 = tally[1].entropy();
    m.entropy_3 = tally[2].entropy();

    const std::vector<size_t> picked = diversity_sample_positions(words.size(), options.sample_size, options.seed);
    if (picked.size() >= 2) {
        std::vector<const std::vector<uint32_t>*> sample;
        sample.reserve(picked.size());
        for (size_t i : picked) sample.push_back(&words[i]);
        m.self_bleu = self_bleu(sample, gram_ids);
        m.self_bleu_sample = sample.size();
        m.mean_pairwise_rougel = mean_pairwise_rougel(sample, vocab.size());
        m.rougel_pairs = sample.size() * (sample.size() - 1) / 2;
    }

    // First words: count desc, then words asc, so ties are listed the same way everywhere.
    std::vector<FirstWordsCount> all;
    all.reserve(openings.size());
    for (auto& [words_key, count] : openings)
        all.push_back({words_key, count, static_cast<double>(count) / static_cast<double>(words.size())});
    std::sort(all.begin(), all.end(), [](const FirstWordsCount& a, const FirstWordsCount& b) {
        return a.count != b.count ? a.count > b.count : a.words < b.words;
    });
    m.distinct_first_words = all.size();
    const size_t top_count = all.empty() ? 0 : all[0].count;
    const double top_share = all.empty() ? 0.0 : all[0].share;
    const std::string top_words = all.empty() ? std::string() : all[0].words;
    if (all.size() > options.top_first_words) all.resize(options.top_first_words);
    m.first_words = std::move(all);

    add_flags(m, tally[1].total, top_count, top_share, top_words, options, m.flags);
    return m;
}

}  // namespace synthforge::text
