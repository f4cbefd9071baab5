// Summary statistics and histogram binning for the report.
#include "report/stats.h"

#include <algorithm>
#include <cmath>

namespace synthforge::report {

double percentile(const std::vector<double>& sorted, double q) {
    if (sorted.empty()) return 0;
    double pos = q * static_cast<double>(sorted.size() - 1);
    size_t i = static_cast<size_t>(std::floor(pos));
    if (i + 1 >= sorted.size()) return sorted.back();
    double frac = pos - static_cast<double>(i);
    return sorted[i] + (sorted[i + 1] - sorted[i]) * frac;
}

Summary summarize(const std::vector<double>& sorted) {
    Summary s;
    s.count = sorted.size();
    if (sorted.empty()) return s;
    // Two passes: the one-pass formula loses precision on large, similar values.
    double sum = 0;
    for (double v : sorted) sum += v;
    s.mean = sum / static_cast<double>(s.count);
    double sq = 0;
    for (double v : sorted) sq += (v - s.mean) * (v - s.mean);
    s.stddev = std::sqrt(sq / static_cast<double>(s.count));
    s.min = sorted.front();
    s.max = sorted.back();
    s.p25 = percentile(sorted, 0.25);
    s.median = percentile(sorted, 0.5);
    s.p75 = percentile(sorted, 0.75);
    s.p99 = percentile(sorted, 0.99);
    return s;
}

double nice_ceil(double x, bool integer_steps) {
    if (!(x > 0)) return 1;
    double p = std::pow(10.0, std::floor(std::log10(x)));
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
        if (integer_steps && m == 2.5) continue;
        // A relative tolerance, so 0.3 / 0.1 rounding noise does not skip to the next step.
        if (m * p >= x * (1 - 1e-9)) {
            double step = m * p;
            return integer_steps ? std::max(1.0, std::round(step)) : step;
        }
    }
    return 10 * p;
}

size_t Binning::bin_of(double v) const {
    if (clip && v > *clip) return bins;
    double k = std::floor((v - start) / step + 1e-9);
    if (k < 0) return 0;
    return std::min(static_cast<size_t>(k), bins - 1);
}

std::vector<Bin> Binning::empty_bins() const {
    std::vector<Bin> out;
    for (size_t i = 0; i < bins; ++i)
        out.push_back({start + static_cast<double>(i) * step, start + static_cast<double>(i + 1) * step, 0});
    if (clip) out.push_back({*clip, max, 0});
    return out;
}

Binning choose_binning(const std::vector<double>& sorted, size_t max_bins) {
    Binning b;
    if (sorted.empty()) return b;
    max_bins = std::max<size_t>(max_bins, 1);
    const double lo = sorted.front();
    b.max = sorted.back();
    double hi = sorted.back();
    const bool integer = std::all_of(sorted.begin(), sorted.end(), [](double v) { return v == std::floor(v); });
    if (sorted.size() >= 100) {
        double p99 = percentile(sorted, 0.99);
        if (integer) p99 = std::floor(p99);
        if (p99 > lo && hi - lo > 2 * (p99 - lo)) {
            b.clip = p99;
            hi = p99;
        }
    }
    if (hi == lo) {
        b.start = lo;
        b.step = 1;
        b.bins = 1;
        b.discrete = true;
        return b;
    }
    if (integer && hi - lo + 1 <= static_cast<double>(max_bins)) {
        b.start = lo;
        b.step = 1;
        b.bins = static_cast<size_t>(hi - lo) + 1;
        b.discrete = true;
        return b;
    }
    b.step = nice_ceil((hi - lo) / static_cast<double>(max_bins), integer);
    b.start = std::floor(lo / b.step) * b.step;
    // The top edge may equal the largest value: the last bin holds its upper edge.
    b.bins = std::max<size_t>(1, static_cast<size_t>(std::ceil((hi - b.start) / b.step - 1e-9)));
    return b;
}

std::vector<Bin> histogram(const Binning& binning, const std::vector<double>& values) {
    std::vector<Bin> bins = binning.empty_bins();
    for (double v : values) ++bins[binning.bin_of(v)].count;
    return bins;
}

}  // namespace synthforge::report
