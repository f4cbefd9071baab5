// Gaussian-DP accounting for Private Evolution; see the header for the formulas.
#include "synthforge/privacy/dp_accountant.h"

#include "synthforge/errors.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace synthforge::privacy {
namespace {

// log Phi(x). For x well below 0, erfc underflows long before the products in gdp_delta stop
// mattering, so the tail uses the asymptotic series of the Mills ratio instead.
double log_phi(double x) {
    if (x > -20) return std::log(0.5 * std::erfc(-x / std::sqrt(2.0)));
    // Phi(x) = phi(x)/|x| * (1 - 1/x^2 + 3/x^4 - 15/x^6 + ...), x -> -inf.
    const double x2 = x * x;
    const double series = 1 - 1 / x2 + 3 / (x2 * x2) - 15 / (x2 * x2 * x2) + 105 / (x2 * x2 * x2 * x2);
    return -0.5 * x2 - std::log(-x) - 0.5 * std::log(2 * M_PI) + std::log(series);
}

// Bisection on a monotone function; 200 halvings take any bracket to double precision.
template <class F>
double bisect(F f, double lo, double hi) {
    for (int i = 0; i < 200 && hi - lo > 1e-15 * std::max(1.0, std::abs(hi)); ++i) {
        const double mid = 0.5 * (lo + hi);
        (f(mid) ? hi : lo) = mid;
    }
    return 0.5 * (lo + hi);
}

void check_delta(double delta) {
    if (!(delta > 0 && delta < 1)) throw UserError(fmt::format("delta must be in (0, 1), got {}", delta));
}

}  // namespace

double gdp_delta(double epsilon, double mu) {
    if (!(mu > 0)) return 0;
    const double a = log_phi(-epsilon / mu + mu / 2);
    const double b = epsilon + log_phi(-epsilon / mu - mu / 2);
    // Phi(a') - e^eps Phi(b') = e^a (1 - e^(b - a)); b < a always, and expm1 keeps the
    // difference exact when the two terms are close.
    return std::exp(a) * -std::expm1(b - a);
}

double gdp_mu_for(double epsilon, double delta) {
    if (!(epsilon >= 0)) throw UserError(fmt::format("epsilon must be >= 0, got {}", epsilon));
    check_delta(delta);
    // delta grows with mu from 0 (mu -> 0) to 1 (mu -> inf).
    double hi = 1;
    while (gdp_delta(epsilon, hi) < delta) hi *= 2;
    return bisect([&](double mu) { return gdp_delta(epsilon, mu) >= delta; }, 0, hi);
}

double gdp_epsilon_for(double mu, double delta) {
    check_delta(delta);
    if (!(mu > 0)) throw UserError(fmt::format("mu must be > 0, got {}", mu));
    if (gdp_delta(0, mu) <= delta) return 0;
    // delta falls with epsilon towards 0.
    double hi = 1;
    while (gdp_delta(hi, mu) > delta) hi *= 2;
    return bisect([&](double eps) { return gdp_delta(eps, mu) <= delta; }, 0, hi);
}

double sigma_for_budget(double epsilon, double delta, size_t iterations) {
    if (iterations == 0) throw UserError("iterations must be at least 1");
    if (!(epsilon > 0)) throw UserError(fmt::format("epsilon must be > 0 for a finite sigma, got {}", epsilon));
    return std::sqrt(static_cast<double>(iterations)) / gdp_mu_for(epsilon, delta);
}

double epsilon_for_sigma(double sigma, double delta, size_t iterations) {
    if (iterations == 0) throw UserError("iterations must be at least 1");
    if (!(sigma > 0)) throw UserError(fmt::format("sigma must be > 0, got {}", sigma));
    return gdp_epsilon_for(std::sqrt(static_cast<double>(iterations)) / sigma, delta);
}

double default_delta(size_t n) {
    if (n < 2) throw UserError("the default delta 1/(n ln n) needs at least 2 private records");
    const double d = static_cast<double>(n);
    return 1.0 / (d * std::log(d));
}

}  // namespace synthforge::privacy
