#pragma once
// The private step of Private Evolution (Lin et al. 2024; Aug-PE for text, Xie et al. 2024):
// every private sample votes for its nearest synthetic samples, the vote histogram gets
// Gaussian noise, and only the noisy histogram leaves this file's functions. Everything done
// with the noisy histogram afterwards (clearing small counts, keeping the top samples,
// asking an LLM for variations of them) is post-processing and costs no privacy.
//
// Sensitivity: with k votes of 1/sqrt(k) each, adding or removing one private sample moves
// the histogram by exactly 1 in L2 norm, so each histogram is one Gaussian mechanism with
// sensitivity 1 and dp_accountant.h composes them. Pure computation, except that
// GaussianNoise::secure() reads the operating system's random generator.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace synthforge::privacy {

using Vector = std::vector<float>;

// The vote histogram: bin j sums 1/sqrt(k) over the private vectors that have synthetic
// vector j among their k nearest (squared L2 distance; a tie goes to the lower index).
// k larger than the number of synthetic vectors is clamped to it. Throws UserError when
// vectors differ in length or there is no synthetic vector.
std::vector<double> nearest_neighbor_votes(const std::vector<Vector>& private_vectors,
                                           const std::vector<Vector>& synthetic_vectors, size_t k);

// Gaussian noise for the mechanism. secure() draws from the operating system (OpenSSL's
// RAND_bytes): noise nobody can predict, which the DP guarantee needs. seeded() repeats
// the same noise for the same seed: for tests only, since anyone who knows the seed can
// subtract the noise again.
class GaussianNoise {
  public:
    static GaussianNoise secure();
    static GaussianNoise seeded(uint64_t seed);

    // One draw from N(0, sigma^2) (Box-Muller on 53-bit uniforms).
    double sample(double sigma);
    bool is_seeded() const { return seeded_state_.has_value(); }

  private:
    GaussianNoise() = default;
    uint64_t next_word();
    std::optional<uint64_t> seeded_state_;
    std::optional<double> spare_;  // Box-Muller makes two normals per pair of uniforms
};

// Adds N(0, sigma^2) to every bin.
std::vector<double> add_gaussian_noise(const std::vector<double>& histogram, double sigma, GaussianNoise& noise);

// The bins kept after a noisy histogram: counts at or below `threshold` are cleared, and of
// the rest the `keep` largest are taken (ties by lower index), in decreasing count order.
// When no count passes the threshold, the `keep` largest counts are taken anyway, so an
// iteration never ends with an empty population (still post-processing of the noisy
// histogram, so still free).
std::vector<size_t> select_top(const std::vector<double>& noisy_histogram, double threshold, size_t keep);

}  // namespace synthforge::privacy
