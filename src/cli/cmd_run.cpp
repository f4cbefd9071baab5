// synthforge run FLOW [-i INPUT]... [-o OUTPUT] [--set NAME=VALUE]... [--run-dir DIR] [--resume DIR]
//                    [--shard I/N|auto]
#include "../report/report.h"
#include "commands.h"
#include "progress_reporter.h"
#include "synthforge/data/writer.h"
#include "synthforge/engine/executor.h"
#include "synthforge/engine/plugin.h"
#include "synthforge/engine/shard.h"
#include "synthforge/errors.h"

#include <fmt/format.h>

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>

namespace synthforge::cli {
namespace {

std::atomic<bool> g_stop{false};
// Written before the handlers are installed: a signal handler may only write(2) ready bytes.
std::string g_stop_now_message;

extern "C" void on_stop_signal(int) {
    // The first signal finishes the batch in flight, which can take up to timeout_s x
    // max_attempts against a hung server. A second one stops at once: the run store is then
    // as safe as after a kill (finished batches and received answers are committed).
    if (g_stop.exchange(true)) {
        ssize_t ignored = ::write(2, g_stop_now_message.data(), g_stop_now_message.size());
        (void)ignored;
        ::_exit(130);
    }
}

struct RunArgs {
    std::string flow;
    std::vector<std::string> inputs;
    std::string output;
    std::vector<std::string> sets;
    std::vector<std::string> plugins;
    std::vector<std::string> allow_paths;
    std::string run_dir;
    std::string resume;
    uint64_t seed = 0;
    size_t dry_run = 0;
    std::string input_format;
    std::string output_format;
    std::string text_unit = "line";
    std::string on_bad_record = "fail";
    std::string rejects;
    std::string report;
    size_t batch_size = 1000;
    bool quiet = false;
    std::string shard;  // "I/N", "auto" or "" (not sharded)
};

// --shard: the spec, and every path option made per-shard. N processes given the same
// command line must not write the same files, so a path names its shard with {shard}
// (replaced by shard-I-of-N); the default run directory is runs/<flow>.shard-I-of-N,
// without a timestamp, so a merge job can name the shards before they start.
ShardSpec apply_shard(RunArgs& a, const Flow& flow) {
    ShardSpec spec = a.shard == "auto" ? shard_from_environment() : parse_shard_spec(a.shard);
    if (a.dry_run > 0) throw UserError("--dry-run previews the first records of the whole input; drop --shard");
    std::string tag = fmt::format("shard-{}-of-{}", spec.index, spec.count);
    auto per_shard = [&](std::string& path, const char* option, bool required) {
        if (path.empty()) return;
        auto at = path.find("{shard}");
        if (at == std::string::npos) {
            if (required)
                throw UserError(fmt::format(
                    "{} {}: with --shard every shard would write this same file; put {{shard}} in the name (it "
                    "becomes {}) or leave {} out (each shard writes into its run directory, and `synthforge merge` "
                    "joins them)",
                    option, path, tag, option));
            return;
        }
        while (at != std::string::npos) {
            path.replace(at, 7, tag);
            at = path.find("{shard}", at + tag.size());
        }
    };
    per_shard(a.output, "-o", true);
    per_shard(a.rejects, "--rejects", true);
    per_shard(a.report, "--report", true);
    // A shared --run-dir is refused later anyway ("holds a run already"); {shard} is a convenience.
    per_shard(a.run_dir, "--run-dir", false);
    per_shard(a.resume, "--resume", false);
    if (a.run_dir.empty() && a.resume.empty())
        a.run_dir = (std::filesystem::path("runs") / (flow.name + "." + tag)).string();
    return spec;
}

std::map<std::string, std::string> parse_sets(const std::vector<std::string>& sets) {
    std::map<std::string, std::string> out;
    for (const auto& s : sets) {
        auto eq = s.find('=');
        if (eq == std::string::npos || eq == 0) throw UserError("--set expects NAME=VALUE, got '" + s + "'");
        out[s.substr(0, eq)] = s.substr(eq + 1);
    }
    return out;
}

int run(RunArgs a) {
    for (const auto& p : a.plugins) load_plugin(p);
    FlowOptions fo;
    fo.overrides = parse_sets(a.sets);
    for (const auto& p : a.allow_paths) fo.allowed_paths.emplace_back(p);
    Flow flow = load_flow(resolve_flow_path(a.flow), fo);

    RunOptions ro;
    if (!a.shard.empty()) ro.shard = apply_shard(a, flow);
    for (const auto& i : a.inputs) ro.inputs.emplace_back(i);
    ro.input_format = a.input_format;
    ro.text_unit = a.text_unit == "paragraph"  ? TextUnit::paragraph
                   : a.text_unit == "document" ? TextUnit::document
                                               : TextUnit::line;
    ro.skip_bad_records = a.on_bad_record == "skip";
    ro.output = a.output;
    ro.output_format = a.output_format;
    ro.rejects_output = a.rejects;
    ro.seed = a.seed;
    ro.batch_size = a.batch_size;

    if (a.dry_run > 0 && !a.report.empty()) throw UserError("--report needs a real run: --dry-run writes nothing");
    if (a.dry_run > 0) {
        Preview preview = preview_flow(flow, ro, a.dry_run);
        if (!preview.requests.empty()) {
            // An LLM flow: the requests it would send, nothing sent.
            for (size_t i = 0; i < preview.requests.size() && i < a.dry_run; ++i)
                std::cout << preview.requests[i].dump(2) << '\n';
            return 0;
        }
        for (const auto& r : preview.rows) std::cout << to_json_line(r) << '\n';
        for (const auto& r : preview.rejected) std::cerr << "rejected: " << to_json_line(r) << '\n';
        return 0;
    }

    if (!a.resume.empty() && !a.run_dir.empty() && a.resume != a.run_dir)
        throw UserError("--resume and --run-dir name different directories; give one");
    ro.resume = !a.resume.empty();
    ro.run_dir = ro.resume ? a.resume : (a.run_dir.empty() ? default_run_dir(flow).string() : a.run_dir);

    ProgressReporter reporter(stderr, a.quiet);
    ro.on_progress = [&](const Progress& p) { reporter(p); };
    g_stop = false;
    g_stop_now_message =
        "\nsynthforge: stopped at once on a second signal; the batch in flight is redone by --resume " +
        ro.run_dir.string() + "\n";
    ro.stop_requested = &g_stop;
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);

    RunSummary s;
    try {
        s = run_flow(flow, ro);
    } catch (const RunInterrupted&) {
        std::string cmd = "synthforge run " + a.flow;
        for (const auto& i : a.inputs) cmd += " -i " + i;
        if (!a.output.empty()) cmd += " -o " + a.output;
        for (const auto& v : a.sets) cmd += " --set " + v;
        if (a.seed) cmd += " --seed " + std::to_string(a.seed);
        if (ro.shard.sharded()) cmd += " --shard " + ro.shard.str();
        if (!a.report.empty()) cmd += " --report " + a.report;
        cmd += " --resume " + ro.run_dir.string();
        throw RunInterrupted("interrupted; finished batches are saved in " + ro.run_dir.string() +
                             ". Continue with:\n  " + cmd);
    } catch (const RunError& e) {
        throw RunError(std::string(e.what()) + "\nThe run store in " + ro.run_dir.string() +
                       " is intact: fix the cause and continue with --resume " + ro.run_dir.string());
    }
    if (!a.quiet) {
        fmt::print(stderr, "{} {} rows in, {} out, {} rejected in {:.2f} s -> {}\n",
                   s.resumed ? "resumed and done:" : "done:", s.rows_in, s.rows_out, s.rows_rejected, s.seconds,
                   s.output.string());
        for (const auto& b : s.blocks)
            fmt::print(stderr, "  {:<20} {:<12} in {:>9}  out {:>9}  rejected {:>9}\n", b.name, b.type, b.rows_in,
                       b.rows_out, b.rows_rejected);
        if (s.rows_rejected) fmt::print(stderr, "rejected rows with reasons: {}\n", s.rejects.string());
        fmt::print(stderr, "run directory: {}\n", s.run_dir.string());
        if (ro.shard.sharded())
            fmt::print(stderr, "shard {}: join the shards with `synthforge merge RUN_DIR... -o OUTPUT`\n",
                       ro.shard.str());
    }
    if (!a.report.empty()) {
        report::ReportOptions rep;
        rep.input = s.output;
        rep.input_format = a.output_format;
        rep.run_dir = s.run_dir;
        rep.seed = a.seed;
        try {
            report::ReportOutcome out = report::write_report(rep, a.report, {});
            if (!a.quiet) fmt::print(stderr, "report ({} flags): {}\n", out.flags.size(), a.report);
        } catch (const std::exception& e) {
            throw RunError(fmt::format("the run finished (output in {}) but its report could not be written: {}",
                                       s.output.string(), e.what()));
        }
    }
    if (s.llm_failures) {
        // The run finished and every row is accounted for, but some model calls failed:
        // scripts must notice, so the exit code says so.
        fmt::print(stderr,
                   "synthforge: {} LLM request{} failed after all attempts; their records are in {} with the "
                   "reason\n",
                   s.llm_failures, s.llm_failures == 1 ? "" : "s", s.rejects.string());
        return 1;
    }
    return 0;
}

}  // namespace

Command add_run_command(CLI::App& app) {
    auto args = std::make_shared<RunArgs>();
    auto* cmd = app.add_subcommand("run", "Run a flow over input records");
    cmd->add_option("flow", args->flow, "Flow file, or the name of a built-in flow (see `synthforge init --list`)")
        ->required();
    cmd->add_option("-i,--input", args->inputs, "Input file (jsonl, json, csv, txt); repeat to read several in order");
    cmd->add_option("-o,--output", args->output, "Output file (.jsonl, .json, .csv); default RUN_DIR/output.jsonl");
    cmd->add_option("--set", args->sets, "Override a flow parameter: NAME=VALUE (repeatable)");
    cmd->add_option("--allow-path", args->allow_paths,
                    "Let the flow read files in this folder (or this file) outside its own folder (repeatable)");
    cmd->add_option("--run-dir", args->run_dir, "Run directory (default runs/<flow>-<timestamp>)");
    cmd->add_option("--resume", args->resume, "Continue the run in this run directory");
    cmd->add_option("--seed", args->seed, "Seed for every random choice in the flow")->capture_default_str();
    cmd->add_option("--dry-run", args->dry_run, "Run the first N records in memory, print the rows, write nothing");
    cmd->add_option("--format", args->input_format, "Input format when the extension does not say it")
        ->check(CLI::IsMember({"jsonl", "json", "csv", "txt", "text"}));
    cmd->add_option("--output-format", args->output_format, "Output format when the extension does not say it")
        ->check(CLI::IsMember({"jsonl", "json", "csv"}));
    cmd->add_option("--text-unit", args->text_unit,
                    "Plain-text inputs: a record per line, per paragraph, or per file (document: text and source)")
        ->check(CLI::IsMember({"line", "paragraph", "document"}))
        ->capture_default_str();
    cmd->add_option("--on-bad-record", args->on_bad_record,
                    "fail: stop at the first bad input record; skip: count it and write it to the rejects")
        ->check(CLI::IsMember({"fail", "skip"}))
        ->capture_default_str();
    cmd->add_option("--rejects", args->rejects, "Also write the rejected rows here (RUN_DIR/rejects.jsonl always)");
    cmd->add_option("--batch-size", args->batch_size, "Rows per batch: the unit of memory and of checkpoints")
        ->check(CLI::Range(1, 10'000'000))
        ->capture_default_str();
    cmd->add_option("--report", args->report,
                    "After the run, write the HTML quality report of the output here (see `synthforge report`)");
    cmd->add_option("--plugin", args->plugins, "Load a plugin (.so) that adds block types (repeatable)");
    cmd->add_option("--shard", args->shard,
                    "Run only shard I of N (0-based I/N: a contiguous slice of the input records), or 'auto' from "
                    "SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX + SYNTHFORGE_SHARD_COUNT; join shards with "
                    "`synthforge merge`");
    cmd->add_flag("-q,--quiet", args->quiet, "No progress or summary on stderr");
    return [args] { return run(*args); };
}

}  // namespace synthforge::cli
