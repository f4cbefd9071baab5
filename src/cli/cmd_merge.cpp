// synthforge merge RUN_DIR... -o OUTPUT [--dedup exact|minhash|none]: joins the run
// directories of a sharded run (`synthforge run --shard I/N`) into one output.
//
// Shards are contiguous slices of the input (see engine/shard.h), so concatenating
// their outputs in shard order restores the single run's record order. Each shard's
// rows are read from its run store (the canonical JSON lines the run wrote), not from
// its output file, so the shards' -o format does not matter. Duplicates across shards
// are then removed with the same dedup blocks `synthforge dedup` uses, run as a
// one-block flow, and every dropped row lands in the merged rejects with its reason.
#include "../engine/run_identity.h"
#include "commands.h"
#include "synthforge/data/format.h"
#include "synthforge/data/reader.h"
#include "synthforge/data/writer.h"
#include "synthforge/engine/executor.h"
#include "synthforge/engine/run_store.h"
#include "synthforge/errors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unistd.h>
#include <chrono>
#include <optional>
#include <set>

namespace synthforge::cli {
namespace {

namespace fs = std::filesystem;

// The block name dedup rejects carry in `_rejected_by`.
constexpr const char* kMergeDedupBlock = "merge_dedup";

struct MergeArgs {
    std::vector<std::string> run_dirs;
    std::string output;
    std::string output_format;
    std::string rejects;
    std::string dedup = "exact";
    std::vector<std::string> fields;
    std::optional<double> threshold;
    std::vector<std::string> allowed_param_differences = {"base_url", "api_key_env", "concurrency"};
    bool quiet = false;
};

struct ShardRun {
    fs::path dir;
    Json identity;
    uint64_t index = 0;
    uint64_t count = 0;
    int last_stage = 0;
    std::unique_ptr<RunStore> store;
};

ShardRun open_shard(const fs::path& dir) {
    ShardRun run;
    run.dir = dir;
    auto db = dir / "run.sqlite";
    if (!fs::exists(db)) throw UserError(dir.string() + " is not a run directory (no run.sqlite)");
    run.store = std::make_unique<RunStore>(db);
    auto identity = run.store->meta("identity");
    if (!identity) throw UserError(dir.string() + ": its run store is incomplete (no identity)");
    run.identity = Json::parse(*identity);
    if (!run.identity.contains("shard"))
        throw UserError(dir.string() +
                        " holds an unsharded run; merge joins runs made with `synthforge run --shard I/N`");
    run.index = run.identity["shard"].value("index", uint64_t{0});
    run.count = run.identity["shard"].value("count", uint64_t{0});
    if (!run.store->meta("finished_at"))
        throw UserError(
            fmt::format("shard {}/{} in {} has not finished: resume it (synthforge run ... --shard {}/{} "
                        "--resume {}) and merge again",
                        run.index, run.count, dir.string(), run.index, run.count, dir.string()));
    // The last stage is the output: stages are 0 (reading the inputs) and one per barrier block.
    while (run.store->meta("stage_" + std::to_string(run.last_stage + 1) + "_complete")) ++run.last_stage;
    return run;
}

// What must be equal between shards: the identity without the shard, the input paths (shards
// may see the inputs under different mounts: the content hashes must match) and the
// parameters allowed to differ (each shard may talk to its own endpoint).
Json comparable(Json identity, const std::set<std::string>& allowed) {
    identity.erase("shard");
    for (auto& input : identity["inputs"]) input["path"] = "";
    auto& params = identity["flow"]["params"];
    for (const auto& p : allowed)
        if (params.contains(p)) params[p] = nullptr;
    return identity;
}

void check_same_run(const ShardRun& first, const ShardRun& other, const std::set<std::string>& allowed) {
    if (other.count != first.count)
        throw UserError(
            fmt::format("{} is shard {}/{} but {} is shard {}/{}: all shards must come from one "
                        "--shard split",
                        other.dir.string(), other.index, other.count, first.dir.string(), first.index, first.count));
    Json a = comparable(first.identity, allowed), b = comparable(other.identity, allowed);
    Json fa = a["flow"], fb = b["flow"];
    fa.erase("fingerprint");
    fb.erase("fingerprint");
    if (a.value("seed", Json()) == b.value("seed", Json()) && a["inputs"] == b["inputs"] && fa == fb) return;
    // Different: let the resume diagnostics say how (with fingerprints made to differ so the flow is diffed).
    a["flow"]["fingerprint"] = "first";
    b["flow"]["fingerprint"] = "other";
    std::string msg =
        fmt::format("{} (shard {}/{}) and {} (shard {}/{}) are not shards of one run:", first.dir.string(), first.index,
                    first.count, other.dir.string(), other.index, other.count);
    for (const auto& c : detail::describe_identity_changes(a, b)) msg += "\n  - " + c;
    msg += "\nParameters allowed to differ between shards: ";
    for (const auto& p : allowed) msg += p + " ";
    msg += "(--allow-param-difference adds more)";
    throw UserError(msg);
}

void for_each_line(std::string_view chunk, const std::function<void(std::string_view)>& fn) {
    size_t start = 0;
    while (start < chunk.size()) {
        size_t end = chunk.find('\n', start);
        if (end == std::string_view::npos) end = chunk.size();
        if (end > start) fn(chunk.substr(start, end - start));
        start = end + 1;
    }
}

// A scratch directory for the dedup pass, removed however the merge ends.
struct ScratchDir {
    fs::path path;
    ScratchDir() {
        path = fs::temp_directory_path() / fmt::format("synthforge-merge-{}-{}", getpid(),
                                                       std::chrono::steady_clock::now().time_since_epoch().count());
        fs::create_directories(path);
    }
    ~ScratchDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

BlockSpec dedup_block(const MergeArgs& a, const std::vector<std::string>& all_columns) {
    BlockSpec spec;
    spec.name = kMergeDedupBlock;
    if (a.dedup == "exact") {
        spec.type = "dedup_exact";
        // Without --field, a row is a duplicate when every column matches (after dedup_exact's
        // light normalisation: case and whitespace).
        spec.config = {{"columns", a.fields.empty() ? all_columns : a.fields}};
    } else {
        if (a.fields.size() != 1) throw UserError("--dedup minhash compares the text of one --field");
        spec.type = "dedup_minhash";
        spec.config = {{"column", a.fields[0]}, {"threshold", a.threshold.value_or(0.8)}};
    }
    return spec;
}

int merge(const MergeArgs& a) {
    if (a.dedup == "none" && (!a.fields.empty() || a.threshold))
        throw UserError("--field and --threshold choose how to dedup; they do nothing with --dedup none");
    std::set<std::string> allowed(a.allowed_param_differences.begin(), a.allowed_param_differences.end());
    std::vector<ShardRun> runs;
    for (const auto& d : a.run_dirs) runs.push_back(open_shard(d));
    for (size_t i = 1; i < runs.size(); ++i) check_same_run(runs[0], runs[i], allowed);
    if (runs[0].identity["flow"].value("fingerprint", "") != "")
        for (size_t i = 1; i < runs.size(); ++i)
            if (runs[i].identity["flow"].value("fingerprint", "") !=
                    runs[0].identity["flow"].value("fingerprint", "") &&
                !a.quiet) {
                fmt::print(stderr,
                           "note: the shards' flows differ in settings outside params and blocks (such as --set "
                           "llm.* or sampling.*) or in the parameters {} allows to differ\n",
                           "--allow-param-difference");
                break;
            }

    // Every shard exactly once.
    const uint64_t count = runs[0].count;
    std::vector<ShardRun*> by_index(count, nullptr);
    for (auto& r : runs) {
        if (by_index[r.index])
            throw UserError(fmt::format("shard {}/{} is given twice: {} and {}", r.index, count,
                                        by_index[r.index]->dir.string(), r.dir.string()));
        by_index[r.index] = &r;
    }
    std::vector<std::string> missing;
    for (uint64_t i = 0; i < count; ++i)
        if (!by_index[i]) missing.push_back(fmt::format("{}/{}", i, count));
    if (!missing.empty()) {
        std::string msg =
            fmt::format("shard{} {} {} missing: give every shard's run directory (", missing.size() == 1 ? "" : "s",
                        fmt::join(missing, ", "), missing.size() == 1 ? "is" : "are");
        msg += fmt::format("the default for shard I is runs/{}.shard-I-of-{})",
                           runs[0].identity["flow"]["name"].get<std::string>(), count);
        throw UserError(msg);
    }

    fs::path output = a.output;
    Format format = resolve_format(output, a.output_format);
    // Default: beside the output, "out.jsonl" -> "out.rejects.jsonl".
    fs::path rejects = a.rejects;
    if (rejects.empty()) rejects = fs::path(output).replace_extension("").string() + ".rejects.jsonl";
    uint64_t rows_in = 0, rows_out = 0, rejects_out = 0, dropped = 0;

    auto rejects_writer = open_writer(rejects, Format::jsonl);
    for (ShardRun* r : by_index)
        r->store->for_each_rejected([&](std::string_view chunk) {
            for_each_line(chunk, [&](std::string_view line) {
                rejects_writer->write_json_line(line);
                ++rejects_out;
            });
        });

    if (a.dedup == "none") {
        WriteOptions wo;
        if (format == Format::csv) {
            std::set<std::string> seen;
            for (ShardRun* r : by_index)
                r->store->for_each_output(r->last_stage, [&](std::string_view chunk) {
                    for_each_line(chunk, [&](std::string_view line) {
                        Record row = parse_json_line(line, "stored row");
                        for (const auto& [k, _] : row.items())
                            if (seen.insert(k).second) wo.csv_columns.push_back(k);
                    });
                });
        }
        auto writer = open_writer(output, format, wo);
        for (ShardRun* r : by_index)
            r->store->for_each_output(r->last_stage, [&](std::string_view chunk) {
                for_each_line(chunk, [&](std::string_view line) {
                    writer->write_json_line(line);
                    ++rows_in;
                });
            });
        writer->commit();
        rows_out = rows_in;
    } else {
        // The shards' rows in order into one scratch JSONL, then the dedup block over it.
        ScratchDir scratch;
        fs::path joined = scratch.path / "joined.jsonl";
        std::vector<std::string> columns;
        {
            std::set<std::string> seen;
            auto writer = open_writer(joined, Format::jsonl);
            for (ShardRun* r : by_index)
                r->store->for_each_output(r->last_stage, [&](std::string_view chunk) {
                    for_each_line(chunk, [&](std::string_view line) {
                        writer->write_json_line(line);
                        ++rows_in;
                        if (a.dedup == "exact" && a.fields.empty()) {
                            Record row = parse_json_line(line, "stored row");
                            for (const auto& [k, _] : row.items())
                                if (seen.insert(k).second) columns.push_back(k);
                        }
                    });
                });
            writer->commit();
        }
        if (rows_in == 0) {
            open_writer(output, format)->commit();
        } else {
            Flow flow;
            flow.path = fs::current_path() / "merge";
            flow.name = "merge";
            flow.blocks.push_back(dedup_block(a, columns));
            RunOptions ro;
            ro.inputs = {joined};
            ro.output = output;
            ro.output_format = a.output_format;
            ro.run_dir = scratch.path / "run";
            RunSummary s = run_flow(flow, ro);
            rows_out = s.rows_out;
            dropped = s.rows_rejected;
            // The dropped duplicates follow the shards' own rejects.
            auto reader = open_reader(s.rejects, {});
            Record row;
            SourcePos pos;
            while (reader->next(row, pos)) {
                rejects_writer->write(row);
                ++rejects_out;
            }
        }
    }
    rejects_writer->commit();
    if (!a.quiet) {
        fmt::print(stderr, "merged {} shards: {} rows", count, rows_in);
        if (a.dedup != "none") fmt::print(stderr, ", {} duplicates dropped ({})", dropped, a.dedup);
        fmt::print(stderr, ", {} out -> {}\n", rows_out, output.string());
        fmt::print(stderr, "rejected rows with reasons ({}): {}\n", rejects_out, rejects.string());
    }
    return 0;
}

}  // namespace

Command add_merge_command(CLI::App& app) {
    auto args = std::make_shared<MergeArgs>();
    auto* cmd = app.add_subcommand(
        "merge", "Join the run directories of a sharded run (run --shard I/N) in input order, with global dedup");
    cmd->add_option("run_dirs", args->run_dirs, "Run directories of the shards, all N of them, in any order")
        ->required();
    cmd->add_option("-o,--output", args->output, "Merged output file (.jsonl, .json, .csv)")->required();
    cmd->add_option("--output-format", args->output_format, "Output format when the extension does not say it")
        ->check(CLI::IsMember({"jsonl", "json", "csv"}));
    cmd->add_option("--rejects", args->rejects,
                    "Merged rejected rows: every shard's, then the dropped duplicates (default "
                    "OUTPUT-without-extension.rejects.jsonl)");
    cmd->add_option("--dedup", args->dedup,
                    "Drop duplicates across shards: exact (normalised text of --field columns, or of the whole row), "
                    "minhash (near-duplicates of one --field), none")
        ->check(CLI::IsMember({"exact", "minhash", "none"}))
        ->capture_default_str();
    cmd->add_option("--field", args->fields, "Column compared by the dedup (repeat for exact)");
    cmd->add_option("--threshold", args->threshold,
                    "minhash: drop a row whose shingle Jaccard with a kept row is at least this (default 0.8)")
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--allow-param-difference", args->allowed_param_differences,
                    "A flow parameter that may differ between shards (repeatable; replaces the default list)")
        ->capture_default_str();
    cmd->add_flag("-q,--quiet", args->quiet, "No summary");
    return [args] { return merge(*args); };
}

}  // namespace synthforge::cli
