// Latency percentiles for run metadata and progress: exact for small runs, within 0.5% and
// in constant memory for long ones (a million requests must not keep a million doubles).
#include "synthforge/llm/latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

using synthforge::llm::LatencyHistogram;

namespace {

double exact_percentile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

TEST(LatencyHistogram, EmptyIsZero) {
    LatencyHistogram h;
    EXPECT_EQ(h.percentile(0.5), 0);
    EXPECT_EQ(h.count(), 0u);
}

TEST(LatencyHistogram, SmallRunsGiveTheExactNearestRankPercentiles) {
    std::mt19937_64 rng(7);
    std::lognormal_distribution<double> ms(3.0, 1.0);
    LatencyHistogram h;
    std::vector<double> all;
    for (size_t i = 0; i < LatencyHistogram::kExact; ++i) {
        all.push_back(ms(rng));
        h.add(all.back());
    }
    for (double q : {0.0, 0.5, 0.9, 0.99, 1.0}) EXPECT_EQ(h.percentile(q), exact_percentile(all, q)) << q;
}

TEST(LatencyHistogram, LongRunsStayWithinHalfAPercentInConstantMemory) {
    std::mt19937_64 rng(11);
    // Two modes (cache-warm answers and long generations) across five decades.
    std::lognormal_distribution<double> fast(0.0, 0.5), slow(7.0, 1.0);
    std::bernoulli_distribution pick_slow(0.3);
    LatencyHistogram h;
    std::vector<double> all;
    size_t bytes_after_fold = 0;
    for (size_t i = 0; i < 1'000'000; ++i) {
        const double v = pick_slow(rng) ? slow(rng) : fast(rng);
        all.push_back(v);
        h.add(v);
        if (i == 10 * LatencyHistogram::kExact) bytes_after_fold = h.memory_bytes();
    }
    EXPECT_EQ(h.count(), all.size());
    EXPECT_EQ(h.memory_bytes(), bytes_after_fold) << "memory grew with the number of samples";
    EXPECT_LT(h.memory_bytes(), 32u << 10);
    for (double q : {0.01, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999}) {
        const double want = exact_percentile(all, q);
        EXPECT_NEAR(h.percentile(q), want, want * 0.0051) << "q=" << q;
    }
}

TEST(LatencyHistogram, OutOfRangeValuesClampInsteadOfFailing) {
    LatencyHistogram h;
    for (size_t i = 0; i <= LatencyHistogram::kExact; ++i) h.add(i % 2 ? 0.0 : 1e12);
    EXPECT_LT(h.percentile(0.0), 0.01);
    EXPECT_GT(h.percentile(1.0), 1e6);
}

}  // namespace
