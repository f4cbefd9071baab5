#pragma once
// Diversity of a set of texts: how many distinct n-grams they use, how evenly, how much
// the texts resemble one another (self-BLEU, pairwise ROUGE-L) and how many begin the same
// way (the verb-noun view of Self-Instruct). Pure in-memory computation: no JSON, no I/O.
//
// Words are rouge_tokenize()'s tokens (lowercase ASCII letters and digits), so the numbers
// do not move with punctuation or case. Texts without a token count in `texts` and
// `empty_texts` only: they have no n-grams, no opening and are never sampled, so a few empty
// outputs neither hide nor fake repetition (they are a quality problem, reported apart).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace synthforge::text {

struct DiversityOptions {
    // Self-BLEU and mean pairwise ROUGE-L are quadratic: they run on a seeded random
    // sample of at most this many texts (all texts when there are fewer), the same on every
    // machine (see diversity_sample_positions()).
    size_t sample_size = 500;
    uint64_t seed = 0;
    // How many leading words make a text's "first words" key (0: no first-words analysis).
    size_t first_words = 2;
    // How many of the most common first-words keys to report.
    size_t top_first_words = 20;
    // Homogeneity flags are raised below/above these.
    double min_distinct_2 = 0.3;       // distinct-2 below this: "too repetitive"
    double max_self_bleu = 0.5;        // self-BLEU above this: "texts resemble each other"
    double max_mean_rougel = 0.5;      // mean pairwise ROUGE-L above this
    double max_top_first_share = 0.2;  // the single most common opening above this share
                                       // (only when at least two texts share it)
};

struct FirstWordsCount {
    std::string words;  // the first `first_words` tokens joined by one space
    size_t count = 0;
    double share = 0;  // count / texts with at least one token
};

struct DiversityFlag {
    std::string metric;   // e.g. "distinct_2"
    std::string message;  // one sentence a user can act on
};

struct DiversityMetrics {
    size_t texts = 0;
    size_t empty_texts = 0;  // texts without a single token (excluded from everything below)
    size_t tokens = 0;       // total tokens over all texts
    size_t vocabulary = 0;   // distinct unigrams
    // distinct-n: distinct n-grams / total n-grams over the whole set (0 when none).
    double distinct_1 = 0, distinct_2 = 0, distinct_3 = 0;
    // Shannon entropy in bits of the n-gram frequency distribution over the whole set.
    double entropy_1 = 0, entropy_2 = 0, entropy_3 = 0;
    // Mean over the sample of BLEU-4 of each text (hypothesis) against all other sampled
    // texts (references), as nltk's sentence_bleu(refs, hyp, smoothing_function=
    // SmoothingFunction().method1) computes it: uniform weights, clipped counts, brevity
    // penalty with the closest reference length, a zero match count of an order replaced by
    // 0.1 (so a short text without 4-gram matches is not scored 0), and 0 when not even a
    // word matches. The same floating-point operations as nltk 3.8 (down to math.fsum), so
    // on one libm the value is nltk's to the bit (bench/reference/self_bleu_reference.py).
    double self_bleu = 0;
    size_t self_bleu_sample = 0;  // texts in the sample; 0 (and self_bleu 0) when fewer than 2
    // Mean ROUGE-L F1 (rouge_l_f1(), equal to rouge_score's) over all pairs of the sample.
    double mean_pairwise_rougel = 0;
    size_t rougel_pairs = 0;
    // Most common first words, descending by count, then by words.
    std::vector<FirstWordsCount> first_words;
    size_t distinct_first_words = 0;
    std::vector<DiversityFlag> flags;
};

DiversityMetrics diversity_metrics(const std::vector<std::string_view>& texts, const DiversityOptions& options = {});

// The seeded sample behind self-BLEU and ROUGE-L: min(k, n) distinct positions in [0, n),
// ascending, uniformly chosen (Floyd's algorithm over a splitmix64 stream and our own
// range reduction, so no standard-library distribution is involved and a seed gives the
// same positions everywhere). k >= n gives 0..n-1. diversity_metrics() draws its positions
// among the texts that have at least one token, in input order.
std::vector<size_t> diversity_sample_positions(size_t n, size_t k, uint64_t seed);

}  // namespace synthforge::text
