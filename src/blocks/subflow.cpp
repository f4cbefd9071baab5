// `flow`: a sub-flow. The block names another flow file and the params it runs with; the
// loader checks that file like the including one (cycles and runaway nesting are refused with
// the chain of files) and stores what it does in config.resolved. The executor then runs the
// sub-flow's blocks in this block's place, as if they were written here: rows reaching the
// block go through them, their rows continue down the parent flow, their rejects join the
// parent's rejects as "<flow block>/<inner block>", and every batch, barrier and state delta
// of the sub-flow is checkpointed with the parent run.
//
// This file holds the block type's documentation and config schema. The block object itself
// never sees a row: it exists so a flow block can be validated like any other.

#include "synthforge/engine/flow.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <stdexcept>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["file"],
  "properties": {
    "file": {
      "type": "string", "minLength": 1,
      "description": "The flow file to run, relative to this flow's folder; its prompt and data files resolve relative to its own folder"
    },
    "params": {
      "type": "object", "default": {},
      "description": "Values of the sub-flow's params, like --set for a flow run alone (${name} takes this flow's params); the sub-flow's defaults fill in the rest"
    }
  }
})json";

class SubFlow : public Block {
  public:
    using Block::Block;
    void process(std::vector<Record>&&, Emitter&) override {
        throw std::logic_error("flow block '" + name() + "' runs as its sub-flow's blocks; the executor expands it");
    }
};

std::unique_ptr<Block> make_sub_flow(const std::string& name, const Json& config, const BlockEnv&) {
    // The loader resolves the file before making the block; a config without it did not come
    // through load_flow (a plugin or test building blocks by hand).
    if (!config.contains("resolved"))
        throw ConfigError("config.file: a flow block must be loaded as part of a flow (load_flow resolves its file)");
    return std::make_unique<SubFlow>(name);
}

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(flow, "Run another flow file's blocks here, with its own params (a sub-flow)", kSchema,
                          make_sub_flow)

}  // namespace synthforge
