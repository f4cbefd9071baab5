#include "synthforge/text/minhash.h"

#include "text/utf8.h"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

namespace synthforge::text {

namespace {

// Seed of the shingle hashes: a fixed constant, so stored shingle sets stay valid
// across runs and versions (changing it would invalidate resumable state).
constexpr uint64_t kShingleSeed = 0x5eedf0c6e5a1d0b1ULL;

constexpr bool is_space_cp(char32_t cp) {
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp >= 0x2000 && cp <= 0x200A) return true;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

// Separators between shingling words, besides whitespace: ASCII punctuation and the
// typographic marks editors substitute for it.
constexpr bool is_separator_cp(char32_t cp) {
    if (cp < 0x80)
        return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
               (cp >= 0x7B && cp <= 0x7E);
    if (cp >= 0x2010 && cp <= 0x201F) return true;  // dashes and quotes
    return cp == 0x2026 || cp == 0xAB || cp == 0xBB || cp == 0xA1 || cp == 0xBF || cp == 0x3001 || cp == 0x3002;
}

// Byte classes for ASCII: 0 separates words, 1 belongs to a word as it is, 2 is an upper-case
// letter (the word must be lowercased before hashing). Bytes >= 0x80 are decoded instead.
constexpr std::array<uint8_t, 128> kAsciiClass = [] {
    std::array<uint8_t, 128> t{};
    for (int c = 0; c < 128; ++c) {
        if (c >= 'A' && c <= 'Z') {
            t[c] = 2;
        } else if (c > 0x20 && c < 0x7F && !is_separator_cp(static_cast<char32_t>(c))) {
            t[c] = 1;
        }
    }
    return t;
}();

// Multiplier of the rolling shingle hash; odd, so multiplying by it loses no bits.
constexpr uint64_t kRollBase = 0x9E3779B97F4A7C15ULL;

constexpr uint64_t fmix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDULL;
    k ^= k >> 33;
    k *= 0xC4CEB9FE1A85EC53ULL;
    k ^= k >> 33;
    return k;
}

// Words are hashed once with XXH3; a shingle's hash is the polynomial
// sum_k word[i + k] * B^(n-1-k) mod 2^64 over its word hashes, updated in O(1) as the
// window slides, then mixed together with the width (so the single shingle of a text
// shorter than n is hashed apart from n-word ones). The word hashes are random 64-bit
// values, so two different windows collide with probability about 2^-64 before the
// truncation to 32 bits.
void word_shingles(std::string_view text, size_t n, std::vector<uint32_t>& out) {
    std::vector<uint64_t> words;
    words.reserve(text.size() / 4 + 1);
    std::string lowered;
    size_t start = std::string_view::npos;  // first byte of the current word
    bool upper = false;
    auto flush = [&](size_t end) {
        if (start == std::string_view::npos) return;
        const std::string_view w = text.substr(start, end - start);
        if (upper) {
            lowered.assign(w);
            for (char& c : lowered)
                if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
            words.push_back(XXH3_64bits(lowered.data(), lowered.size()));
        } else {
            words.push_back(XXH3_64bits(w.data(), w.size()));
        }
        start = std::string_view::npos;
        upper = false;
    };
    for (size_t i = 0; i < text.size();) {
        const auto byte = static_cast<unsigned char>(text[i]);
        size_t len = 1;
        bool word_byte;
        if (byte < 0x80) {
            const uint8_t cls = kAsciiClass[byte];
            word_byte = cls != 0;
            upper |= cls == 2;
        } else {
            const utf8::Decoded d = utf8::decode(text, i);
            len = d.len;
            word_byte = !(d.valid && (is_space_cp(d.cp) || is_separator_cp(d.cp)));
        }
        if (!word_byte) {
            flush(i);
        } else if (start == std::string_view::npos) {
            start = i;
        }
        i += len;
    }
    flush(text.size());
    if (words.empty()) return;
    const size_t width = std::min(n, words.size());
    uint64_t top = 1;  // B^(width-1)
    for (size_t k = 1; k < width; ++k) top *= kRollBase;
    uint64_t h = 0;
    for (size_t k = 0; k < width; ++k) h = h * kRollBase + words[k];
    const uint64_t salt = kShingleSeed + width;
    out.reserve(words.size() - width + 1);
    for (size_t i = 0;; ++i) {
        out.push_back(static_cast<uint32_t>(fmix64(h ^ salt)));
        if (i + width >= words.size()) break;
        h = (h - words[i] * top) * kRollBase + words[i + width];
    }
}

// Sorts 32-bit values: LSD radix sort, one byte per pass, for the sizes where it beats
// comparison sorting (hundreds of shingles per text).
void sort_hashes(std::vector<uint32_t>& v) {
    if (v.size() < 64) {
        std::sort(v.begin(), v.end());
        return;
    }
    std::vector<uint32_t> tmp(v.size());
    uint32_t* src = v.data();
    uint32_t* dst = tmp.data();
    for (int shift = 0; shift < 32; shift += 8) {
        uint32_t count[257] = {};
        for (size_t i = 0; i < v.size(); ++i) ++count[((src[i] >> shift) & 0xFF) + 1];
        for (int b = 0; b < 256; ++b) count[b + 1] += count[b];
        for (size_t i = 0; i < v.size(); ++i) dst[count[(src[i] >> shift) & 0xFF]++] = src[i];
        std::swap(src, dst);
    }
    // Four passes: the sorted values are back in v.
}

void char_shingles(std::string_view text, size_t n, std::vector<uint32_t>& out) {
    std::string norm;
    norm.reserve(text.size());
    std::vector<uint32_t> starts;  // byte offset of every code point of `norm`
    bool space = false;
    for (size_t i = 0; i < text.size();) {
        const utf8::Decoded d = utf8::decode(text, i);
        if (d.valid && is_space_cp(d.cp)) {
            space = !norm.empty();
            i += d.len;
            continue;
        }
        if (space) {
            starts.push_back(static_cast<uint32_t>(norm.size()));
            norm.push_back(' ');
            space = false;
        }
        starts.push_back(static_cast<uint32_t>(norm.size()));
        if (d.len == 1) {
            const auto b = static_cast<unsigned char>(text[i]);
            norm.push_back(static_cast<char>(b >= 'A' && b <= 'Z' ? b + 32 : b));
        } else {
            norm.append(text.substr(i, d.len));
        }
        i += d.len;
    }
    if (starts.empty()) return;
    starts.push_back(static_cast<uint32_t>(norm.size()));
    const size_t chars = starts.size() - 1;
    const size_t width = std::min(n, chars);
    out.reserve(chars - width + 1);
    for (size_t i = 0; i + width <= chars; ++i)
        out.push_back(static_cast<uint32_t>(
            XXH3_64bits_withSeed(norm.data() + starts[i], starts[i + width] - starts[i], kShingleSeed)));
}

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// Permutations are processed 64 at a time: 64 running minima fit in vector registers,
// so the inner loop is loads of a and b, a multiply-add and a min, vectorised. GCC builds
// it for AVX-512, AVX2 and baseline x86-64 and picks one when the library loads.
constexpr size_t kBlock = 64;

// Not under ThreadSanitizer: the clones' resolver runs while the library is relocated, before
// the sanitizer's runtime is up, and its instrumented entry crashes the process at load.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define SYNTHFORGE_MINHASH_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define SYNTHFORGE_MINHASH_CLONES
#endif

SYNTHFORGE_MINHASH_CLONES
void min_block(const uint32_t* __restrict a, const uint32_t* __restrict b, const uint32_t* x, size_t n,
               uint32_t* __restrict out) {
    uint32_t m[kBlock];
    for (size_t j = 0; j < kBlock; ++j) m[j] = UINT32_MAX;
    for (size_t i = 0; i < n; ++i) {
        const uint32_t v = x[i];
        for (size_t j = 0; j < kBlock; ++j) {
            const uint32_t h = a[j] * v + b[j];
            m[j] = h < m[j] ? h : m[j];
        }
    }
    for (size_t j = 0; j < kBlock; ++j) out[j] = m[j];
}

// Simpson's rule with `steps` (even) intervals on [lo, hi] of f, evaluated on a grid.
template <typename F>
double simpson(double lo, double hi, int steps, F&& f) {
    if (hi <= lo) return 0.0;
    const double h = (hi - lo) / steps;
    double sum = f(lo) + f(hi);
    for (int i = 1; i < steps; ++i) sum += (i % 2 ? 4.0 : 2.0) * f(lo + i * h);
    return sum * h / 3.0;
}

constexpr int kSteps = 1000;

size_t intersection_size(const uint32_t* a, const uint32_t* a_end, const uint32_t* b, const uint32_t* b_end) {
    size_t common = 0;
    while (a != a_end && b != b_end) {
        if (*a < *b) {
            ++a;
        } else if (*b < *a) {
            ++b;
        } else {
            ++common;
            ++a;
            ++b;
        }
    }
    return common;
}

double jaccard_of(const uint32_t* a, const uint32_t* a_end, const uint32_t* b, const uint32_t* b_end) {
    const size_t na = a_end - a, nb = b_end - b;
    if (na == 0 && nb == 0) return 1.0;
    const size_t common = intersection_size(a, a_end, b, b_end);
    return static_cast<double>(common) / static_cast<double>(na + nb - common);
}

}  // namespace

std::vector<uint32_t> shingle_hashes(std::string_view text, ShingleKind kind, size_t n) {
    if (n == 0) throw std::invalid_argument("shingle size must be at least 1");
    std::vector<uint32_t> out;
    if (kind == ShingleKind::word) {
        word_shingles(text, n, out);
    } else {
        char_shingles(text, n, out);
    }
    sort_hashes(out);
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

double jaccard(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
    return jaccard_of(a.data(), a.data() + a.size(), b.data(), b.data() + b.size());
}

MinHasher::MinHasher(size_t num_perm, uint64_t seed) {
    if (num_perm == 0) throw std::invalid_argument("num_perm must be at least 1");
    // Padded to whole blocks; the extra functions are computed and never read.
    const size_t padded = (num_perm + kBlock - 1) / kBlock * kBlock;
    a_.resize(padded);
    b_.resize(padded);
    uint64_t state = seed;
    for (size_t j = 0; j < padded; ++j) {
        const uint64_t r = splitmix64(state);
        a_[j] = static_cast<uint32_t>(r) | 1u;  // odd, so x -> a*x + b is a bijection mod 2^32
        b_[j] = static_cast<uint32_t>(r >> 32);
    }
    num_perm_ = num_perm;
}

void MinHasher::signature(const std::vector<uint32_t>& hashes, uint32_t* out) const {
    const size_t k = num_perm_;
    uint32_t block[kBlock];
    for (size_t j0 = 0; j0 < k; j0 += kBlock) {
        min_block(a_.data() + j0, b_.data() + j0, hashes.data(), hashes.size(), block);
        std::copy(block, block + std::min(kBlock, k - j0), out + j0);
    }
}

std::vector<uint32_t> MinHasher::signature(const std::vector<uint32_t>& hashes) const {
    std::vector<uint32_t> out(num_perm_);
    signature(hashes, out.data());
    return out;
}

double lsh_candidate_probability(double s, size_t bands, size_t rows) {
    return 1.0 - std::pow(1.0 - std::pow(s, static_cast<double>(rows)), static_cast<double>(bands));
}

double lsh_false_positive_area(double threshold, size_t bands, size_t rows) {
    return simpson(0.0, threshold, kSteps, [&](double s) { return lsh_candidate_probability(s, bands, rows); });
}

double lsh_false_negative_area(double threshold, size_t bands, size_t rows) {
    return simpson(threshold, 1.0, kSteps, [&](double s) { return 1.0 - lsh_candidate_probability(s, bands, rows); });
}

LshParams optimal_lsh_params(double threshold, size_t num_perm, double fp_weight, double fn_weight) {
    if (num_perm == 0) throw std::invalid_argument("num_perm must be at least 1");
    // Every (bands, rows) pair is scored with the same Simpson grids. For a fixed number of
    // rows, (1 - s^r)^b is updated by one multiplication per grid point as b grows, which
    // makes the whole search a few hundred thousand multiplications.
    const double h_fp = threshold / kSteps, h_fn = (1.0 - threshold) / kSteps;
    std::vector<double> s_fp(kSteps + 1), s_fn(kSteps + 1), w(kSteps + 1);
    for (int i = 0; i <= kSteps; ++i) {
        s_fp[i] = i * h_fp;
        s_fn[i] = threshold + i * h_fn;
        w[i] = (i == 0 || i == kSteps) ? 1.0 : (i % 2 ? 4.0 : 2.0);
    }
    std::vector<double> q_fp(kSteps + 1), q_fn(kSteps + 1), base_fp(kSteps + 1), base_fn(kSteps + 1);
    LshParams best;
    double best_error = INFINITY;
    for (size_t r = 1; r <= num_perm; ++r) {
        for (int i = 0; i <= kSteps; ++i) {
            base_fp[i] = 1.0 - std::pow(s_fp[i], static_cast<double>(r));
            base_fn[i] = 1.0 - std::pow(s_fn[i], static_cast<double>(r));
            q_fp[i] = 1.0;
            q_fn[i] = 1.0;
        }
        for (size_t b = 1; b * r <= num_perm; ++b) {
            double fp = 0.0, fn = 0.0;
            for (int i = 0; i <= kSteps; ++i) {
                q_fp[i] *= base_fp[i];  // (1 - s^r)^b
                q_fn[i] *= base_fn[i];
                fp += w[i] * (1.0 - q_fp[i]);
                fn += w[i] * q_fn[i];
            }
            const double error = fp_weight * fp * h_fp / 3.0 + fn_weight * fn * h_fn / 3.0;
            const bool earlier = b < best.bands || (b == best.bands && r < best.rows);
            if (error < best_error || (error == best_error && earlier)) {
                best_error = error;
                best = {b, r};
            }
        }
    }
    return best;
}

MinHashIndex::MinHashIndex(const MinHasher& hasher, LshParams params, double threshold)
    : hasher_(hasher), params_(params), threshold_(threshold) {
    if (params.bands == 0 || params.rows == 0 || params.bands * params.rows > hasher.num_perm())
        throw std::invalid_argument("LSH bands * rows must be between 1 and num_perm");
    offsets_.push_back(0);
    slots_.resize(1024);
    sig_.resize(hasher.num_perm());
    keys_.resize(params.bands);
}

std::pair<const uint32_t*, const uint32_t*> MinHashIndex::item(size_t i) const {
    return {shingles_.data() + offsets_[i], shingles_.data() + offsets_[i + 1]};
}

void MinHashIndex::compute_keys(const std::vector<uint32_t>& shingles) {
    hasher_.signature(shingles, sig_.data());
    // The band number seeds the key's hash, so equal values in different bands never
    // make a pair of texts candidates.
    for (size_t band = 0; band < params_.bands; ++band)
        keys_[band] = XXH3_64bits_withSeed(sig_.data() + band * params_.rows, params_.rows * sizeof(uint32_t), band);
}

MinHashIndex::Slot& MinHashIndex::probe(uint64_t key) {
    const size_t mask = slots_.size() - 1;
    for (size_t i = (key ^ (key >> 29)) & mask;; i = (i + 1) & mask) {
        Slot& s = slots_[i];
        if (s.head == 0 || s.key == key) return s;
    }
}

void MinHashIndex::grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old)
        if (s.head != 0) probe(s.key) = s;
}

MinHashIndex::Match MinHashIndex::find(const std::vector<uint32_t>& shingles) {
    if (++query_no_ == 0) {  // wrapped: forget every stamp
        std::fill(stamp_.begin(), stamp_.end(), 0);
        query_no_ = 1;
    }
    Match best;
    const uint32_t* q = shingles.data();
    const uint32_t* q_end = q + shingles.size();
    for (size_t band = 0; band < params_.bands; ++band) {
        const Slot& slot = probe(keys_[band]);
        for (uint32_t e = slot.head; e != 0; e = entries_[e - 1].next) {
            const uint32_t it = entries_[e - 1].item;
            if (stamp_[it] == query_no_) continue;
            stamp_[it] = query_no_;
            ++stats_.candidates;
            const auto [b, b_end] = item(it);
            const double j = jaccard_of(q, q_end, b, b_end);
            if (j < threshold_) continue;
            ++stats_.verified;
            if (best.item == npos || j > best.jaccard || (j == best.jaccard && it < best.item)) best = {it, j};
        }
    }
    return best;
}

size_t MinHashIndex::insert(const std::vector<uint32_t>& shingles) {
    const auto id = static_cast<uint32_t>(size());
    shingles_.insert(shingles_.end(), shingles.begin(), shingles.end());
    offsets_.push_back(shingles_.size());
    stamp_.push_back(0);
    for (size_t band = 0; band < params_.bands; ++band) {
        if ((used_slots_ + 1) * 2 > slots_.size()) grow();
        Slot& slot = probe(keys_[band]);
        used_slots_ += slot.head == 0 ? 1 : 0;
        entries_.push_back({id, slot.head});
        slot.key = keys_[band];
        slot.head = static_cast<uint32_t>(entries_.size());
    }
    return id;
}

MinHashIndex::Match MinHashIndex::query(const std::vector<uint32_t>& shingles) {
    compute_keys(shingles);
    return find(shingles);
}

size_t MinHashIndex::add(const std::vector<uint32_t>& shingles) {
    compute_keys(shingles);
    return insert(shingles);
}

MinHashIndex::Match MinHashIndex::query_or_add(const std::vector<uint32_t>& shingles) {
    compute_keys(shingles);
    Match m = find(shingles);
    if (m.item == npos) insert(shingles);
    return m;
}

}  // namespace synthforge::text
