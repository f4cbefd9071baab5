#pragma once
// Reproducible random numbers defined by integer arithmetic alone, so a seed gives the same
// stream with any compiler and standard library (std::uniform_*_distribution does not).

#include <cstdint>

namespace synthforge::text {

// Uniform in [0, bound), bound > 0, from any generator of uniform 64-bit words, without modulo
// bias (Lemire 2019: multiply, and redraw only when the low half falls in the biased zone).
template <class NextWord>
uint64_t uniform_below(NextWord&& next, uint64_t bound) {
    unsigned __int128 m = static_cast<unsigned __int128>(next()) * bound;
    auto low = static_cast<uint64_t>(m);
    if (low < bound) {
        const uint64_t threshold = (0 - bound) % bound;
        while (low < threshold) {
            m = static_cast<unsigned __int128>(next()) * bound;
            low = static_cast<uint64_t>(m);
        }
    }
    return static_cast<uint64_t>(m >> 64);
}

// SplitMix64 (Steele, Lea, Flood 2014): tiny and fixed by its definition; good enough to
// sample texts, pick seeds and break symmetry.
class SplitMix64 {
  public:
    explicit SplitMix64(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    uint64_t below(uint64_t bound) {
        return uniform_below([this] { return next(); }, bound);
    }
    // Uniform in [0, 1) with 53 random bits.
    double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  private:
    uint64_t state_;
};

}  // namespace synthforge::text
