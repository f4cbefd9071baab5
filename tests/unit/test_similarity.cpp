// Unit tests of similarity_to_reference(): Jensen-Shannon divergence of n-grams, the KS test
// on lengths (statistic and p-value against scipy), and the TF-IDF centroid cosine; plus the
// Kolmogorov distribution itself in each of the regimes scipy computes it by.

#include "synthforge/text/similarity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

namespace synthforge::text {
namespace {

std::vector<std::string_view> views(const std::vector<std::string>& v) {
    return {v.begin(), v.end()};
}

// A text of exactly n words.
std::string words(int n, const std::string& w = "w") {
    std::string s;
    for (int i = 0; i < n; ++i) s += (i ? " " : "") + w + std::to_string(i % 7);
    return s;
}

TEST(Similarity, IdenticalSetsAreTheSame) {
    const std::vector<std::string> a = {"How do I bake bread?", "Explain orbits of planets.", "Who won the league?",
                                        "Bake the bread at 220 degrees."};
    const SimilarityMetrics m = similarity_to_reference(views(a), views(a));
    EXPECT_EQ(m.synthetic_texts, 4u);
    EXPECT_EQ(m.reference_texts, 4u);
    EXPECT_NEAR(m.jsd_unigram, 0.0, 1e-15);
    EXPECT_NEAR(m.jsd_bigram, 0.0, 1e-15);
    EXPECT_EQ(m.ks_length, 0.0);
    EXPECT_EQ(m.ks_length_p_value, 1.0);
    EXPECT_NEAR(m.tfidf_centroid_cosine, 1.0, 1e-12);
    // The same texts in another order and case: still identical distributions.
    const std::vector<std::string> b = {"bake THE bread at 220 degrees", "who won the league", "how do i bake bread",
                                        "explain orbits of planets"};
    const SimilarityMetrics n = similarity_to_reference(views(a), views(b));
    EXPECT_NEAR(n.jsd_unigram, 0.0, 1e-15);
    EXPECT_NEAR(n.tfidf_centroid_cosine, 1.0, 1e-12);
}

TEST(Similarity, DisjointVocabulariesAreAsFarAsCanBe) {
    const std::vector<std::string> a = {"alpha beta gamma", "beta gamma delta"};
    const std::vector<std::string> b = {"one two three", "four five six seven"};
    const SimilarityMetrics m = similarity_to_reference(views(a), views(b));
    EXPECT_NEAR(m.jsd_unigram, 1.0, 1e-12);
    EXPECT_NEAR(m.jsd_bigram, 1.0, 1e-12);
    EXPECT_EQ(m.tfidf_centroid_cosine, 0.0);
    EXPECT_NEAR(m.ks_length, 0.5, 1e-15);  // lengths {3, 3} vs {3, 4}
}

TEST(Similarity, JensenShannonOfAHandComputedPair) {
    // Unigrams: P = {a: 1/2, b: 1/2}, Q = {a: 1}; M = {a: 3/4, b: 1/4};
    // JSD = (KL(P||M) + KL(Q||M)) / 2 = 0.31127812445913283 bits.
    //   from scipy.spatial.distance import jensenshannon
    //   jensenshannon([.5, .5], [1, 0], base=2) ** 2  ->  0.3112781244591328
    // Bigrams: P = {(a, b): 1}, Q has none: nothing in common, 1.
    const SimilarityMetrics m = similarity_to_reference(views({"a b"}), views({"a"}));
    EXPECT_NEAR(m.jsd_unigram, 0.3112781244591328, 1e-15);
    EXPECT_EQ(m.jsd_bigram, 1.0);
    // Bigrams stay inside a text: "a b" + "c" has no (b, c).
    const SimilarityMetrics n = similarity_to_reference(views({"a b", "c"}), views({"a b c"}));
    EXPECT_GT(n.jsd_bigram, 0.0);
    EXPECT_NEAR(n.jsd_unigram, 0.0, 1e-15);
}

TEST(Similarity, KsOnWordCountsMatchesScipy) {
    // Word counts 3,5,5,7,8,10,12,12,15,20 against 4,4,6,9,9,11,13,18,25,30,31,40:
    //   from scipy.stats import ks_2samp   # scipy 1.10.1
    //   r = ks_2samp([3,5,5,7,8,10,12,12,15,20], [4,4,6,9,9,11,13,18,25,30,31,40], method='asymp')
    //   r.statistic, r.pvalue  ->  0.33333333333333337, 0.5328526748971191
    std::vector<std::string> a, b;
    for (int n : {3, 5, 5, 7, 8, 10, 12, 12, 15, 20}) a.push_back(words(n));
    for (int n : {4, 4, 6, 9, 9, 11, 13, 18, 25, 30, 31, 40}) b.push_back(words(n, "v"));
    const SimilarityMetrics m = similarity_to_reference(views(a), views(b));
    EXPECT_DOUBLE_EQ(m.ks_length, 0.33333333333333337);
    EXPECT_NEAR(m.ks_length_p_value, 0.5328526748971191, 1e-12);
    // Symmetric.
    const SimilarityMetrics r = similarity_to_reference(views(b), views(a));
    EXPECT_DOUBLE_EQ(r.ks_length, m.ks_length);
    EXPECT_DOUBLE_EQ(r.ks_length_p_value, m.ks_length_p_value);
}

TEST(Similarity, KsOnLargerSamplesMatchesScipy) {
    //   a = [(i*7) % 23 + i//50 for i in range(500)]
    //   b = [(i*5) % 19 + 3 + i//60 for i in range(700)]
    //   ks_2samp(a, b, method='asymp')  ->  0.12171428571428572, 0.0003152944356033095
    std::vector<double> a, b;
    for (int i = 0; i < 500; ++i) a.push_back((i * 7) % 23 + i / 50);
    for (int i = 0; i < 700; ++i) b.push_back((i * 5) % 19 + 3 + i / 60);
    const KsResult r = ks_two_sample(a, b);
    EXPECT_DOUBLE_EQ(r.statistic, 0.12171428571428572);
    EXPECT_NEAR(r.p_value, 0.0003152944356033095, 1e-11 * 0.0003152944356033095);
    EXPECT_EQ(r.effective_n, 292.0);  // round(500 * 700 / 1200) = round(291.67)
    // Empty samples: nothing to compare.
    EXPECT_EQ(ks_two_sample({}, b).statistic, 0.0);
    EXPECT_EQ(ks_two_sample(a, {}).p_value, 1.0);
}

TEST(Similarity, KolmogorovDistributionMatchesScipyInEveryRegime) {
    // scipy.stats.kstwo.sf(d, n), scipy 1.10.1; each line names the method scipy's
    // _kolmogn picks (Simard & L'Ecuyer 2011).
    struct Case {
        size_t n;
        double d, sf;
    };
    const Case cases[] = {
        {10, 0.08, 0.9999978058034054},        // n d <= 1: Ruben-Gambino closed form
        {5, 0.9, 1.9999999999999978e-05},      // n d >= n - 1: 2 (1 - d)^n
        {10, 0.6, 0.0005681672000000003},      // d >= 0.5: twice the one-sided Smirnov
        {100, 0.05, 0.9532159710635725},       // n <= 140, n d^2 small: Durbin matrix
        {10, 0.3, 0.27053557479999946},        // n <= 140: Pomeranz recursion
        {100, 0.1, 0.2526927570063874},        // n <= 140: Pomeranz recursion
        {100, 0.25, 5.408871776434847e-06},    // n <= 140, n d^2 > 4: 2 x Smirnov
        {1000, 0.0125, 0.9971528020597908},    // large n, n d^1.5 <= 1.4: Durbin matrix
        {1000, 0.03, 0.3226902143914636},      // large n: Pelz-Good expansion
        {200000, 0.002, 0.39995085369038097},  // n > 100000: Pelz-Good expansion
        {1000, 0.05, 0.013012074781090332},    // n d^2 >= 2.2: 2 x Smirnov
        {200000, 0.004, 0.003314212822560255},
    };
    for (const auto& c : cases) EXPECT_NEAR(kolmogorov_sf(c.n, c.d), c.sf, 1e-11 * c.sf) << c.n << " " << c.d;
    EXPECT_EQ(kolmogorov_sf(10, 0.0), 1.0);
    EXPECT_EQ(kolmogorov_sf(10, 1.0), 0.0);
    EXPECT_EQ(kolmogorov_sf(10, 0.05), 1.0);  // n d <= 1/2
}

TEST(Similarity, TfidfCentroidCosineSeesSharedVocabulary) {
    const std::vector<std::string> cooking = {"bake the bread", "boil the pasta", "bake a cake"};
    const std::vector<std::string> mixed = {"bake the bread", "orbit of the moon", "the league match"};
    const std::vector<std::string> space = {"orbit of the moon", "a comet near the sun", "the moon and stars"};
    const double close = similarity_to_reference(views(cooking), views(mixed)).tfidf_centroid_cosine;
    const double far = similarity_to_reference(views(cooking), views(space)).tfidf_centroid_cosine;
    EXPECT_GT(close, far);
    EXPECT_GT(far, 0.0);  // "the" is shared
    EXPECT_LT(close, 1.0);
}

TEST(Similarity, EmptySides) {
    const std::vector<std::string> a = {"some words here"};
    const SimilarityMetrics m = similarity_to_reference(views(a), {});
    EXPECT_EQ(m.reference_texts, 0u);
    EXPECT_EQ(m.jsd_unigram, 1.0);
    EXPECT_EQ(m.ks_length, 0.0);
    EXPECT_EQ(m.ks_length_p_value, 1.0);
    EXPECT_EQ(m.tfidf_centroid_cosine, 0.0);
    const SimilarityMetrics none = similarity_to_reference({}, {});
    EXPECT_EQ(none.jsd_unigram, 0.0);
    EXPECT_EQ(none.tfidf_centroid_cosine, 0.0);
}

}  // namespace
}  // namespace synthforge::text
