#pragma once
// MinHash near-duplicate detection: shingle sets, MinHash signatures, LSH banding and an
// index whose candidates are verified by the exact Jaccard similarity of shingle sets.
// Pure in-memory structures: no JSON, no I/O.
//
// A text becomes a set of 32-bit shingle hashes (XXH3 of each shingle, truncated). Two
// texts' similarity is the Jaccard index of those sets; with at most a few thousand
// shingles per text, two different shingles share a hash with probability ~1e-6 per
// pair of texts, so this is the Jaccard of the shingle sets for every practical purpose.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace synthforge::text {

enum class ShingleKind {
    word,       // n consecutive words
    character,  // n consecutive characters (code points) of the whitespace-collapsed text
};

// Words for shingling: maximal runs of characters other than whitespace, ASCII control
// characters and punctuation (ASCII punctuation and the common typographic quotes, dashes
// and ellipsis), with ASCII letters lowercased, so "Hello," and "hello" are the same word. Character shingles use
// the text with ASCII letters lowercased and every whitespace run made one space.
//
// A text with fewer than n words (characters) has one shingle: all of them. A text with
// none has the empty set. Returns the sorted, distinct hashes.
std::vector<uint32_t> shingle_hashes(std::string_view text, ShingleKind kind, size_t n);

// |a ∩ b| / |a ∪ b| of two sorted, distinct hash sets; 1 when both are empty.
double jaccard(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b);

// MinHash signatures with `num_perm` hash functions h_j(x) = a_j * x + b_j mod 2^32
// (a_j odd, a_j and b_j drawn from `seed`). Each h_j is a bijection of the 32-bit values
// and the shingle hashes are uniformly random, so for every j the minimum over a union
// A ∪ B lies in A ∩ B with probability exactly J(A, B). The map is the 32-bit analogue
// of the usual (a*x + b) mod (2^61 - 1): vectorised, it takes about 2 us for 128
// functions over a 1 KB text's shingles, against about 90 us for the 61-bit form.
class MinHasher {
  public:
    MinHasher(size_t num_perm, uint64_t seed);
    size_t num_perm() const { return num_perm_; }
    // out[j] = min over the hashes of h_j; all 0xFFFFFFFF for an empty set.
    void signature(const std::vector<uint32_t>& hashes, uint32_t* out) const;
    std::vector<uint32_t> signature(const std::vector<uint32_t>& hashes) const;

  private:
    size_t num_perm_ = 0;
    std::vector<uint32_t> a_, b_;  // padded to whole blocks of the vectorised kernel
};

// LSH banding: a signature is cut into `bands` bands of `rows` values; two texts become
// candidates when some band is identical. For Jaccard s that happens with probability
// 1 - (1 - s^rows)^bands.
struct LshParams {
    size_t bands = 0;
    size_t rows = 0;
};
// Probability that a pair with Jaccard s becomes a candidate.
double lsh_candidate_probability(double s, size_t bands, size_t rows);
// The area under the candidate curve below the threshold (pairs wrongly made candidates)
// and above 1 minus it above the threshold (pairs missed), as in datasketch's
// _false_positive_probability / _false_negative_probability (Simpson's rule, 1000 steps).
double lsh_false_positive_area(double threshold, size_t bands, size_t rows);
double lsh_false_negative_area(double threshold, size_t bands, size_t rows);
// The (bands, rows) with bands * rows <= num_perm minimising
// fp_weight * false_positive_area + fn_weight * false_negative_area (datasketch's
// _optimal_param; ties keep the first found, bands ascending then rows ascending).
LshParams optimal_lsh_params(double threshold, size_t num_perm, double fp_weight, double fn_weight);

// Items (shingle sets) kept so far, queried for the most similar item with Jaccard >=
// threshold among the LSH candidates. Exact for candidates: an item is reported only when
// its true Jaccard reaches the threshold. Items a query misses are those LSH misses.
class MinHashIndex {
  public:
    static constexpr size_t npos = static_cast<size_t>(-1);

    MinHashIndex(const MinHasher& hasher, LshParams params, double threshold);
    MinHashIndex(const MinHashIndex&) = delete;
    MinHashIndex& operator=(const MinHashIndex&) = delete;

    struct Match {
        size_t item = npos;  // npos: no candidate reaches the threshold
        double jaccard = 0.0;
    };
    // The candidate with the highest Jaccard >= threshold; ties go to the earliest item.
    Match query(const std::vector<uint32_t>& shingles);
    // Adds an item (sorted, distinct hashes); returns its index (0, 1, 2, ...).
    size_t add(const std::vector<uint32_t>& shingles);
    // query(); when nothing matches, add(). Signature computed once.
    Match query_or_add(const std::vector<uint32_t>& shingles);

    size_t size() const { return offsets_.size() - 1; }
    // The shingle set of item i, as a range of sorted hashes.
    std::pair<const uint32_t*, const uint32_t*> item(size_t i) const;

    struct Stats {
        uint64_t candidates = 0;  // distinct candidates verified, over all queries
        uint64_t verified = 0;    // of which reached the threshold
    };
    const Stats& stats() const { return stats_; }

  private:
    void compute_keys(const std::vector<uint32_t>& shingles);
    Match find(const std::vector<uint32_t>& shingles);
    size_t insert(const std::vector<uint32_t>& shingles);

    struct Slot {
        uint64_t key = 0;
        uint32_t head = 0;  // 1 + index of the newest entry with this key; 0: empty slot
    };
    struct Entry {
        uint32_t item;
        uint32_t next;  // 1 + index of the previous entry with the same key; 0: none
    };
    Slot& probe(uint64_t key);
    void grow();

    const MinHasher& hasher_;
    LshParams params_;
    double threshold_;
    std::vector<uint32_t> shingles_;  // every item's hashes, one after the other
    std::vector<uint64_t> offsets_;   // item i is shingles_[offsets_[i], offsets_[i + 1])
    std::vector<Slot> slots_;         // open addressing, size a power of two, at most half full
    size_t used_slots_ = 0;
    std::vector<Entry> entries_;
    std::vector<uint32_t> stamp_;  // item -> last query that visited it, to verify once per query
    uint32_t query_no_ = 0;
    std::vector<uint32_t> sig_;   // scratch: the current signature
    std::vector<uint64_t> keys_;  // scratch: its band keys
    Stats stats_;
};

}  // namespace synthforge::text
