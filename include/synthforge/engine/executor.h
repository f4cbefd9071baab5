#pragma once
// The executor streams records through a flow's blocks in bounded batches and
// commits each finished batch to the run store, so memory stays flat and a
// killed run resumes exactly where it stopped. Output order and content depend
// only on the flow, inputs, parameters and seed.
//
// A flow runs in stages: stage 0 reads the inputs; each barrier block (one that
// needs all rows, such as `sample`) starts a new stage that reads the previous
// stage's output back from the run store.

#include "synthforge/data/reader.h"
#include "synthforge/engine/flow.h"
#include "synthforge/engine/shard.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace synthforge {

struct BlockStats {
    std::string name;
    std::string type;
    uint64_t rows_in = 0;
    uint64_t rows_out = 0;
    uint64_t rows_rejected = 0;
    double seconds = 0;  // time in this block during this process (not summed over resumes)
};

struct Progress {
    int stage = 0;
    int stages = 1;
    uint64_t rows_read = 0;   // input records read so far (all processes of the run)
    uint64_t bytes_read = 0;  // of the inputs, for the ETA
    uint64_t bytes_total = 0;
    uint64_t rows_out = 0;  // rows that left the last block
    uint64_t rows_rejected = 0;
    double elapsed_seconds = 0;  // this process
    const std::vector<BlockStats>* blocks = nullptr;
    bool finished = false;
    // LLM calls so far in this process (all zero for flows without LLM blocks).
    uint64_t llm_requests = 0, llm_in_flight = 0, llm_retries = 0, llm_failures = 0, llm_completion_tokens = 0;
    double llm_busy_seconds = 0;
};

struct RunOptions {
    std::vector<std::filesystem::path> inputs;  // read in this order, as one stream
    std::string input_format;                   // "" = from each file's extension
    TextUnit text_unit = TextUnit::line;
    bool skip_bad_records = false;         // --on-bad-record skip: bad input becomes rejected rows
    std::filesystem::path output;          // "" = <run_dir>/output.jsonl
    std::string output_format;             // "" = from the output's extension
    std::filesystem::path rejects_output;  // an extra copy of the rejects, when set
    std::filesystem::path run_dir;         // required
    bool resume = false;                   // continue the run in run_dir
    uint64_t seed = 0;
    ShardSpec shard;           // --shard I/N: run only this contiguous slice of the input records (shard.h)
    size_t batch_size = 1000;  // rows per batch: the unit of memory and of checkpoints
    std::function<void(const Progress&)> on_progress;   // called after every batch and at the end
    const std::atomic<bool>* stop_requested = nullptr;  // checked between batches (SIGINT/SIGTERM)
};

struct RunSummary {
    std::filesystem::path run_dir;
    std::filesystem::path output;
    std::filesystem::path rejects;
    uint64_t rows_in = 0;
    uint64_t rows_out = 0;
    uint64_t rows_rejected = 0;
    std::vector<BlockStats> blocks;
    bool resumed = false;
    double seconds = 0;
    uint64_t llm_failures = 0;  // LLM requests that failed after all attempts (their rows are rejected)
};

// Raised between batches when stop_requested was set: everything finished so far is
// committed, and the run can be resumed.
class RunInterrupted : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Runs `flow` to completion. Throws UserError (bad input, a resume that does not
// match the run directory), RunError (I/O), RunInterrupted (stop requested).
RunSummary run_flow(const Flow& flow, const RunOptions& options);

// --dry-run: the first `n` input records through the blocks, in memory, with
// nothing written and no run directory. Rows and rejected rows come back in order;
// the first LLM block renders its requests into `requests` and the preview stops there.
struct Preview {
    std::vector<Record> rows;
    std::vector<Record> rejected;
    std::vector<Json> requests;  // LLM requests rendered by the first LLM block (nothing is sent)
};
Preview preview_flow(const Flow& flow, const RunOptions& options, size_t n);

// The default run directory: runs/<flow>-<YYYYmmdd-HHMMSS>.
std::filesystem::path default_run_dir(const Flow& flow);

}  // namespace synthforge
