#include "synthforge/engine/shard.h"

#include "synthforge/errors.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>

namespace synthforge {
namespace {

std::optional<uint64_t> parse_uint(std::string_view s) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<std::string> get(const std::map<std::string, std::string>& env, const std::string& name) {
    auto it = env.find(name);
    if (it == env.end() || it->second.empty()) return std::nullopt;
    return it->second;
}

uint64_t env_uint(const std::map<std::string, std::string>& env, const std::string& name) {
    auto v = get(env, name);
    auto n = v ? parse_uint(*v) : std::nullopt;
    if (!n)
        throw UserError(fmt::format("--shard auto: {} must be a non-negative integer, got '{}'", name, v.value_or("")));
    return *n;
}

ShardSpec checked(uint64_t index, uint64_t count, const std::string& where) {
    if (count == 0) throw UserError("--shard: the shard count must be at least 1 (" + where + ")");
    if (index >= count)
        throw UserError(
            fmt::format("--shard: shard index {} is out of range for {} shard(s); indices are 0-based, "
                        "0 to {} ({})",
                        index, count, count - 1, where));
    return {index, count};
}

}  // namespace

std::string ShardSpec::str() const {
    return fmt::format("{}/{}", index, count);
}

ShardSpec parse_shard_spec(const std::string& text) {
    auto slash = text.find('/');
    std::optional<uint64_t> i, n;
    if (slash != std::string::npos) {
        i = parse_uint(std::string_view(text).substr(0, slash));
        n = parse_uint(std::string_view(text).substr(slash + 1));
    }
    if (!i || !n)
        throw UserError("--shard expects I/N (0-based shard I of N, e.g. 0/4 ... 3/4) or 'auto', got '" + text + "'");
    return checked(*i, *n, "--shard " + text);
}

ShardSpec shard_from_env(const std::map<std::string, std::string>& env) {
    if (get(env, "SLURM_ARRAY_TASK_ID")) {
        if (!get(env, "SLURM_ARRAY_TASK_COUNT"))
            throw UserError(
                "--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; submit "
                "the job with sbatch --array=0-N (a job array), or give --shard I/N");
        uint64_t id = env_uint(env, "SLURM_ARRAY_TASK_ID");
        uint64_t count = env_uint(env, "SLURM_ARRAY_TASK_COUNT");
        uint64_t min = get(env, "SLURM_ARRAY_TASK_MIN") ? env_uint(env, "SLURM_ARRAY_TASK_MIN") : 0;
        if (id < min)
            throw UserError(
                fmt::format("--shard auto: SLURM_ARRAY_TASK_ID {} is below SLURM_ARRAY_TASK_MIN {}", id, min));
        // A stepped or sparse array (--array=0-14:2, --array=1,5,7) does not map task IDs onto
        // 0..COUNT-1; the range check below catches most of those with a clear message.
        return checked(id - min, count,
                       fmt::format("from SLURM_ARRAY_TASK_ID={} - SLURM_ARRAY_TASK_MIN={}, SLURM_ARRAY_TASK_COUNT={}; "
                                   "use a contiguous --array=0-{}",
                                   id, min, count, count ? count - 1 : 0));
    }
    if (get(env, "JOB_COMPLETION_INDEX")) {
        if (!get(env, "SYNTHFORGE_SHARD_COUNT"))
            throw UserError(
                "--shard auto: JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but "
                "SYNTHFORGE_SHARD_COUNT is not; set it in the pod's env to the Job's completions");
        uint64_t index = env_uint(env, "JOB_COMPLETION_INDEX");
        uint64_t count = env_uint(env, "SYNTHFORGE_SHARD_COUNT");
        return checked(index, count,
                       fmt::format("from JOB_COMPLETION_INDEX={}, SYNTHFORGE_SHARD_COUNT={}", index, count));
    }
    throw UserError(
        "--shard auto: no scheduler shard found in the environment: set SLURM_ARRAY_TASK_ID and "
        "SLURM_ARRAY_TASK_COUNT (a Slurm job array), or JOB_COMPLETION_INDEX and SYNTHFORGE_SHARD_COUNT "
        "(a Kubernetes Indexed Job), or give --shard I/N");
}

ShardSpec shard_from_environment() {
    std::map<std::string, std::string> env;
    for (const char* name : {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN",
                             "JOB_COMPLETION_INDEX", "SYNTHFORGE_SHARD_COUNT"})
        if (const char* v = std::getenv(name)) env[name] = v;
    return shard_from_env(env);
}

std::pair<uint64_t, uint64_t> shard_range(uint64_t total, const ShardSpec& spec) {
    // 128-bit products: total * index cannot overflow for any 64-bit total.
    auto bound = [&](uint64_t i) {
        return static_cast<uint64_t>(static_cast<unsigned __int128>(total) * i / spec.count);
    };
    return {bound(spec.index), bound(spec.index + 1)};
}

}  // namespace synthforge
