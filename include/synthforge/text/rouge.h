#pragma once
// ROUGE-L F1 exactly as Google's rouge_score computes it (RougeScorer(["rougeL"], use_stemmer=False)),
// and a novelty pool answering Self-Instruct's "is any kept instruction too similar?" question.
// Pure functions and in-memory structures: no JSON, no I/O.
//
// Scores are bit-identical to the Python package: tokens are produced by the same rules and the
// F1 is evaluated with the same floating-point expression, so threshold decisions never differ.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace synthforge::text {

// rouge_score's default tokenizer: Python str.lower(), every run of characters outside [a-z0-9]
// becomes a separator, empty tokens dropped. Non-ASCII letters are separators, except the two
// code points whose Python lower case contains ASCII: U+0130 (lowers to "i" + U+0307, so it ends
// a token after an "i") and U+212A KELVIN SIGN (lowers to "k"). Bytes of invalid UTF-8 are
// separators.
std::vector<std::string> rouge_tokenize(std::string_view text);

// Interns tokens as dense ids (0, 1, 2, ...) so comparisons and match tables work on integers.
class TokenVocab {
  public:
    uint32_t intern(std::string_view token);
    // Tokenises and interns in one pass.
    std::vector<uint32_t> encode(std::string_view text);
    size_t size() const { return tokens_.size(); }
    const std::string& token(uint32_t id) const { return tokens_[id]; }

  private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> ids_;
    std::vector<std::string> tokens_;
};

// Length of the longest common subsequence, bit-parallel (Allison-Dix / Hyyro): the shorter
// sequence is the bit pattern, O(len(longer) * ceil(len(shorter) / 64)) word operations.
size_t lcs_length(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b);

// rouge_score's F1 from an LCS length and the two lengths: 0 if either is empty, else
// p = lcs / n_prediction, r = lcs / n_target, 2 * p * r / (p + r) (0 when p + r == 0).
// Symmetric bit for bit, so which side is the prediction does not matter.
double rouge_l_f1_from_lcs(size_t lcs, size_t n_target, size_t n_prediction);
double rouge_l_f1(const std::vector<uint32_t>& target, const std::vector<uint32_t>& prediction);
// Convenience: tokenises both strings with a throwaway vocabulary.
double rouge_l_f1(std::string_view target, std::string_view prediction);

// A pool of token sequences (e.g. kept instructions) queried by "does any item have F1 above a
// threshold with this candidate?". Exact: pruning only skips items whose F1 provably cannot
// exceed the threshold, so the answer equals the brute-force loop over every item.
class RougeLIndex {
  public:
    static constexpr size_t npos = static_cast<size_t>(-1);

    // Adds an item; returns its index (0, 1, 2, ... in insertion order).
    size_t add(std::vector<uint32_t> tokens);
    size_t size() const { return items_.size(); }
    const std::vector<uint32_t>& item(size_t i) const { return items_[i]; }

    // True when some item's F1 with `candidate` is > threshold; *which gets the first such item
    // found (not necessarily the lowest index), npos when none.
    bool any_above(const std::vector<uint32_t>& candidate, double threshold, size_t* which = nullptr);

    struct Best {
        double f1 = 0.0;
        size_t item = npos;  // npos when the pool is empty or no item shares a token (F1 0)
    };
    // The highest F1 over the pool; ties go to the lowest index.
    Best max_f1(const std::vector<uint32_t>& candidate);

    // Work counters of the last query, for benchmarks and tests of the pruning.
    struct Stats {
        size_t postings_scanned = 0;  // inverted-index entries visited
        size_t lcs_computed = 0;      // items whose LCS was actually computed
    };
    const Stats& last_stats() const { return stats_; }

  private:
    struct Posting {
        uint32_t item;
        uint16_t count;   // occurrences of the token in the item (saturated; only a bound uses it)
        uint16_t length;  // item length (saturated), so the length bound needs no extra lookup
    };
    struct Query;
    void prepare(const std::vector<uint32_t>& candidate, Query& q);
    size_t lcs_with_candidate(const std::vector<uint32_t>& item, const Query& q) const;
    void finish_query();

    std::vector<std::vector<uint32_t>> items_;
    std::vector<std::vector<Posting>> postings_;  // by token id
    // Per-query scratch, indexed by token id or item index; reset after every query.
    std::vector<int32_t> slot_;      // token id -> distinct candidate token slot, -1 if absent
    std::vector<uint32_t> overlap_;  // item -> multiset overlap accumulated so far
    std::vector<uint32_t> touched_;  // items with overlap_ > 0
    std::vector<uint64_t> masks_;    // slot * words -> match bits of the candidate
    Stats stats_;
};

}  // namespace synthforge::text
