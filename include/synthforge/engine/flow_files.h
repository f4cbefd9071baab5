#pragma once
// Which files a flow may read. A flow names files — prompt templates, k-shot examples,
// pick lists, deny-lists, leakage references, canaries, sub-flows, plugins — and their
// contents go into prompts that may leave the machine for a hosted model. A flow from
// somewhere else must not be able to name ~/.ssh/id_rsa and send it, so every such name
// resolves relative to the flow file's folder and is refused when it lands outside it
// (symlinks followed), unless the person running the flow allowed the place: with
// `--allow-path DIR` (FlowOptions::allowed_paths), or by typing the file's path as a
// `--set` parameter value themselves. Model weights (`llm.model`) and the run's own
// input and output files are named by that person, not by the flow, and are not
// confined here.

#include <filesystem>
#include <string>
#include <vector>

namespace synthforge {

struct BlockEnv;

struct FileAccess {
    std::filesystem::path flow_dir;              // relative names resolve here; it and below may be read
    std::vector<std::filesystem::path> allowed;  // more folders or single files that may be read

    // The path of the file `name` (absolute, or relative to flow_dir). Throws ConfigError
    // naming `key` (e.g. "config.prompt_file") when it resolves outside flow_dir and every
    // allowed path, or when it names something that is not a regular file (a FIFO or
    // /dev/zero would hang or exhaust the loader).
    std::filesystem::path resolve(const std::string& name, const std::string& key) const;

    // True when `path` (already absolute or relative to the working directory) is inside
    // flow_dir or an allowed path, after following symlinks.
    bool permits(const std::filesystem::path& path) const;
};

// The access of a block: its flow file's folder and the run's allowed paths.
FileAccess file_access(const BlockEnv& env);

// Shorthand for file_access(env).resolve(name, key).
std::filesystem::path resolve_flow_file(const BlockEnv& env, const std::string& name, const std::string& key);

// A list file a flow names (pick items, deny-list terms, canaries): one item per line,
// surrounding whitespace trimmed, blank lines and lines starting with '#' skipped. Resolved
// and confined like resolve_flow_file; ConfigError naming `key` when it cannot be read.
std::vector<std::string> read_line_list(const BlockEnv& env, const std::string& name, const std::string& key);

}  // namespace synthforge
