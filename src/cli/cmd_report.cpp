// synthforge report INPUT -o report.html [--json metrics.json] [--reference REAL] [--run DIR]:
// one self-contained HTML quality report of a dataset (see docs/report.md).
#include "../report/report.h"
#include "commands.h"
#include "synthforge/errors.h"

#include <fmt/format.h>

namespace synthforge::cli {

Command add_report_command(CLI::App& app) {
    struct Args {
        report::ReportOptions options;
        std::string input, reference, run_dir, output, json;
        bool quiet = false;
    };
    auto args = std::make_shared<Args>();
    auto& o = args->options;
    auto* cmd = app.add_subcommand("report", "Write a self-contained HTML quality report of a dataset");
    cmd->add_option("input", args->input, "Input file (jsonl, json, csv, txt)")->required();
    cmd->add_option("-o,--output", args->output, "HTML report to write");
    cmd->add_option("--json", args->json, "Also write every number of the report as JSON here");
    cmd->add_option("--reference", args->reference, "Real data to compare with (similarity section)");
    cmd->add_option("--reference-field", o.reference_field,
                    "Text column of the reference (default: the main field's name, else its longest text column)");
    cmd->add_option("--field", o.fields,
                    "Text column to measure (repeatable; the first is the main field for diversity and similarity). "
                    "Default: every string column averaging at least 3 words; the longest is the main field");
    cmd->add_option("--run", args->run_dir, "Run directory whose metadata and rejects fill the rejections section");
    cmd->add_option("--samples", o.samples, "Sample rows shown")->capture_default_str();
    cmd->add_option("--seed", o.seed, "Seed of the sample rows and of the diversity sample")->capture_default_str();
    cmd->add_option("--bins", o.max_bins, "About this many bars per histogram at most")
        ->check(CLI::Range(2, 200))
        ->capture_default_str();
    cmd->add_option("--diversity-sample", o.diversity_sample, "Texts sampled for self-BLEU and pairwise ROUGE-L")
        ->check(CLI::Range(2, 100000))
        ->capture_default_str();
    cmd->add_option("--max-reasons", o.max_reasons, "Rejection reasons listed per block")->capture_default_str();
    cmd->add_option("--sample-chars", o.sample_chars, "Strings in sample rows are cut after this many characters")
        ->check(CLI::Range(10, 1000000))
        ->capture_default_str();
    cmd->add_option("--format", o.input_format, "Input format when the extension does not say it")
        ->check(CLI::IsMember({"jsonl", "json", "csv", "txt", "text"}));
    cmd->add_option("--reference-format", o.reference_format, "Reference format when the extension does not say it")
        ->check(CLI::IsMember({"jsonl", "json", "csv", "txt", "text"}));
    cmd->add_flag("-q,--quiet", args->quiet, "No summary on stderr");
    return [args] {
        if (args->output.empty() && args->json.empty())
            throw UserError("report: give -o FILE.html, --json FILE.json or both");
        auto& o = args->options;
        o.input = args->input;
        o.reference = args->reference;
        o.run_dir = args->run_dir;
        report::ReportOutcome out = report::write_report(o, args->output, args->json);
        if (!args->quiet) {
            std::string to = args->output;
            if (!args->json.empty()) to += (to.empty() ? "" : " and ") + args->json;
            fmt::print(stderr, "report: {} rows, {} flag{} -> {}\n", out.rows, out.flags.size(),
                       out.flags.size() == 1 ? "" : "s", to);
            for (const auto& f : out.flags) fmt::print(stderr, "  flag: {}\n", f);
        }
        return 0;
    };
}

}  // namespace synthforge::cli
