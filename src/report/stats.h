#pragma once
// Summary statistics and histogram bins shared by the report's charts and its JSON, so
// every number drawn is a number written.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace synthforge::report {

struct Summary {
    size_t count = 0;
    double mean = 0, stddev = 0;  // population standard deviation
    double min = 0, p25 = 0, median = 0, p75 = 0, p99 = 0, max = 0;
};

// Linear interpolation between closest ranks (numpy's default) on sorted values; 0 when empty.
double percentile(const std::vector<double>& sorted, double q);
Summary summarize(const std::vector<double>& sorted);

struct Bin {
    double from = 0, to = 0;  // [from, to); the last bin also holds values equal to `to`
    uint64_t count = 0;
};

// How values are cut into bins: `bins` bins of width `step` from `start`, plus, with `clip`,
// one last bin (the overflow) for every value above `clip`. A long tail (one 10,000-word text
// among 50-word ones) would otherwise squash every other bar into the first one.
struct Binning {
    double start = 0, step = 1;
    size_t bins = 1;
    bool discrete = false;       // one bin per integer value (or one value in all): labelled by value
    std::optional<double> clip;  // values above go to the overflow bin
    double max = 0;              // the largest value, the overflow bin's upper end

    size_t size() const { return bins + (clip ? 1 : 0); }
    size_t bin_of(double v) const;
    // The bins with their edges and count 0.
    std::vector<Bin> empty_bins() const;
};

// Bins for sorted, non-empty values. Integer values spanning at most `max_bins` integers get a
// bin each; otherwise the width is a "nice" number (1, 2, 2.5 or 5 times a power of ten; no 2.5
// for integers) giving at most about `max_bins` bins. With at least 100 values whose top 1%
// stretches the range over twice the rest, the bins end at the 99th percentile and the
// overflow bin takes the tail.
Binning choose_binning(const std::vector<double>& sorted, size_t max_bins);

std::vector<Bin> histogram(const Binning& binning, const std::vector<double>& values);

// The smallest of 1, 2, 2.5, 5 times a power of ten that is >= x (x > 0); without 2.5 when
// `integer_steps`.
double nice_ceil(double x, bool integer_steps = false);

}  // namespace synthforge::report
