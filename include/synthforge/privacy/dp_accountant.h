#pragma once
// Privacy accounting for Private Evolution (Aug-PE, Xie et al. 2024): T rounds of the Gaussian
// mechanism on a vote histogram with L2 sensitivity 1, composed exactly in Gaussian
// differential privacy (Dong, Roth and Su 2019).
//
// One Gaussian mechanism with noise sigma and sensitivity 1 is mu-GDP with mu = 1/sigma; T of
// them compose to mu = sqrt(T)/sigma. A mu-GDP mechanism is (epsilon, delta)-DP for every
// epsilon >= 0 with
//     delta(epsilon) = Phi(-epsilon/mu + mu/2) - e^epsilon * Phi(-epsilon/mu - mu/2),
// which is the exact trade-off, not a bound: no other (epsilon, delta) pair is cheaper.
// Pure computation: no I/O.

#include <cstddef>

namespace synthforge::privacy {

// delta for a given epsilon and mu (the formula above), computed without cancellation error
// for the tiny deltas (1e-10 and below) that private datasets need.
double gdp_delta(double epsilon, double mu);

// The mu at which gdp_delta(epsilon, mu) == delta. Throws UserError for epsilon < 0 or a
// delta outside (0, 1).
double gdp_mu_for(double epsilon, double delta);

// The smallest epsilon >= 0 with gdp_delta(epsilon, mu) <= delta.
double gdp_epsilon_for(double mu, double delta);

// Noise for a target budget: sigma = sqrt(T) / gdp_mu_for(epsilon, delta).
double sigma_for_budget(double epsilon, double delta, size_t iterations);

// The epsilon spent by `iterations` Gaussian mechanisms with noise `sigma` at `delta`.
double epsilon_for_sigma(double sigma, double delta, size_t iterations);

// The customary delta for n private records: 1 / (n ln n), so that a mechanism leaking one
// whole record with probability delta leaks nobody's in expectation. Needs n >= 2.
double default_delta(size_t n);

}  // namespace synthforge::privacy
