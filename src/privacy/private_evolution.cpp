#include "synthforge/privacy/private_evolution.h"
#include "synthforge/errors.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

namespace synthforge::privacy {

std::vector<double> nearest_neighbor_votes(const std::vector<Vector>& private_vectors,
                                           const std::vector<Vector>& synthetic_vectors, size_t k) {
    if (synthetic_vectors.empty()) throw UserError("private evolution: there is no synthetic sample to vote for");
    const size_t dim = synthetic_vectors.front().size();
    for (const auto& v : synthetic_vectors)
        if (v.size() != dim) throw UserError("private evolution: synthetic embeddings differ in length");
    for (const auto& v : private_vectors)
        if (v.size() != dim)
            throw UserError("private evolution: a private embedding has " + std::to_string(v.size()) +
                            " dimensions, the synthetic ones " + std::to_string(dim) +
                            ": embed both with the same model");
    k = std::clamp<size_t>(k, 1, synthetic_vectors.size());
    const double weight = 1.0 / std::sqrt(static_cast<double>(k));
    std::vector<double> votes(synthetic_vectors.size(), 0.0);
    std::vector<std::pair<double, size_t>> distance(synthetic_vectors.size());
    for (const auto& p : private_vectors) {
        for (size_t j = 0; j < synthetic_vectors.size(); ++j) {
            const auto& s = synthetic_vectors[j];
            double d = 0;
            for (size_t i = 0; i < dim; ++i) {
                const double diff = static_cast<double>(p[i]) - s[i];
                d += diff * diff;
            }
            distance[j] = {d, j};
        }
        // Pairs compare by distance, then index: the tie rule above.
        std::partial_sort(distance.begin(), distance.begin() + static_cast<std::ptrdiff_t>(k), distance.end());
        for (size_t r = 0; r < k; ++r) votes[distance[r].second] += weight;
    }
    return votes;
}

GaussianNoise GaussianNoise::secure() {
    return GaussianNoise();
}

GaussianNoise GaussianNoise::seeded(uint64_t seed) {
    GaussianNoise noise;
    noise.seeded_state_ = seed;
    return noise;
}

uint64_t GaussianNoise::next_word() {
    if (seeded_state_) {
        // SplitMix64: fixed by its definition, so a test seed gives the same noise everywhere.
        uint64_t z = (*seeded_state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    uint64_t word = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&word), sizeof word) != 1)
        throw RunError("private evolution: the operating system's random generator failed; no noise, no privacy");
    return word;
}

double GaussianNoise::sample(double sigma) {
    if (spare_) {
        const double z = *spare_;
        spare_.reset();
        return z * sigma;
    }
    // u1 in (0, 1] so log(u1) is finite; u2 in [0, 1).
    const double u1 = (static_cast<double>(next_word() >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(next_word() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * M_PI * u2;
    spare_ = r * std::sin(angle);
    return r * std::cos(angle) * sigma;
}

std::vector<double> add_gaussian_noise(const std::vector<double>& histogram, double sigma, GaussianNoise& noise) {
    std::vector<double> noisy(histogram);
    for (double& count : noisy) count += noise.sample(sigma);
    return noisy;
}

std::vector<size_t> select_top(const std::vector<double>& noisy_histogram, double threshold, size_t keep) {
    std::vector<size_t> order(noisy_histogram.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return noisy_histogram[a] > noisy_histogram[b]; });
    size_t passing = 0;
    while (passing < order.size() && noisy_histogram[order[passing]] > threshold) ++passing;
    order.resize(std::min(keep, passing > 0 ? passing : order.size()));
    return order;
}

}  // namespace synthforge::privacy
