#pragma once
// What a run is: the flow (as its fingerprinted canonical form), the inputs (by
// content hash), the seed and the shard. A resume must match it; when it does not, the
// message says exactly what changed.

#include "synthforge/engine/flow.h"
#include "synthforge/engine/shard.h"

#include <filesystem>
#include <string>
#include <vector>

namespace synthforge::detail {

Json input_identity(const std::vector<std::filesystem::path>& inputs);
// A sharded run (--shard I/N) also records its shard, so a resume with another shard spec is
// refused; an unsharded run's identity has no shard key, as before shards existed.
Json run_identity(const Flow& flow, const std::vector<std::filesystem::path>& inputs, uint64_t seed,
                  const ShardSpec& shard = {});

// Human-readable differences between a stored identity and the current one; empty when equal.
std::vector<std::string> describe_identity_changes(const Json& stored, const Json& current);

}  // namespace synthforge::detail
