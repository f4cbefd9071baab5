// synthforge dedup INPUT -o OUTPUT --field F --method exact|rougel|minhash: dedup any file
// without writing a flow. It runs a one-block flow through the same executor, so it
// streams, resumes and writes rejects like every run.
#include "commands.h"
#include "synthforge/engine/executor.h"
#include "synthforge/errors.h"

#include <fmt/format.h>

#include <optional>

namespace synthforge::cli {

Command add_dedup_command(CLI::App& app) {
    struct Args {
        std::string input;
        std::string output;
        std::vector<std::string> fields;
        std::string method = "exact";
        std::optional<double> threshold;  // the method's own default when absent
        int num_perm = 128;
        int ngram = 5;
        std::string shingle = "word";
        std::string rejects;
        std::string run_dir;
        std::string format;
        bool quiet = false;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("dedup", "Drop duplicate or near-duplicate rows of a file (first one kept)");
    cmd->add_option("input", args->input, "Input file (jsonl, json, csv, txt)")->required();
    cmd->add_option("-o,--output", args->output, "Output file")->required();
    cmd->add_option("--field", args->fields, "Column compared (repeat for exact: several columns together)")
        ->required();
    cmd->add_option("--method", args->method,
                    "exact: normalised text hashes; rougel: Self-Instruct's ROUGE-L rule; minhash: MinHash LSH "
                    "near-duplicates")
        ->check(CLI::IsMember({"exact", "rougel", "minhash"}))
        ->capture_default_str();
    cmd->add_option("--threshold", args->threshold,
                    "rougel: reject when F1 with a kept row is above this (default 0.7); minhash: when the shingle "
                    "Jaccard with a kept row is at least this (default 0.8)")
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--num-perm", args->num_perm, "minhash: signature length")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    cmd->add_option("--ngram", args->ngram, "minhash: shingle length in words (or characters with --shingle char)")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    cmd->add_option("--shingle", args->shingle, "minhash: word or char shingles")
        ->check(CLI::IsMember({"word", "char"}))
        ->capture_default_str();
    cmd->add_option("--rejects", args->rejects, "Also write the dropped rows, with the reason, here");
    cmd->add_option("--run-dir", args->run_dir, "Run directory (default runs/dedup-<timestamp>)");
    cmd->add_option("--format", args->format, "Input format when the extension does not say it");
    cmd->add_flag("-q,--quiet", args->quiet, "No summary");
    return [args] {
        Flow flow;
        flow.path = std::filesystem::current_path() / "dedup";
        flow.name = "dedup";
        BlockSpec spec;
        spec.name = "dedup";
        if (args->method == "exact") {
            spec.type = "dedup_exact";
            spec.config = {{"columns", args->fields}};
        } else if (args->method == "rougel") {
            if (args->fields.size() != 1) throw UserError("--method rougel compares one --field");
            spec.type = "dedup_rougel";
            spec.config = {{"column", args->fields[0]}, {"threshold", args->threshold.value_or(0.7)}};
        } else {
            if (args->fields.size() != 1) throw UserError("--method minhash compares one --field");
            if (args->threshold && *args->threshold <= 0.0)
                throw UserError("--threshold: minhash needs a value above 0");
            spec.type = "dedup_minhash";
            spec.config = {{"column", args->fields[0]},
                           {"threshold", args->threshold.value_or(0.8)},
                           {"num_perm", args->num_perm},
                           {"ngram", args->ngram},
                           {"shingle", args->shingle}};
        }
        flow.blocks.push_back(spec);

        RunOptions ro;
        ro.inputs = {args->input};
        ro.input_format = args->format;
        ro.output = args->output;
        ro.rejects_output = args->rejects;
        ro.run_dir = args->run_dir.empty() ? default_run_dir(flow) : std::filesystem::path(args->run_dir);
        RunSummary s = run_flow(flow, ro);
        if (!args->quiet)
            fmt::print(stderr, "dedup ({}): {} rows in, {} kept, {} dropped -> {}\n", args->method, s.rows_in,
                       s.rows_out, s.rows_rejected, s.output.string());
        return 0;
    };
}

}  // namespace synthforge::cli
