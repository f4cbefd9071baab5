#pragma once
// Reproducible randomness for blocks. The numbers come from std::mt19937_64, whose
// output sequence the C++ standard fixes, reduced to a range with Lemire's method in
// our own code (std::uniform_int_distribution differs between standard libraries),
// so a seed gives the same draws on every machine.

#include "../text/splitmix64.h"
#include "synthforge/data/record.h"

#include <xxhash.h>

#include <cstdint>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

namespace synthforge {

class Rng {
  public:
    explicit Rng(uint64_t seed) : gen_(seed) {}

    // Uniform in [0, bound), bound > 0, without modulo bias (Lemire 2019: multiply,
    // and redraw only in the rare case the low half falls in the biased zone).
    uint64_t below(uint64_t bound) { return text::uniform_below(gen_, bound); }

    // Uniform in [0, 1) with 53 random bits.
    double unit() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }

    // Partial Fisher-Yates: the first k entries of v become a uniform k-sample, in random order.
    template <typename T>
    void sample_prefix(std::vector<T>& v, size_t k) {
        for (size_t i = 0; i < k && i + 1 < v.size(); ++i) std::swap(v[i], v[i + below(v.size() - i)]);
    }

  private:
    std::mt19937_64 gen_;
};

// A seed from several parts (the run's seed, the block's name, the round, a row's
// canonical JSON): each part changes every draw, nothing else does.
inline uint64_t mix_seed(uint64_t seed, std::string_view part) {
    return XXH3_64bits_withSeed(part.data(), part.size(), seed);
}
inline uint64_t mix_seed(uint64_t seed, uint64_t part) {
    return XXH3_64bits_withSeed(&part, sizeof part, seed);
}

}  // namespace synthforge
