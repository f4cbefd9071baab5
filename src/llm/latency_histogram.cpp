#include "synthforge/llm/latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace synthforge::llm {
namespace {

// 1 µs to about 3 hours in 1% steps: 2,113 buckets. Values outside clamp to the ends.
constexpr double kMinMs = 1e-3;
constexpr double kGrowth = 1.01;
const double kLogGrowth = std::log(kGrowth);
constexpr size_t kBuckets = 2113;

size_t bucket_of(double ms) {
    if (!(ms > kMinMs)) return 0;  // also NaN
    const double i = std::floor(std::log(ms / kMinMs) / kLogGrowth);
    return std::min(static_cast<size_t>(i), kBuckets - 1);
}

// The geometric middle of a bucket: at most half a step (0.5%) from any value in it.
double bucket_value(size_t i) {
    return kMinMs * std::pow(kGrowth, static_cast<double>(i) + 0.5);
}

size_t nearest_rank(double q, uint64_t n) {
    q = std::clamp(q, 0.0, 1.0);
    return static_cast<size_t>(q * static_cast<double>(n - 1) + 0.5);
}

}  // namespace

void LatencyHistogram::add(double ms) {
    ++count_;
    if (bucket_.empty()) {
        exact_.push_back(ms);
        if (exact_.size() > kExact) fold();
        return;
    }
    ++bucket_[bucket_of(ms)];
}

void LatencyHistogram::fold() {
    bucket_.assign(kBuckets, 0);
    for (double v : exact_) ++bucket_[bucket_of(v)];
    exact_.clear();
    exact_.shrink_to_fit();
}

double LatencyHistogram::percentile(double q) const {
    if (count_ == 0) return 0;
    const size_t rank = nearest_rank(q, count_);
    if (bucket_.empty()) {
        std::vector<double> sorted = exact_;
        std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(rank), sorted.end());
        return sorted[rank];
    }
    uint64_t seen = 0;
    for (size_t i = 0; i < bucket_.size(); ++i) {
        seen += bucket_[i];
        if (seen > rank) return bucket_value(i);
    }
    return bucket_value(bucket_.size() - 1);
}

size_t LatencyHistogram::memory_bytes() const {
    return exact_.capacity() * sizeof(double) + bucket_.capacity() * sizeof(uint64_t);
}

}  // namespace synthforge::llm
