// synthforge scan INPUT -o OUTPUT --fields F --action flag|redact|drop: find personal data
// and secrets in any file without writing a flow. Like `dedup`, it runs a one-block flow
// (the `pii` block) through the executor, so it streams, resumes and writes rejects like
// every run.
#include "commands.h"
#include "synthforge/engine/executor.h"
#include "synthforge/errors.h"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <optional>

namespace synthforge::cli {

namespace {

// NAME=VALUE, as --deny-list and --pattern take them.
std::pair<std::string, std::string> split_assignment(const std::string& s, const char* option) {
    const size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
        throw UserError(fmt::format("{} '{}': expected NAME=VALUE", option, s));
    return {s.substr(0, eq), s.substr(eq + 1)};
}

// Rows of a JSON Lines output whose findings column is a non-empty list, and the
// findings per type: the summary of --action flag.
std::pair<uint64_t, std::map<std::string, uint64_t>> count_flagged(const std::filesystem::path& output,
                                                                   const std::string& column) {
    std::pair<uint64_t, std::map<std::string, uint64_t>> out;
    std::ifstream in(output);
    std::string line;
    while (std::getline(in, line)) {
        if (line.find(column) == std::string::npos) continue;
        Json row = Json::parse(line, nullptr, false);
        if (!row.is_object()) continue;
        auto it = row.find(column);
        if (it == row.end() || !it->is_array() || it->empty()) continue;
        ++out.first;
        for (const auto& f : *it)
            if (f.is_object() && f.contains("type") && f["type"].is_string())
                ++out.second[f["type"].get<std::string>()];
    }
    return out;
}

}  // namespace

Command add_scan_command(CLI::App& app) {
    struct Args {
        std::string input;
        std::string output;
        std::vector<std::string> fields;
        std::string action = "flag";
        std::vector<std::string> entities;
        std::vector<std::string> regions = {"US"};
        double min_score = 0.5;
        bool surrogate = false;
        std::optional<uint64_t> seed;
        std::string column = "_pii";
        std::vector<std::string> deny_lists;
        std::vector<std::string> patterns;
        std::string rejects;
        std::string run_dir;
        std::string format;
        bool quiet = false;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("scan", "Find personal data and secrets in a file; flag, redact or drop them");
    cmd->add_option("input", args->input, "Input file (jsonl, json, csv, txt)")->required();
    cmd->add_option("-o,--output", args->output, "Output file")->required();
    cmd->add_option("--fields", args->fields,
                    "Columns scanned, comma-separated or repeated; strings nested in lists and objects count "
                    "(default: every column)")
        ->delimiter(',');
    cmd->add_option("--action", args->action,
                    "flag: list the findings in a column; redact: replace them in the text; drop: reject rows with "
                    "findings")
        ->check(CLI::IsMember({"flag", "redact", "drop"}))
        ->capture_default_str();
    cmd->add_option("--entities", args->entities,
                    "Entity types looked for, comma-separated (default all): EMAIL, PHONE, CREDIT_CARD, IBAN, "
                    "US_SSN, IP_ADDRESS, MAC_ADDRESS, URL_CREDENTIALS, CRYPTO_ADDRESS, SECRET")
        ->delimiter(',');
    cmd->add_option("--regions", args->regions,
                    "Phone regions whose national formats count, comma-separated; +E.164 numbers count anywhere")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_option("--min-score", args->min_score, "Ignore findings scoring below this")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
    cmd->add_flag("--surrogate", args->surrogate,
                  "redact: consistent fake values (same value, same fake) instead of <TYPE> placeholders");
    cmd->add_option("--seed", args->seed, "Seed of the surrogates (default 0)");
    cmd->add_option("--column", args->column, "flag: the findings column")->capture_default_str();
    cmd->add_option("--deny-list", args->deny_lists,
                    "NAME=FILE: the terms in FILE (one a line) are findings of type NAME; repeatable");
    cmd->add_option("--pattern", args->patterns, "NAME=REGEX: RE2 matches are findings of type NAME; repeatable");
    cmd->add_option("--rejects", args->rejects, "Also write the dropped rows, with the reason, here");
    cmd->add_option("--run-dir", args->run_dir, "Run directory (default runs/scan-<timestamp>)");
    cmd->add_option("--format", args->format, "Input format when the extension does not say it");
    cmd->add_flag("-q,--quiet", args->quiet, "No summary");
    return [args] {
        Flow flow;
        flow.path = std::filesystem::current_path() / "scan";  // deny-list files resolve from here
        flow.name = "scan";
        BlockSpec spec;
        spec.name = "pii";
        spec.type = "pii";
        spec.config = {{"action", args->action},         {"fields", args->fields},       {"entities", args->entities},
                       {"phone_regions", args->regions}, {"min_score", args->min_score}, {"surrogate", args->surrogate},
                       {"column", args->column}};
        if (args->seed) spec.config["seed"] = *args->seed;
        Json lists = Json::array(), patterns = Json::array();
        for (const auto& d : args->deny_lists) {
            auto [name, file] = split_assignment(d, "--deny-list");
            lists.push_back({{"name", name}, {"file", file}});
        }
        for (const auto& p : args->patterns) {
            auto [name, regex] = split_assignment(p, "--pattern");
            patterns.push_back({{"name", name}, {"regex", regex}});
        }
        spec.config["deny_lists"] = lists;
        spec.config["patterns"] = patterns;
        flow.blocks.push_back(spec);

        RunOptions ro;
        ro.inputs = {args->input};
        ro.input_format = args->format;
        ro.output = args->output;
        ro.rejects_output = args->rejects;
        ro.seed = args->seed.value_or(0);
        ro.run_dir = args->run_dir.empty() ? default_run_dir(flow) : std::filesystem::path(args->run_dir);
        RunSummary s = run_flow(flow, ro);
        if (args->quiet) return 0;
        if (args->action == "drop") {
            fmt::print(stderr, "scan (drop): {} rows in, {} kept, {} dropped -> {}\n", s.rows_in, s.rows_out,
                       s.rows_rejected, s.output.string());
        } else if (args->action == "flag" && s.output.extension() == ".jsonl") {
            auto [rows, types] = count_flagged(s.output, args->column);
            std::string by_type;
            for (const auto& [type, n] : types) by_type += fmt::format("{}{} {}", by_type.empty() ? "" : ", ", type, n);
            fmt::print(stderr, "scan (flag): {} rows in, {} with findings{} -> {}\n", s.rows_in, rows,
                       by_type.empty() ? "" : " (" + by_type + ")", s.output.string());
        } else {
            fmt::print(stderr, "scan ({}): {} rows in, {} out -> {}\n", args->action, s.rows_in, s.rows_out,
                       s.output.string());
        }
        return 0;
    };
}

}  // namespace synthforge::cli
