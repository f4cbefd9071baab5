#pragma once
// A flow: a YAML file holding `version: 1`, named `params:` with defaults,
// optional `input:` requirements, optional `plugins:`, and the `blocks:` that
// records stream through. Loading validates the whole file against
// schema/flow.schema.json and each block's own config schema, and reports
// every problem with file:line:column and the block's name.

#include "synthforge/data/record.h"
#include "synthforge/data/seed_schema.h"
#include "synthforge/engine/limits.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace synthforge {

inline constexpr int kFlowVersion = 1;

// The loop construct: a block of this type holds its own list of blocks (config.blocks)
// and runs them in rounds. The loader validates those sub-blocks like top-level ones.
inline constexpr const char* kRepeatType = "repeat";

// The sub-flow construct: a block of this type runs another flow file (config.file, relative
// to the including flow's folder) with its own params. The loader resolves the file into
// config.resolved ({name, params, llm, sampling, plugins, blocks}), so the sub-flow is part
// of the parent's fingerprint; the executor runs its blocks in place of the `flow` block.
inline constexpr const char* kFlowType = "flow";
// Flow files in one chain of inclusions, the outermost included: deeper is almost always a
// runaway include, and each level is a stage of names ("outer/inner/...").
inline constexpr size_t kMaxFlowDepth = 8;

// A place in a flow file.
struct FlowMark {
    int line = 0;    // 1-based
    int column = 0;  // 1-based
};

// One validation problem. str() gives "flow.yaml:12:7: block 'keep': config.op: ..."
struct Diagnostic {
    std::string file;
    FlowMark mark;
    std::string block;  // the block's name, when the problem is inside one
    std::string message;
    std::string str() const;
};

struct ParamSpec {
    std::string name;
    Json default_value;  // null when the param is required
    std::string description;
    bool required = false;
};

struct BlockSpec {
    std::string name;
    std::string type;
    Json config;    // params substituted, schema defaults filled in
    Json when;      // null, or filter conditions: rows that fail them bypass the block
    FlowMark mark;  // where the block starts
};

struct InputSpec {
    SeedSchema schema = SeedSchema::any;
    std::vector<std::string> required_columns;
    // When the run has no input files: this many generated records {"index": i}.
    uint64_t rows = 0;
};

struct Flow {
    std::filesystem::path path;
    std::string name;  // `name:` or the file's stem
    std::string description;
    std::vector<ParamSpec> params;
    Json param_values = Json::object();  // effective values after --set, in declaration order
    InputSpec input;
    std::vector<std::string> plugins;  // resolved paths
    std::vector<BlockSpec> blocks;
    Json llm_defaults = Json::object();        // top-level `llm:` (params substituted)
    Json sampling_defaults = Json::object();   // top-level `sampling:`
    Json llm_overrides = Json::object();       // --set llm.NAME=VALUE
    Json sampling_overrides = Json::object();  // --set sampling.NAME=VALUE
    Limits limits;                             // top-level `limits:` (defaults when absent)
    // Where the flow's blocks may read files besides its folder (engine/flow_files.h):
    // FlowOptions::allowed_paths plus the files typed as --set values. Not part of the
    // fingerprint: it grants access, it does not change what the flow does.
    std::vector<std::filesystem::path> allowed_paths;

    // Identity of what the flow does: blocks, configs, params and input rules,
    // independent of formatting and comments. A resume compares it.
    std::string fingerprint() const;
};

struct FlowOptions {
    std::map<std::string, std::string> overrides;  // --set NAME=VALUE (VALUE read as a YAML scalar);
                                                   // llm.NAME and sampling.NAME set LLM options
    bool load_plugins = true;                      // load `plugins:` so their block types validate
    // A `flow` block's config.params: typed values, applied like --set (an unknown name is an error).
    Json params = Json::object();
    // The flow files including this one, outermost first: a file already in the chain is a cycle.
    std::vector<std::filesystem::path> including;
    // --allow-path: folders or files outside the flow's folder its blocks, sub-flows and
    // plugins may read (engine/flow_files.h). Relative paths are taken from the working directory.
    std::vector<std::filesystem::path> allowed_paths;
};

// Loads and validates; throws ConfigError whose message lists every Diagnostic.
Flow load_flow(const std::filesystem::path& path, const FlowOptions& options = {});

// Validates without throwing on flow problems; an unreadable file still throws UserError.
std::vector<Diagnostic> validate_flow(const std::filesystem::path& path, const FlowOptions& options = {});

}  // namespace synthforge
