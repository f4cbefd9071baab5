#pragma once
// Latency percentiles in bounded memory. A run of millions of requests must not keep a
// double per request (the progress line copies the stats every second), so after the first
// kExact samples the values fold into logarithmic buckets 1% wide: a percentile is then
// within 0.5% of the exact one, in a fixed ~20 KB. Small runs keep exact values, so their
// p50/p90/p99 are what a sort of every latency gives.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace synthforge::llm {

class LatencyHistogram {
  public:
    static constexpr size_t kExact = 1024;  // samples kept exactly before folding into buckets

    void add(double ms);
    // The q-quantile (0..1) by the nearest-rank rule on the sorted samples; 0 when empty.
    double percentile(double q) const;
    uint64_t count() const { return count_; }
    // Bytes held; stops growing once the buckets exist (for tests and load checks).
    size_t memory_bytes() const;

  private:
    void fold();

    uint64_t count_ = 0;
    std::vector<double> exact_;     // while count_ <= kExact
    std::vector<uint64_t> bucket_;  // after: bucket i holds [kMinMs * kGrowth^i, kMinMs * kGrowth^(i+1))
};

}  // namespace synthforge::llm
