#include "synthforge/engine/executor.h"

#include "run_identity.h"
#include "synthforge/data/seed_schema.h"
#include "synthforge/data/writer.h"
#include "synthforge/engine/registry.h"
#include "synthforge/engine/run_store.h"
#include "synthforge/errors.h"
#include "synthforge/llm/client_pool.h"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <memory>
#include <set>

namespace synthforge {
namespace {

using Clock = std::chrono::steady_clock;

// Counts of the input reader itself (records read, bad records) under this key.
constexpr const char* kInputCounts = "(input)";

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string utc_now() {
    std::time_t t = std::time(nullptr);
    return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(t));
}

// Rows leave a batch as canonical JSON lines: the run store keeps them so, and the
// final writers read them back in order.
void append_lines(std::string& out, const std::vector<Record>& rows) {
    for (const auto& r : rows) {
        out += to_json_line(r);
        out += '\n';
    }
}

// All inputs, read in order as one stream of records, with a position that survives a restart.
class InputStream {
  public:
    // `generate`: with no input files, the stream is this many records {"index": i}.
    InputStream(const RunOptions& options, const Limits& limits, std::function<void(const BadRecord&)> on_bad,
                uint64_t generate = 0)
        : paths_(options.inputs), generate_(paths_.empty() ? generate : 0) {
        bytes_total_ = generate_;  // progress counts generated records as "bytes"
        read_options_.max_record_bytes = limits.max_record_bytes;
        read_options_.format = options.input_format;
        read_options_.text_unit = options.text_unit;
        read_options_.skip_bad_records = options.skip_bad_records;
        read_options_.on_bad_record = std::move(on_bad);
        for (const auto& p : paths_) {
            std::error_code ec;
            bytes_total_ += std::filesystem::file_size(p, ec);
        }
        if (options.shard.sharded()) start_shard(options.shard);
    }

    // Sharded (--shard I/N): only records [first_, last_) of the whole stream come out. A bad
    // input record belongs to the shard of the next good record after it (the last shard
    // takes those after the final one), so each is rejected by exactly one shard.
    bool next(Record& out, SourcePos& pos) {
        if (!sharded_) return next_record(out, pos);
        while (true) {
            if (seen_ >= last_ && !last_shard_) return false;  // the rest belongs to later shards
            if (!next_record(out, pos)) return false;
            if (seen_++ >= first_) return true;
        }
    }

  private:
    void start_shard(const ShardSpec& shard) {
        // Contiguous slices need the record count: one counting pass over the inputs
        // (the run's identity hashes them all anyway). Generated rows are counted already.
        uint64_t total = generate_;
        if (!generate_) {
            ReadOptions counting = read_options_;
            counting.on_bad_record = [](const BadRecord&) {};
            for (const auto& p : paths_) {
                auto reader = open_reader(p, counting);
                Record rec;
                SourcePos pos;
                while (reader->next(rec, pos)) ++total;
            }
        }
        std::tie(first_, last_) = shard_range(total, shard);
        if (generate_) {
            // Generated rows carry their global index, so the slice is just a narrower range.
            generated_ = first_;
            generate_ = last_;
            return;
        }
        last_shard_ = shard.index + 1 == shard.count;
        total_ = total;
        sharded_ = true;
        auto forward = std::move(read_options_.on_bad_record);
        read_options_.on_bad_record = [this, forward](const BadRecord& bad) {
            if (forward && ((seen_ >= first_ && seen_ < last_) || (last_shard_ && seen_ >= total_))) forward(bad);
        };
    }

    bool next_record(Record& out, SourcePos& pos) {
        if (generate_) {
            if (generated_ >= generate_) return false;
            out = Record{{"index", generated_}};
            pos = SourcePos{"(input.rows)", generated_ + 1};
            ++generated_;
            return true;
        }
        while (file_ < paths_.size()) {
            if (!reader_) reader_ = open_reader(paths_[file_], read_options_);
            if (reader_->next(out, pos)) return true;
            bytes_done_ += reader_->total_bytes();
            reader_.reset();
            ++file_;
        }
        return false;
    }

  public:
    Json position() const {
        if (generate_) return {{"file", 0}, {"generated", generated_}};
        Json p = {{"file", file_}};
        if (sharded_) p["shard_seen"] = seen_;
        if (reader_) {
            auto rp = reader_->position();
            p["offset"] = rp.offset;
            p["line"] = rp.line;
            p["records"] = rp.records;
        }
        return p;
    }

    void seek(const Json& p) {
        if (generate_) {
            generated_ = p.value("generated", uint64_t{0});
            return;
        }
        file_ = p.at("file").get<size_t>();
        seen_ = p.value("shard_seen", uint64_t{0});
        reader_.reset();
        bytes_done_ = 0;
        for (size_t i = 0; i < file_ && i < paths_.size(); ++i) {
            std::error_code ec;
            bytes_done_ += std::filesystem::file_size(paths_[i], ec);
        }
        if (p.contains("offset") && file_ < paths_.size()) {
            reader_ = open_reader(paths_[file_], read_options_);
            reader_->seek({p["offset"].get<uint64_t>(), p["line"].get<uint64_t>(), p["records"].get<uint64_t>()});
        }
    }

    uint64_t bytes_read() const {
        return generate_ ? generated_ : bytes_done_ + (reader_ ? reader_->position().offset : 0);
    }
    uint64_t bytes_total() const { return bytes_total_; }

  private:
    std::vector<std::filesystem::path> paths_;
    ReadOptions read_options_;
    size_t file_ = 0;
    std::unique_ptr<RecordReader> reader_;
    uint64_t bytes_total_ = 0;
    uint64_t bytes_done_ = 0;
    uint64_t generate_ = 0;
    uint64_t generated_ = 0;
    bool sharded_ = false;
    bool last_shard_ = false;
    uint64_t first_ = 0, last_ = 0, total_ = 0;  // this shard's records [first_, last_) of total_
    uint64_t seen_ = 0;                          // good records read so far, all shards' included
};

// Rows of the previous stage, read back from the run store for a barrier block.
class StoredRows : public RowSource {
  public:
    StoredRows(const RunStore& store, int stage) : store_(store), stage_(stage), size_(store.output_count(stage)) {}
    uint64_t size() const override { return size_; }
    void for_each(const std::function<void(uint64_t, Record&&)>& fn) const override {
        uint64_t i = 0;
        store_.for_each_output(stage_, [&](std::string_view chunk) {
            size_t start = 0;
            while (start < chunk.size()) {
                size_t end = chunk.find('\n', start);
                if (end == std::string_view::npos) end = chunk.size();
                if (end > start) fn(i++, parse_json_line(chunk.substr(start, end - start), "stored row"));
                start = end + 1;
            }
        });
    }

  private:
    const RunStore& store_;
    int stage_;
    uint64_t size_;
};

struct Stage {
    std::vector<size_t> blocks;  // indices into the flow's blocks; a barrier first when stage > 0
};

// A bad input record as a rejected row: where it came from and its raw text.
Record input_reject_row(const BadRecord& bad) {
    return {
        {kRejectedByColumn, "input"}, {kReasonColumn, bad.reason}, {kSourceColumn, bad.pos.str()}, {"_raw", bad.raw}};
}

std::string input_requirement(const InputSpec& spec) {
    return spec.schema == SeedSchema::any
               ? ""
               : " (the flow's input needs " + std::string(seed_schema_name(spec.schema)) + " records)";
}

BlockEnv block_env(const Flow& flow, const RunOptions& options) {
    BlockEnv env;
    env.seed = options.seed;
    env.flow_dir = flow.path.parent_path();
    env.allowed_paths = flow.allowed_paths;
    env.batch_size = options.batch_size;
    env.llm_defaults = flow.llm_defaults;
    env.llm_overrides = flow.llm_overrides;
    env.sampling_defaults = flow.sampling_defaults;
    env.sampling_overrides = flow.sampling_overrides;
    env.input_paths = options.inputs;
    env.limits = flow.limits;
    return env;
}

// One block as the executor runs it. A `flow` block is replaced by its sub-flow's blocks
// (recursively), so their barriers become stages and their work is checkpointed batch by
// batch like any block. Inside a sub-flow a block keeps its own name — its random draws and
// request seeds derive from it, so the sub-flow's rows equal those of the sub-flow run alone —
// while the run store, counts and rejects know it as "<flow block>/<name>".
struct ExpandedBlock {
    std::string name;      // qualified: unique in the run
    std::string own_name;  // the name in its own flow file
    std::string type;
    Json config;
    Json when;
    std::filesystem::path flow_dir;  // its flow file's folder: prompt and data files resolve here
    Json llm_defaults;               // its flow file's `llm:` and `sampling:`
    Json sampling_defaults;
};

void expand_blocks(const Json& blocks, const std::string& prefix, const std::filesystem::path& dir,
                   const Json& llm_defaults, const Json& sampling_defaults, std::vector<ExpandedBlock>& out) {
    for (const auto& b : blocks) {
        const std::string name = b.at("name").get<std::string>();
        const std::string type = b.at("type").get<std::string>();
        const Json& config = b.at("config");
        if (type == kFlowType) {
            if (!config.contains("resolved"))
                throw std::logic_error("flow block '" + prefix + name + "' was not resolved by the loader");
            const Json& sub = config["resolved"];
            auto sub_dir = (dir / std::filesystem::path(config.at("file").get<std::string>()).parent_path());
            expand_blocks(sub.at("blocks"), prefix + name + "/", sub_dir.lexically_normal(), sub.at("llm"),
                          sub.at("sampling"), out);
            continue;
        }
        out.push_back(
            {prefix + name, name, type, config, b.value("when", Json()), dir, llm_defaults, sampling_defaults});
    }
}

std::vector<ExpandedBlock> expand_flow(const Flow& flow) {
    Json blocks = Json::array();
    for (const auto& b : flow.blocks) {
        Json item = {{"name", b.name}, {"type", b.type}, {"config", b.config}};
        if (!b.when.is_null()) item["when"] = b.when;
        blocks.push_back(std::move(item));
    }
    std::vector<ExpandedBlock> out;
    expand_blocks(blocks, "", flow.path.parent_path(), flow.llm_defaults, flow.sampling_defaults, out);
    return out;
}

std::unique_ptr<Block> make_expanded(const ExpandedBlock& b, BlockEnv env) {
    env.flow_dir = b.flow_dir;
    env.llm_defaults = b.llm_defaults;
    env.sampling_defaults = b.sampling_defaults;
    return make_block(b.own_name, b.type, b.config, b.when, env);
}

class Executor {
  public:
    Executor(const Flow& flow, const RunOptions& options) : flow_(flow), options_(options) {}

    RunSummary run() {
        start_ = Clock::now();
        prepare_run_dir();
        instantiate_blocks();
        plan_stages();
        for (size_t s = 0; s < stages_.size(); ++s) {
            current_stage_ = static_cast<int>(s);
            std::string done_key = "stage_" + std::to_string(s) + "_complete";
            if (store_->meta(done_key)) continue;
            if (s == 0)
                run_input_stage();
            else
                run_barrier_stage(static_cast<int>(s));
            store_->set_meta(done_key, utc_now());
        }
        return finish();
    }

  private:
    // A probe file rather than access(): it asks the file system itself, so a network file
    // system squashing root, ACLs and other server-side checks answer too.
    static void check_output_writable(const std::filesystem::path& output) {
        const auto parent = std::filesystem::absolute(output).parent_path();
        std::error_code ec;
        if (!std::filesystem::is_directory(parent, ec))
            throw UserError("cannot write " + output.string() + ": " + parent.string() +
                            (std::filesystem::exists(parent, ec) ? " is not a directory" : " does not exist"));
        auto probe = output;
        probe += ".probe-" + std::to_string(::getpid());  // not the writer's .tmp- name
        const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd < 0) throw UserError("cannot write " + output.string() + ": " + std::strerror(errno));
        ::close(fd);
        ::unlink(probe.c_str());
    }

    bool inside_run_dir(const std::filesystem::path& path) const {
        const auto dir = std::filesystem::absolute(options_.run_dir).lexically_normal();
        const auto parent = std::filesystem::absolute(path).lexically_normal().parent_path();
        auto [d, p] = std::mismatch(dir.begin(), dir.end(), parent.begin(), parent.end());
        return d == dir.end();
    }

    void prepare_run_dir() {
        if (options_.run_dir.empty()) throw UserError("no run directory given");
        // Before any work and before a run store exists: an output that cannot be written
        // would otherwise fail only at the end, after every model call was paid for.
        // An output inside the run directory (the CLI's default) is checked once that exists, below.
        if (!options_.output.empty() && !inside_run_dir(options_.output)) check_output_writable(options_.output);
        std::error_code ec;
        auto db = options_.run_dir / "run.sqlite";
        Json identity = detail::run_identity(flow_, options_.inputs, options_.seed, options_.shard);
        if (options_.resume) {
            if (!std::filesystem::exists(db))
                throw UserError("cannot resume " + options_.run_dir.string() + ": it holds no run (no run.sqlite)");
            store_ = std::make_unique<RunStore>(db);
            auto stored = store_->meta("identity");
            if (!stored)
                throw UserError("cannot resume " + options_.run_dir.string() + ": its run store is incomplete");
            auto changes = detail::describe_identity_changes(Json::parse(*stored), identity);
            if (!changes.empty()) {
                std::string msg =
                    "cannot resume " + options_.run_dir.string() + ": the run differs from the one it holds:";
                for (const auto& c : changes) msg += "\n  - " + c;
                msg += "\nStart a new run (another --run-dir) or restore what changed.";
                throw UserError(msg);
            }
            resumed_ = true;
            store_->set_meta("resumes", std::to_string(std::stoi(store_->meta("resumes").value_or("0")) + 1));
        } else {
            if (std::filesystem::exists(db))
                throw UserError("run directory " + options_.run_dir.string() +
                                " holds a run already; continue it with --resume " + options_.run_dir.string() +
                                " or choose another --run-dir");
            std::filesystem::create_directories(options_.run_dir, ec);
            if (ec) throw RunError("cannot create run directory " + options_.run_dir.string() + ": " + ec.message());
            store_ = std::make_unique<RunStore>(db);
            store_->set_meta("identity", identity.dump());
            store_->set_meta("started_at", utc_now());
        }
        identity_ = std::move(identity);
        output_ = options_.output.empty() ? options_.run_dir / "output.jsonl" : options_.output;
        // Fail before any work when the output cannot be named or placed.
        output_format_ = resolve_format(output_, options_.output_format);
        auto parent = std::filesystem::absolute(output_).parent_path();
        if (!std::filesystem::is_directory(parent))
            throw UserError("cannot write " + output_.string() + ": directory " + parent.string() + " does not exist");
        write_metadata("running", "");
    }

    void instantiate_blocks() {
        pool_ = std::make_unique<llm::ClientPool>(store_.get(), flow_.path.parent_path());
        BlockEnv env = block_env(flow_, options_);
        env.llm = pool_.get();
        env.on_progress = [this] { report_progress(current_stage_, false); };
        for (const auto& b : expand_flow(flow_)) {
            auto block = make_expanded(b, env);
            auto deltas = store_->state_deltas(b.name);
            if (!deltas.empty()) block->restore_state(deltas);
            blocks_.push_back(std::move(block));
            stats_.push_back({b.name, b.type});
        }
    }

    void plan_stages() {
        stages_.emplace_back();
        for (size_t i = 0; i < blocks_.size(); ++i) {
            if (blocks_[i]->needs_all_rows()) stages_.emplace_back();
            stages_.back().blocks.push_back(i);
        }
    }

    // Runs rows through the streaming blocks [first, end) of a stage, committing the result.
    void process_and_commit(int stage, uint64_t index, std::vector<Record> rows, size_t first, std::string rejected,
                            uint64_t rejected_count, std::string reader_position, Json counts = Json::object(),
                            std::map<std::string, std::string> state_deltas = {}) {
        BatchCommit commit;
        commit.state_deltas = std::move(state_deltas);
        commit.stage = stage;
        commit.index = index;
        const auto& ids = stages_[stage].blocks;
        for (size_t k = first; k < ids.size(); ++k) {
            size_t id = ids[k];
            Block& block = *blocks_[id];
            const std::string& name = stats_[id].name;  // sub-flow blocks: "<flow block>/<name>"
            Emitter emitter(name);
            uint64_t in = rows.size();
            auto t0 = Clock::now();
            block.process(std::move(rows), emitter);
            double dt = seconds_since(t0);
            rows = std::move(emitter.rows());
            append_lines(rejected, emitter.rejected());
            rejected_count += emitter.rejected().size();
            record_counts(counts, id, in, rows.size(), emitter.rejected().size(), dt);
            if (auto delta = block.take_state_delta(); !delta.empty()) commit.state_deltas[name] = std::move(delta);
        }
        append_lines(commit.output_rows, rows);
        commit.output_count = rows.size();
        commit.rejected_rows = std::move(rejected);
        commit.rejected_count = rejected_count;
        commit.counts = std::move(counts);
        commit.reader_position = std::move(reader_position);
        store_->commit_batch(commit);
        rows_out_session_ += stage + 1 == static_cast<int>(stages_.size()) ? commit.output_count : 0;
        rejected_session_ += commit.rejected_count;
        report_progress(stage, false);
        if (options_.stop_requested && options_.stop_requested->load())
            throw RunInterrupted("stopped on request after batch " + std::to_string(index) + " of stage " +
                                 std::to_string(stage));
    }

    void record_counts(Json& counts, size_t id, uint64_t in, uint64_t out, uint64_t rejected, double seconds) {
        auto& c = counts[stats_[id].name];
        if (!c.is_object()) c = Json::object();
        c["rows_in"] = c.value("rows_in", uint64_t{0}) + in;
        c["rows_out"] = c.value("rows_out", uint64_t{0}) + out;
        c["rows_rejected"] = c.value("rows_rejected", uint64_t{0}) + rejected;
        stats_[id].seconds += seconds;
        // Live counts for progress; finish() recomputes totals from the store.
        stats_[id].rows_in += in;
        stats_[id].rows_out += out;
        stats_[id].rows_rejected += rejected;
    }

    void run_input_stage() {
        std::string rejected;
        uint64_t rejected_count = 0;
        auto reject_input = [&](const BadRecord& bad) {
            rejected += to_json_line(input_reject_row(bad));
            rejected += '\n';
            ++rejected_count;
        };
        InputStream input(options_, flow_.limits, reject_input, flow_.input.rows);
        input_ = &input;
        uint64_t index = store_->batches_done(0);
        if (auto pos = store_->last_reader_position()) input.seek(Json::parse(*pos));
        const InputSpec& spec = flow_.input;
        bool check_input = spec.schema != SeedSchema::any || !spec.required_columns.empty();
        while (true) {
            std::vector<Record> rows;
            rows.reserve(options_.batch_size);
            Record rec;
            SourcePos pos;
            bool more = true;
            while (rows.size() < options_.batch_size && (more = input.next(rec, pos))) {
                if (check_input) {
                    if (auto problem = check_seed_record(rec, spec.schema, spec.required_columns)) {
                        if (!options_.skip_bad_records)
                            throw InputError(pos.str() + ": " + *problem + input_requirement(spec));
                        reject_input({pos, *problem, to_json_line(rec)});
                        continue;
                    }
                }
                rows.push_back(std::move(rec));
            }
            if (rows.empty() && rejected_count == 0 && !more) break;
            rows_read_session_ += rows.size() + rejected_count;
            Json counts = {{kInputCounts,
                            {{"rows_in", rows.size() + rejected_count},
                             {"rows_out", rows.size()},
                             {"rows_rejected", rejected_count}}}};
            process_and_commit(0, index++, std::move(rows), 0, std::move(rejected), rejected_count,
                               input.position().dump(), std::move(counts));
            rejected.clear();
            rejected_count = 0;
            if (!more) break;
        }
        input_ = nullptr;
    }

    void run_barrier_stage(int stage) {
        size_t barrier_id = stages_[stage].blocks.front();
        Block& barrier = *blocks_[barrier_id];
        const std::string& barrier_name = stats_[barrier_id].name;
        StoredRows source(*store_, stage - 1);
        const uint64_t done = store_->batches_done(stage);
        // A block that resumes from its own state emits only new rows; any other
        // barrier replays finish() from the start and its committed chunks are skipped.
        uint64_t chunk = barrier.resumes_from_state() ? done : 0;
        Emitter emitter(barrier_name);
        auto t0 = Clock::now();
        // finish() is deterministic, so on resume the chunks already committed are
        // produced again and skipped.
        auto flush = [&](Emitter& e) {
            std::vector<Record> rows = std::move(e.rows());
            std::vector<Record> rejected_rows = std::move(e.rejected());
            e.rows().clear();
            e.rejected().clear();
            uint64_t index = chunk++;
            if (index < done) return;
            stats_[barrier_id].seconds += seconds_since(t0);
            // The barrier saw every row at once: its rows_in is counted on its first chunk.
            Json counts = Json::object();
            counts[barrier_name] = {{"rows_in", index == 0 ? source.size() : 0},
                                    {"rows_out", rows.size()},
                                    {"rows_rejected", rejected_rows.size()}};
            std::string rejected;
            append_lines(rejected, rejected_rows);
            std::map<std::string, std::string> deltas;
            if (auto delta = barrier.take_state_delta(); !delta.empty()) deltas[barrier_name] = std::move(delta);
            process_and_commit(stage, index, std::move(rows), 1, std::move(rejected), rejected_rows.size(), "",
                               std::move(counts), std::move(deltas));
            t0 = Clock::now();
        };
        emitter.set_flush(options_.batch_size, flush);
        barrier.finish(source, emitter);
        if (!emitter.rows().empty() || !emitter.rejected().empty() || (chunk == 0 && source.size() > 0)) flush(emitter);
    }

    RunSummary finish() {
        RunSummary summary;
        summary.run_dir = options_.run_dir;
        summary.output = output_;
        summary.rejects = options_.run_dir / "rejects.jsonl";
        summary.resumed = resumed_;
        int last = static_cast<int>(stages_.size()) - 1;

        // Per-block totals over every batch of the run, including earlier processes.
        for (auto& st : stats_) st.rows_in = st.rows_out = st.rows_rejected = 0;
        for (const auto& counts : store_->batch_counts()) {
            if (counts.contains(kInputCounts)) {
                input_stats_.rows_in += counts[kInputCounts].value("rows_in", uint64_t{0});
                input_stats_.rows_rejected += counts[kInputCounts].value("rows_rejected", uint64_t{0});
            }
            for (size_t i = 0; i < stats_.size(); ++i) {
                if (!counts.contains(stats_[i].name)) continue;
                const auto& c = counts[stats_[i].name];
                stats_[i].rows_in += c.value("rows_in", uint64_t{0});
                stats_[i].rows_out += c.value("rows_out", uint64_t{0});
                stats_[i].rows_rejected += c.value("rows_rejected", uint64_t{0});
            }
        }
        write_output(last);
        summary.rows_out = rows_written_;
        uint64_t rejected = write_rejects(summary.rejects);
        summary.rows_rejected = rejected;
        summary.rows_in = input_stats_.rows_in;
        summary.blocks = stats_;
        summary.seconds = seconds_since(start_);
        for (const auto& b : blocks_)
            if (Json m = b->metrics(); m.is_object()) summary.llm_failures += m.value("failures", uint64_t{0});
        // The block metrics count this process only: after a resume, requests that failed
        // before the kill are known from their rejected rows, so the exit code still says so.
        summary.llm_failures = std::max(summary.llm_failures, llm_failed_rows_);
        store_->set_meta("finished_at", utc_now());
        write_metadata("complete", "", &summary);
        report_progress(last, true);
        return summary;
    }

    void write_output(int last) {
        WriteOptions wo;
        if (output_format_ == Format::csv) wo.csv_columns = csv_columns(last);
        auto writer = open_writer(output_, output_format_, wo);
        rows_written_ = 0;
        store_->for_each_output(last, [&](std::string_view chunk) {
            for_each_line(chunk, [&](std::string_view line) {
                writer->write_json_line(line);
                ++rows_written_;
            });
        });
        writer->commit();
    }

    uint64_t write_rejects(const std::filesystem::path& path) {
        uint64_t n = 0;
        auto write_to = [&](const std::filesystem::path& p) {
            auto writer = open_writer(p, p == path ? Format::jsonl : resolve_format(p, ""));
            n = 0;
            llm_failed_rows_ = 0;
            store_->for_each_rejected([&](std::string_view chunk) {
                for_each_line(chunk, [&](std::string_view line) {
                    writer->write_json_line(line);
                    ++n;
                    // The reason LlmCaller gives a record whose request failed (blocks/llm_call.cpp).
                    if (line.find("\"_reason\":\"LLM request failed: ") != std::string_view::npos) ++llm_failed_rows_;
                });
            });
            writer->commit();
        };
        write_to(path);
        if (!options_.rejects_output.empty()) write_to(options_.rejects_output);
        return n;
    }

    std::vector<std::string> csv_columns(int last) {
        std::vector<std::string> cols;
        std::set<std::string> seen;
        store_->for_each_output(last, [&](std::string_view chunk) {
            for_each_line(chunk, [&](std::string_view line) {
                Record row = parse_json_line(line, "stored row");  // kept alive: items() refers to it
                for (const auto& [k, _] : row.items())
                    if (seen.insert(k).second) cols.push_back(k);
            });
        });
        return cols;
    }

    static void for_each_line(std::string_view chunk, const std::function<void(std::string_view)>& fn) {
        size_t start = 0;
        while (start < chunk.size()) {
            size_t end = chunk.find('\n', start);
            if (end == std::string_view::npos) end = chunk.size();
            if (end > start) fn(chunk.substr(start, end - start));
            start = end + 1;
        }
    }

    void report_progress(int stage, bool finished) {
        if (!options_.on_progress) return;
        Progress p;
        if (pool_) {
            llm::ClientStats t = pool_->totals();
            p.llm_requests = t.requests;
            p.llm_in_flight = t.in_flight;
            p.llm_retries = t.attempts > t.sent ? t.attempts - t.sent : 0;
            p.llm_failures = t.failures;
            p.llm_completion_tokens = t.completion_tokens;
            p.llm_busy_seconds = t.busy_seconds;
        }
        p.stage = stage;
        p.stages = static_cast<int>(stages_.size());
        p.rows_read = rows_read_session_;
        p.bytes_read = input_ ? input_->bytes_read() : 0;
        p.bytes_total = input_ ? input_->bytes_total() : 0;
        p.rows_out = finished ? rows_written_ : rows_out_session_;
        p.rows_rejected = rejected_session_;
        p.elapsed_seconds = seconds_since(start_);
        p.blocks = &stats_;
        p.finished = finished;
        options_.on_progress(p);
    }

    void write_metadata(const std::string& status, const std::string& error, const RunSummary* summary = nullptr) {
        Json m;
        m["synthforge_version"] = SYNTHFORGE_VERSION;
        m["status"] = status;
        if (!error.empty()) m["error"] = error;
        m["flow"] = {{"name", flow_.name},
                     {"path", std::filesystem::absolute(flow_.path).lexically_normal().string()},
                     {"fingerprint", flow_.fingerprint()}};
        m["params"] = flow_.param_values;
        m["seed"] = options_.seed;
        m["inputs"] = identity_["inputs"];
        m["started_at"] = store_->meta("started_at").value_or("");
        m["resumes"] = std::stoi(store_->meta("resumes").value_or("0"));
        if (summary) {
            m["finished_at"] = store_->meta("finished_at").value_or("");
            m["output"] = {
                {"path", output_.string()}, {"format", format_name(output_format_)}, {"rows", summary->rows_out}};
            m["rejects"] = {{"path", summary->rejects.string()}, {"rows", summary->rows_rejected}};
            m["rows_in"] = summary->rows_in;
            m["rows_out"] = summary->rows_out;
            m["rows_rejected"] = summary->rows_rejected;
            m["input_rows_rejected"] = input_stats_.rows_rejected;
            m["seconds"] = summary->seconds;
            Json blocks = Json::array();
            for (size_t i = 0; i < summary->blocks.size(); ++i) {
                const auto& b = summary->blocks[i];
                Json entry = {{"name", b.name},
                              {"type", b.type},
                              {"rows_in", b.rows_in},
                              {"rows_out", b.rows_out},
                              {"rows_rejected", b.rows_rejected},
                              {"seconds", b.seconds}};
                if (i < blocks_.size())
                    if (Json metrics = blocks_[i]->metrics(); !metrics.is_null()) {
                        // A DP block's budget is its own section, next to (not inside) its LLM figures.
                        if (metrics.is_object() && metrics.contains("privacy")) {
                            entry["privacy"] = std::move(metrics["privacy"]);
                            metrics.erase("privacy");
                        }
                        entry[b.type == kRepeatType ? "loop" : "llm"] = std::move(metrics);
                    }
                blocks.push_back(std::move(entry));
            }
            m["blocks"] = blocks;
            if (pool_) {
                Json backends = pool_->stats_json();
                if (!backends.empty()) m["llm_backends"] = std::move(backends);
            }
        }
        write_file_atomic(options_.run_dir / "metadata.json", m.dump(2) + "\n");
    }

    const Flow& flow_;
    const RunOptions& options_;
    Clock::time_point start_;
    std::unique_ptr<RunStore> store_;
    Json identity_;
    bool resumed_ = false;
    std::filesystem::path output_;
    Format output_format_ = Format::jsonl;
    std::unique_ptr<llm::ClientPool> pool_;  // declared before blocks_: blocks hold clients from it
    std::vector<std::unique_ptr<Block>> blocks_;
    std::vector<BlockStats> stats_;
    std::vector<Stage> stages_;
    InputStream* input_ = nullptr;
    uint64_t rows_read_session_ = 0;
    uint64_t rows_out_session_ = 0;
    uint64_t rejected_session_ = 0;
    uint64_t rows_written_ = 0;
    uint64_t llm_failed_rows_ = 0;  // rejected rows of failed LLM requests, every process of the run
    BlockStats input_stats_;
    int current_stage_ = 0;
};

// Rows held in memory, for previews.
class MemoryRows : public RowSource {
  public:
    explicit MemoryRows(std::vector<Record> rows) : rows_(std::move(rows)) {}
    uint64_t size() const override { return rows_.size(); }
    void for_each(const std::function<void(uint64_t, Record&&)>& fn) const override {
        for (size_t i = 0; i < rows_.size(); ++i) fn(i, Record(rows_[i]));
    }

  private:
    std::vector<Record> rows_;
};

}  // namespace

Preview preview_flow(const Flow& flow, const RunOptions& options, size_t n) {
    Preview preview;
    ReadOptions ro;
    ro.max_record_bytes = flow.limits.max_record_bytes;
    ro.format = options.input_format;
    ro.text_unit = options.text_unit;
    ro.skip_bad_records = options.skip_bad_records;
    std::vector<Record> rows;
    for (const auto& path : options.inputs) {
        ro.on_bad_record = [&](const BadRecord& bad) { preview.rejected.push_back(input_reject_row(bad)); };
        auto reader = open_reader(path, ro);
        Record rec;
        SourcePos pos;
        while (rows.size() < n && reader->next(rec, pos)) rows.push_back(std::move(rec));
    }
    if (options.inputs.empty())
        for (uint64_t i = 0; i < flow.input.rows && rows.size() < n; ++i) rows.push_back(Record{{"index", i}});
    BlockEnv env = block_env(flow, options);
    env.on_dry_run_request = [&](const Json& request) { preview.requests.push_back(request); };
    for (const auto& b : expand_flow(flow)) {
        auto block = make_expanded(b, env);
        Emitter emitter(b.name);
        if (block->needs_all_rows())
            block->finish(MemoryRows(std::move(rows)), emitter);
        else
            block->process(std::move(rows), emitter);
        rows = std::move(emitter.rows());
        for (auto& r : emitter.rejected()) preview.rejected.push_back(std::move(r));
        if (!preview.requests.empty()) break;  // later blocks would need the answers
    }
    preview.rows = std::move(rows);
    return preview;
}

RunSummary run_flow(const Flow& flow, const RunOptions& options) {
    return Executor(flow, options).run();
}

std::filesystem::path default_run_dir(const Flow& flow) {
    std::time_t t = std::time(nullptr);
    auto base = std::filesystem::path("runs") / fmt::format("{}-{:%Y%m%d-%H%M%S}", flow.name, fmt::localtime(t));
    // Two runs started in the same second get their own directories.
    auto dir = base;
    for (int n = 2; std::filesystem::exists(dir); ++n) dir = base.string() + "-" + std::to_string(n);
    return dir;
}

}  // namespace synthforge
