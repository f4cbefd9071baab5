// The Gaussian-DP accountant of Private Evolution: the (epsilon, delta) curve of mu-GDP, the
// noise for a budget, and the budget for a noise, checked against the formula evaluated
// directly (plain erfc, no log-space tricks) and against known values.
#include "synthforge/errors.h"
#include "synthforge/privacy/dp_accountant.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace synthforge;
using namespace synthforge::privacy;

namespace {

double phi(double x) {
    return 0.5 * std::erfc(-x / std::sqrt(2.0));
}

// delta(eps) = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2), straight from the definition.
double direct_delta(double eps, double mu) {
    return phi(-eps / mu + mu / 2) - std::exp(eps) * phi(-eps / mu - mu / 2);
}

TEST(DpAccountant, DeltaAtEpsilonZeroIsTheTotalVariationOfTwoGaussians) {
    // eps = 0: Phi(mu/2) - Phi(-mu/2) = erf(mu / (2 sqrt 2)); for mu = 1, 0.3829249225480262.
    EXPECT_NEAR(gdp_delta(0, 1), 0.3829249225480262, 1e-15);
    EXPECT_NEAR(gdp_delta(0, 2), std::erf(2 / (2 * std::sqrt(2.0))), 1e-15);
}

TEST(DpAccountant, DeltaMatchesTheFormulaEvaluatedDirectly) {
    for (double mu : {0.1, 0.5, 1.0, 2.0, 5.0})
        for (double eps : {0.0, 0.5, 1.0, 2.0, 4.0, 8.0}) {
            const double want = direct_delta(eps, mu);
            EXPECT_NEAR(gdp_delta(eps, mu), want, 1e-12 + 1e-9 * want) << "mu " << mu << " eps " << eps;
        }
}

TEST(DpAccountant, SigmaForTenIterationsGivesTheTargetDelta) {
    // The check: T = 10, epsilon in {1, 2, 4}; the noise found must spend exactly the
    // budget when the formula is evaluated on its own.
    const size_t T = 10;
    for (double eps : {1.0, 2.0, 4.0})
        for (double delta : {1e-5, 1e-6}) {
            const double sigma = sigma_for_budget(eps, delta, T);
            const double mu = std::sqrt(10.0) / sigma;
            EXPECT_NEAR(direct_delta(eps, mu), delta, 1e-6 * delta) << "eps " << eps;
            // Less budget needs more noise.
            if (eps > 1) EXPECT_LT(sigma, sigma_for_budget(eps / 2, delta, T));
        }
}

TEST(DpAccountant, SigmaToEpsilonAndBackAgree) {
    for (size_t T : {1u, 5u, 10u, 50u})
        for (double eps : {0.25, 1.0, 3.0, 8.0}) {
            const double delta = 1e-6;
            const double sigma = sigma_for_budget(eps, delta, T);
            EXPECT_NEAR(epsilon_for_sigma(sigma, delta, T), eps, 1e-6) << "T " << T;
            EXPECT_NEAR(sigma_for_budget(epsilon_for_sigma(sigma, delta, T), delta, T), sigma, 1e-6 * sigma);
        }
}

TEST(DpAccountant, TinyDeltasStayAccurate) {
    // A million records: delta = 1/(n ln n) ~ 7e-8; and far smaller ones, where the two terms
    // of the formula nearly cancel.
    EXPECT_NEAR(default_delta(1000000), 1.0 / (1e6 * std::log(1e6)), 1e-20);
    for (double delta : {1e-8, 1e-12, 1e-20}) {
        const double sigma = sigma_for_budget(1.0, delta, 10);
        EXPECT_NEAR(gdp_delta(1.0, std::sqrt(10.0) / sigma), delta, 1e-6 * delta);
        EXPECT_NEAR(epsilon_for_sigma(sigma, delta, 10), 1.0, 1e-6);
    }
}

TEST(DpAccountant, MoreIterationsSpendMoreBudget) {
    const double delta = 1e-5;
    EXPECT_LT(epsilon_for_sigma(5.0, delta, 1), epsilon_for_sigma(5.0, delta, 10));
    EXPECT_LT(epsilon_for_sigma(5.0, delta, 10), epsilon_for_sigma(5.0, delta, 100));
    // Composition is exact in GDP: T rounds at sigma equal one round at sigma / sqrt(T).
    EXPECT_NEAR(epsilon_for_sigma(10.0, delta, 4), epsilon_for_sigma(5.0, delta, 1), 1e-9);
}

TEST(DpAccountant, BadArgumentsAreUserErrors) {
    EXPECT_THROW(sigma_for_budget(1, 0, 10), UserError);
    EXPECT_THROW(sigma_for_budget(1, 1, 10), UserError);
    EXPECT_THROW(sigma_for_budget(0, 1e-5, 10), UserError);
    EXPECT_THROW(sigma_for_budget(1, 1e-5, 0), UserError);
    EXPECT_THROW(epsilon_for_sigma(0, 1e-5, 10), UserError);
    EXPECT_THROW(default_delta(1), UserError);
}

}  // namespace
