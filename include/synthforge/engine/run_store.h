#pragma once
// The run store: one SQLite file per run directory (run.sqlite). It holds the
// run's identity (flow fingerprint, inputs, seed), every finished batch with its
// output and rejected rows, the state deltas of stateful blocks, and the LLM
// response cache. A batch and everything it produced commit in one transaction,
// so a run killed at any moment resumes with no row missing or doubled.

#include "synthforge/data/record.h"
#include "synthforge/llm/response_cache.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace synthforge {

// Everything one finished batch produced. Rows are JSON lines joined by '\n'.
struct BatchCommit {
    int stage = 0;            // 0 reads the inputs; stage k>0 starts at the k-th barrier block
    uint64_t index = 0;       // batch number within the stage
    std::string output_rows;  // rows leaving the stage's last block
    uint64_t output_count = 0;
    std::string rejected_rows;  // rows rejected anywhere in this batch
    uint64_t rejected_count = 0;
    Json counts;                                      // per-block {rows_in, rows_out, rows_rejected, seconds}
    std::string reader_position;                      // stage 0: where the next batch starts in the inputs
    std::map<std::string, std::string> state_deltas;  // block name -> delta (non-empty only)
};

class RunStore : public llm::ResponseCache {
  public:
    // Opens or creates the store. Throws RunError when the file cannot be opened.
    explicit RunStore(const std::filesystem::path& path);
    ~RunStore();
    RunStore(const RunStore&) = delete;
    RunStore& operator=(const RunStore&) = delete;

    const std::filesystem::path& path() const { return path_; }

    std::optional<std::string> meta(const std::string& key) const;
    void set_meta(const std::string& key, const std::string& value);

    void commit_batch(const BatchCommit& batch);
    uint64_t batches_done(int stage) const;
    // The reader position stored with the last finished stage-0 batch.
    std::optional<std::string> last_reader_position() const;

    // Output chunks of a stage in batch order; fn gets one chunk of JSON lines.
    void for_each_output(int stage, const std::function<void(std::string_view)>& fn) const;
    void for_each_rejected(const std::function<void(std::string_view)>& fn) const;
    uint64_t output_count(int stage) const;
    std::vector<std::string> state_deltas(const std::string& block) const;
    std::vector<Json> batch_counts() const;  // counts of every finished batch

    // LLM response cache, keyed by a hash of the full request and backend. Each put
    // commits at once, so a response is never paid for twice.
    std::optional<std::string> cached_response(const std::string& key) const override;
    void put_response(const std::string& key, const std::string& response) override;

  private:
    void exec(const char* sql);
    std::filesystem::path path_;
    sqlite3* db_ = nullptr;
};

}  // namespace synthforge
