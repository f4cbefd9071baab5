#pragma once
// A block is one step of a flow. Records move between blocks only through
// batches: a block never calls another block. Streaming blocks transform each
// batch as it comes; barrier blocks (needs_all_rows) see every row first and
// emit in finish(), for sampling or clustering.

#include "synthforge/data/record.h"
#include "synthforge/engine/limits.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace synthforge {

// Collects what a block produces from a batch: kept rows, in order, and rejected
// rows with the block's name and a reason. A rejected row is never dropped: it
// reaches the rejects file and the per-block counts.
class Emitter {
  public:
    explicit Emitter(std::string block_name) : block_name_(std::move(block_name)) {}

    void emit(Record row) {
        rows_.push_back(std::move(row));
        if (on_full_ && !manual_ && rows_.size() >= flush_at_) on_full_(*this);
    }
    void reject(Record row, std::string reason);

    std::vector<Record>& rows() { return rows_; }
    std::vector<Record>& rejected() { return rejected_; }

    // Barrier blocks emit from finish() possibly many rows: the executor hands
    // them on every `flush_at` rows so memory stays bounded.
    void set_flush(size_t flush_at, std::function<void(Emitter&)> on_full) {
        flush_at_ = flush_at;
        on_full_ = std::move(on_full);
    }

    // Barrier blocks that save their own progress (repeat) hand rows on only at
    // checkpoints: everything emitted since the last checkpoint commits at once,
    // together with the block's state delta, so a unit of work is never half saved.
    void use_manual_checkpoints() { manual_ = true; }
    void checkpoint() {
        if (on_full_) on_full_(*this);
    }

  private:
    std::string block_name_;
    std::vector<Record> rows_;
    std::vector<Record> rejected_;
    size_t flush_at_ = 0;
    bool manual_ = false;
    std::function<void(Emitter&)> on_full_;
};

// Rows a barrier block has been given, kept on disk by the executor.
class RowSource {
  public:
    virtual ~RowSource() = default;
    virtual uint64_t size() const = 0;
    // Calls fn(index, row) for every row in arrival order; may be called more than once.
    virtual void for_each(const std::function<void(uint64_t, Record&&)>& fn) const = 0;
};

namespace llm {
class ClientPool;
}

// What a block may know about the run it is part of.
struct BlockEnv {
    uint64_t seed = 0;               // the run's seed (--seed, default 0)
    std::filesystem::path flow_dir;  // folder of the flow file: templates and data files resolve here
    // Places outside flow_dir the flow may read (--allow-path, paths typed in --set): blocks
    // open the files a flow names only through resolve_flow_file (engine/flow_files.h).
    std::vector<std::filesystem::path> allowed_paths;
    size_t batch_size = 1000;  // rows per batch
    // LLM access for blocks that call models. Null while a flow is only being
    // validated: factories must not connect or load models, only check config.
    llm::ClientPool* llm = nullptr;
    Json llm_defaults = Json::object();        // the flow's `llm:` (blocks' own `llm:` goes on top)
    Json llm_overrides = Json::object();       // --set llm.NAME=VALUE (on top of everything)
    Json sampling_defaults = Json::object();   // the flow's `sampling:`
    Json sampling_overrides = Json::object();  // --set sampling.NAME=VALUE
    Limits limits;                             // the flow's `limits:` (prompt and response sizes)
    // The run's input files, in reading order (empty while validating, or with no inputs):
    // a leakage block with reference_inputs compares outputs against them.
    std::vector<std::filesystem::path> input_paths;
    // --dry-run: LLM blocks hand each fully rendered request here instead of sending it.
    std::function<void(const Json&)> on_dry_run_request;
    // Long-running blocks call this now and then, so progress shows during a batch.
    std::function<void()> on_progress;
    // Inside a `repeat`: the current round (1-based), owned by the repeat block.
    // Blocks that draw random numbers or seeds mix it in, so every round draws
    // afresh; null (or 0) outside loops.
    const uint64_t* round = nullptr;
};

// The round a block runs in: 0 outside a `repeat`.
inline uint64_t current_round(const BlockEnv& env) {
    return env.round ? *env.round : 0;
}

class Block {
  public:
    explicit Block(std::string name) : name_(std::move(name)) {}
    virtual ~Block() = default;
    Block(const Block&) = delete;
    Block& operator=(const Block&) = delete;

    const std::string& name() const { return name_; }

    // Streaming: transform one batch. Barrier blocks receive nothing here.
    virtual void process(std::vector<Record>&& rows, Emitter& out) = 0;

    // Barrier blocks return true; the executor then stores their input and calls
    // finish() once every row has arrived. finish() must be deterministic: on
    // resume it is called again and its first emitted rows are skipped.
    virtual bool needs_all_rows() const { return false; }
    virtual void finish(const RowSource& /*all_rows*/, Emitter& /*out*/) {}
    // A barrier block that restores its progress from its state deltas (repeat)
    // returns true: on resume, finish() then emits only what was not committed yet.
    virtual bool resumes_from_state() const { return false; }

    // Streaming state that must survive a crash (a dedup index): the executor
    // stores the delta with each finished batch and replays all deltas on resume.
    virtual std::string take_state_delta() { return {}; }
    virtual void restore_state(const std::vector<std::string>& /*deltas_in_order*/) {}

    // Extra figures for metadata.json (LLM blocks: requests, tokens, latency); null when none.
    virtual Json metrics() const { return nullptr; }

  private:
    std::string name_;
};

}  // namespace synthforge
