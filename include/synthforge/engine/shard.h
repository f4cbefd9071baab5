#pragma once
// Sharded runs: N processes each run one contiguous slice of a flow's input records
// (or of its generated rows), and `synthforge merge` concatenates their outputs in
// shard order. Contiguous slices, rather than record k -> shard k mod N, make the
// merge a plain concatenation: a per-record flow keeps its rows in input order
// inside each shard, so shard 0's output, then shard 1's, ... is the single run's
// output, byte for byte, with no hidden ordering column and whatever each block
// emits per record (none, one or many rows).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace synthforge {

struct ShardSpec {
    uint64_t index = 0;  // 0-based
    uint64_t count = 1;  // 1 = not sharded
    bool sharded() const { return count > 1; }
    std::string str() const;  // "I/N"
};

// Parses "I/N" (0 <= I < N). Throws UserError with the accepted forms.
ShardSpec parse_shard_spec(const std::string& text);

// `--shard auto`: the shard from the scheduler's environment, first match wins:
//   Slurm job arrays: SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT and SLURM_ARRAY_TASK_MIN
//     (index = ID - MIN, so --array=1-8 works as well as --array=0-7);
//   Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX, with the count in SYNTHFORGE_SHARD_COUNT
//     (Kubernetes does not put the completion count in the pod's environment).
// `env` maps names to values (tests pass their own); throws UserError naming what is missing.
ShardSpec shard_from_env(const std::map<std::string, std::string>& env);
// The same from the process environment.
ShardSpec shard_from_environment();

// The records [first, last) of `total` that shard `spec` runs: floor(I*T/N) .. floor((I+1)*T/N),
// so shard sizes differ by at most one and the slices cover every record exactly once.
std::pair<uint64_t, uint64_t> shard_range(uint64_t total, const ShardSpec& spec);

}  // namespace synthforge
