// The private step of Private Evolution: the vote histogram must have L2 sensitivity exactly 1
// (the accountant assumes it), the noise must be Gaussian with the asked sigma, and the
// selection must follow the noisy counts, the threshold and the tie rule it documents.
#include "synthforge/errors.h"
#include "synthforge/privacy/private_evolution.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace synthforge;
using namespace synthforge::privacy;

namespace {

std::vector<Vector> random_vectors(size_t n, size_t dim, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<Vector> out(n, Vector(dim));
    for (auto& v : out)
        for (auto& x : v) x = normal(rng);
    return out;
}

double l2_distance(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
    return std::sqrt(s);
}

TEST(PrivateEvolutionVotes, EachPrivateSampleVotesForItsNearestSynthetic) {
    const std::vector<Vector> synthetic = {{0, 0}, {10, 0}, {0, 10}};
    const std::vector<Vector> priv = {{1, 1}, {9, 1}, {11, -1}, {0.5f, 9}};
    EXPECT_EQ(nearest_neighbor_votes(priv, synthetic, 1), (std::vector<double>{1, 2, 1}));
}

TEST(PrivateEvolutionVotes, KVotesWeighOneOverSqrtK) {
    const std::vector<Vector> synthetic = {{0}, {1}, {2}, {10}};
    const std::vector<Vector> priv = {{0.9f}};  // nearest: 1, then 0 (0.9), then 2 (1.1)
    const double w = 1 / std::sqrt(3.0);
    auto votes = nearest_neighbor_votes(priv, synthetic, 3);
    EXPECT_DOUBLE_EQ(votes[0], w);
    EXPECT_DOUBLE_EQ(votes[1], w);
    EXPECT_DOUBLE_EQ(votes[2], w);
    EXPECT_DOUBLE_EQ(votes[3], 0);
}

TEST(PrivateEvolutionVotes, TiesGoToTheLowerIndex) {
    const std::vector<Vector> synthetic = {{1}, {-1}, {1}};
    EXPECT_EQ(nearest_neighbor_votes({{0}}, synthetic, 1), (std::vector<double>{1, 0, 0}));
    EXPECT_EQ(nearest_neighbor_votes({{0}}, synthetic, 2)[2], 0);
}

TEST(PrivateEvolutionVotes, RemovingOnePrivateSampleMovesTheHistogramByExactlyOne) {
    // The accountant's premise: L2 sensitivity 1 under add/remove of one record, for every k.
    const auto synthetic = random_vectors(40, 8, 1);
    const auto priv = random_vectors(30, 8, 2);
    for (size_t k : {1, 2, 5, 40, 100}) {
        const auto full = nearest_neighbor_votes(priv, synthetic, k);
        for (size_t drop : {0, 13, 29}) {
            auto fewer = priv;
            fewer.erase(fewer.begin() + static_cast<std::ptrdiff_t>(drop));
            EXPECT_NEAR(l2_distance(full, nearest_neighbor_votes(fewer, synthetic, k)), 1.0, 1e-12)
                << "k=" << k << " drop=" << drop;
        }
    }
}

TEST(PrivateEvolutionVotes, MismatchedDimensionsAndNoSyntheticSamplesAreUserErrors) {
    EXPECT_THROW(nearest_neighbor_votes({{1, 2}}, {{1, 2, 3}}, 1), UserError);
    EXPECT_THROW(nearest_neighbor_votes({{1}}, {}, 1), UserError);
}

TEST(GaussianNoise, SeededNoiseRepeatsAndHasTheAskedMoments) {
    auto a = GaussianNoise::seeded(7), b = GaussianNoise::seeded(7), c = GaussianNoise::seeded(8);
    const double sigma = 3.0;
    const int n = 200000;
    double sum = 0, sum2 = 0;
    bool differs_from_other_seed = false;
    for (int i = 0; i < n; ++i) {
        const double x = a.sample(sigma);
        ASSERT_EQ(x, b.sample(sigma));
        differs_from_other_seed |= x != c.sample(sigma);
        sum += x;
        sum2 += x * x;
    }
    EXPECT_TRUE(differs_from_other_seed);
    const double mean = sum / n, sd = std::sqrt(sum2 / n - mean * mean);
    // Standard errors: sigma/sqrt(n) = 0.0067 for the mean, ~0.0047 for the deviation.
    EXPECT_NEAR(mean, 0.0, 0.04);
    EXPECT_NEAR(sd, sigma, 0.03);
}

TEST(GaussianNoise, SecureNoiseIsNotRepeatable) {
    auto a = GaussianNoise::secure(), b = GaussianNoise::secure();
    EXPECT_FALSE(a.is_seeded());
    int equal = 0;
    for (int i = 0; i < 64; ++i) equal += a.sample(1.0) == b.sample(1.0);
    EXPECT_EQ(equal, 0);
}

TEST(GaussianNoise, TailsAreGaussian) {
    // P(|X| > 3 sigma) = 0.0027 for a normal; a uniform or clipped generator would miss it.
    auto noise = GaussianNoise::seeded(11);
    const int n = 400000;
    int beyond = 0;
    for (int i = 0; i < n; ++i) beyond += std::abs(noise.sample(1.0)) > 3.0;
    EXPECT_NEAR(static_cast<double>(beyond) / n, 0.0027, 0.0004);
}

TEST(SelectTop, KeepsTheLargestCountsAboveTheThresholdInOrder) {
    const std::vector<double> noisy = {0.5, 3.0, -1.0, 2.0, 3.0, 1.2};
    EXPECT_EQ(select_top(noisy, 1.0, 3), (std::vector<size_t>{1, 4, 3}));  // tie 1/4: lower index first
    EXPECT_EQ(select_top(noisy, 1.0, 10), (std::vector<size_t>{1, 4, 3, 5}));
    EXPECT_EQ(select_top(noisy, 2.5, 10), (std::vector<size_t>{1, 4}));
}

TEST(SelectTop, WhenNothingPassesTheThresholdTheLargestAreKeptAnyway) {
    EXPECT_EQ(select_top({0.1, 0.4, -2.0}, 5.0, 2), (std::vector<size_t>{1, 0}));
}

}  // namespace
