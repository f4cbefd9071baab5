// synthforge privacy budget: the noise a Private Evolution run needs for a privacy budget,
// or the budget a given noise spends (Gaussian DP; see include/synthforge/privacy/dp_accountant.h).
#include "commands.h"
#include "synthforge/errors.h"
#include "synthforge/privacy/dp_accountant.h"

#include <fmt/format.h>

#include <memory>

namespace synthforge::cli {

Command add_privacy_command(CLI::App& app) {
    struct Args {
        double epsilon = 0, sigma = 0, delta = 0;
        size_t iterations = 0, records = 0;
        bool json = false;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("privacy", "Differential-privacy tools");
    cmd->require_subcommand(1);
    auto* budget = cmd->add_subcommand(
        "budget",
        "Noise (sigma) for a budget (--epsilon), or the epsilon a noise (--sigma) spends, over T Gaussian "
        "mechanisms with L2 sensitivity 1 (Private Evolution's vote histograms)");
    auto* eps = budget->add_option("--epsilon", args->epsilon, "Target epsilon: print the sigma that meets it");
    auto* sig = budget->add_option("--sigma", args->sigma, "Noise multiplier: print the epsilon it spends");
    eps->excludes(sig);
    budget->add_option("--iterations,-T", args->iterations, "Number of noisy histograms (Private Evolution rounds)")
        ->required()
        ->check(CLI::PositiveNumber);
    auto* delta = budget->add_option("--delta", args->delta, "delta of (epsilon, delta)-DP");
    auto* records =
        budget->add_option("--records,-n", args->records, "Private records N: delta defaults to 1/(N ln N)");
    delta->excludes(records);
    budget->add_flag("--json", args->json, "Print one JSON object instead of a sentence");
    return [args, eps, sig, delta, records] {
        if (!*eps && !*sig)
            throw UserError("privacy budget: give --epsilon (to get sigma) or --sigma (to get epsilon)");
        if (!*delta && !*records)
            throw UserError("privacy budget: give --delta, or --records N for the default delta 1/(N ln N)");
        const double d = *delta ? args->delta : privacy::default_delta(args->records);
        const size_t T = args->iterations;
        const double sigma = *eps ? privacy::sigma_for_budget(args->epsilon, d, T) : args->sigma;
        const double epsilon = *eps ? args->epsilon : privacy::epsilon_for_sigma(args->sigma, d, T);
        const double mu = std::sqrt(static_cast<double>(T)) / sigma;
        if (args->json) {
            fmt::print(
                "{{\"epsilon\": {:.17g}, \"delta\": {:.17g}, \"sigma\": {:.17g}, \"iterations\": {}, \"mu\": "
                "{:.17g}}}\n",
                epsilon, d, sigma, T, mu);
        } else if (*eps) {
            fmt::print(
                "sigma = {:.6g}: {} noisy histograms at this noise are ({:g}, {:.3g})-DP (mu-GDP with mu = {:.6g})\n",
                sigma, T, epsilon, d, mu);
        } else {
            fmt::print(
                "epsilon = {:.6g}: {} noisy histograms at sigma {:g} are ({:.6g}, {:.3g})-DP (mu-GDP with mu = "
                "{:.6g})\n",
                epsilon, T, sigma, epsilon, d, mu);
        }
        return 0;
    };
}

}  // namespace synthforge::cli
