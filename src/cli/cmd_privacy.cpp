// synthforge privacy budget: the noise a Private Evolution run needs for a privacy budget,
// or the budget a given noise spends (Gaussian DP; see include/synthforge/privacy/dp_accountant.h).
#include "../blocks/seeded_rng.h"
#include "commands.h"
#include "synthforge/data/reader.h"
#include "synthforge/data/writer.h"
#include "synthforge/errors.h"
#include "synthforge/privacy/dp_accountant.h"

#include <fmt/format.h>

#include <memory>
#include <numeric>

namespace synthforge::cli {

namespace {

// A canary: a sentence carrying a code no text would contain by chance (3 groups of 4 of 32
// unambiguous letters and digits: 2^60 codes). The code alone is what `leakage` searches for.
std::string canary_code(Rng& rng) {
    static constexpr char kAlphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    std::string code = "CNRY";
    for (int g = 0; g < 3; ++g) {
        code += '-';
        for (int i = 0; i < 4; ++i) code += kAlphabet[rng.below(32)];
    }
    return code;
}

// synthforge privacy canary: plants canaries in N seed records, for leakage tests.
int plant_canaries(const std::string& input, const std::string& output, const std::string& field, size_t count,
                   const std::string& list, uint64_t seed) {
    std::vector<Record> rows = read_all(input);
    std::vector<size_t> candidates;
    for (size_t i = 0; i < rows.size(); ++i)
        if (rows[i].is_object() && rows[i].contains(field) && rows[i][field].is_string()) candidates.push_back(i);
    if (candidates.size() < count)
        throw UserError(
            fmt::format("privacy canary: {} has {} records with a string column '{}', fewer than --count {}", input,
                        candidates.size(), field, count));
    Rng rng(seed);
    rng.sample_prefix(candidates, count);
    std::string codes;
    for (size_t k = 0; k < count; ++k) {
        const std::string code = canary_code(rng);
        Record& r = rows[candidates[k]];
        r[field] = r[field].get<std::string>() + " The reference code for this record is " + code + ".";
        codes += code + "\n";
    }
    auto writer = open_writer(output, resolve_format(output, ""));
    for (const auto& r : rows) writer->write(r);
    writer->commit();
    write_file_atomic(list, codes);
    fmt::print("planted {} canaries in {} of {} records ({}); codes in {}\n", count, count, rows.size(), output, list);
    return 0;
}

}  // namespace

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

    struct CanaryArgs {
        std::string input, output, field = "text", list;
        size_t count = 10;
        uint64_t seed = 0;
    };
    auto cargs = std::make_shared<CanaryArgs>();
    auto* canary = cmd->add_subcommand(
        "canary",
        "Plant unique canary sentences in seed records; a leakage block with canaries: counts those that come back");
    canary->add_option("input", cargs->input, "Seed file (jsonl, json, csv)")->required();
    canary->add_option("-o,--output", cargs->output, "The seeds with canaries planted")->required();
    canary->add_option("--canaries", cargs->list, "Where the canary codes go, one per line")->required();
    canary->add_option("--field", cargs->field, "Text column that receives a canary")->capture_default_str();
    canary->add_option("--count", cargs->count, "How many records get one")->capture_default_str();
    canary->add_option("--seed", cargs->seed, "Which records and which codes")->capture_default_str();
    return [args, cargs, canary, eps, sig, delta, records] {
        if (canary->parsed())
            return plant_canaries(cargs->input, cargs->output, cargs->field, cargs->count, cargs->list, cargs->seed);
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
