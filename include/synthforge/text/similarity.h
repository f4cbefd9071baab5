#pragma once
// How close a synthetic set is to a real one: Jensen-Shannon divergence of their n-gram
// distributions, the two-sample Kolmogorov-Smirnov statistic of their lengths in words, and
// the cosine of their TF-IDF centroids. Pure in-memory computation: no JSON, no I/O.

#include <cstddef>
#include <string_view>
#include <vector>

namespace synthforge::text {

struct SimilarityMetrics {
    size_t synthetic_texts = 0;
    size_t reference_texts = 0;
    // Jensen-Shannon divergence (base 2, so in [0, 1]; 0 = same distribution) of the
    // unigram and bigram frequency distributions (rouge_tokenize() tokens).
    double jsd_unigram = 0;
    double jsd_bigram = 0;
    // Two-sample KS statistic D of the word counts (0 = same length distribution) and its
    // asymptotic p-value.
    double ks_length = 0;
    double ks_length_p_value = 1;
    // Cosine of the mean TF-IDF vectors (IDF fitted on both sets together); 1 = same
    // average vocabulary profile.
    double tfidf_centroid_cosine = 0;
};

SimilarityMetrics similarity_to_reference(const std::vector<std::string_view>& synthetic,
                                          const std::vector<std::string_view>& reference);

// The two-sample Kolmogorov-Smirnov test as scipy.stats.ks_2samp(a, b, method="asymp")
// computes it: D = max |F_a - F_b| over all values, and the p-value kstwo.sf(D, n) of the
// one-sample Kolmogorov distribution at the effective size n = round(n_a n_b / (n_a + n_b))
// (scipy >= 1.5; not the Stephens-corrected limiting form older versions used).
// Empty samples: D = 0, p = 1.
struct KsResult {
    double statistic = 0;
    double p_value = 1;
    double effective_n = 0;
};
KsResult ks_two_sample(std::vector<double> a, std::vector<double> b);

// P(D_n >= d) for the two-sided one-sample Kolmogorov-Smirnov statistic D_n (scipy's
// kstwo.sf(d, n)), by Simard and L'Ecuyer's choice of exact and asymptotic methods.
double kolmogorov_sf(size_t n, double d);

}  // namespace synthforge::text
