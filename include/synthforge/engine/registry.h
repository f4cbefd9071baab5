#pragma once
// The block registry: every block type registers itself (one file per type)
// with a one-line summary and a JSON schema of its options. Plugins add types
// the same way through the C entry point in plugin.h.

#include "synthforge/engine/block.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace synthforge {

using BlockFactory =
    std::function<std::unique_ptr<Block>(const std::string& name, const Json& config, const BlockEnv& env)>;

struct BlockType {
    std::string type;                 // the `type:` used in flows
    std::string summary;              // one line for `synthforge blocks`
    Json config_schema;               // JSON Schema of `config:`; every property has a description and,
                                      // when optional, a default (applied before the factory is called)
    BlockFactory make;                // receives config validated with defaults filled in; may throw ConfigError
    std::string origin = "built-in";  // or the plugin's path
};

class BlockRegistry {
  public:
    static BlockRegistry& global();

    // Throws std::logic_error when the type exists already or its schema does not parse.
    void add(BlockType type);
    const BlockType* find(const std::string& type) const;
    std::vector<const BlockType*> all() const;  // sorted by type
    size_t size() const { return types_.size(); }
    // Marks the types registered from index `first` on as coming from `origin` (a plugin path).
    void set_origin_since(size_t first, const std::string& origin);

  private:
    std::vector<std::unique_ptr<BlockType>> types_;
};

// Makes a block of a registered type. With `when` (filter conditions, not null), only rows
// that meet them go through the block; the others pass it unchanged and in place. Throws
// ConfigError for an unknown type, a bad condition, or `when` on a barrier block.
std::unique_ptr<Block> make_block(const std::string& name, const std::string& type, const Json& config,
                                  const Json& when, const BlockEnv& env);

// Registers a block type at load time of the library:
//   SYNTHFORGE_REGISTER_BLOCK(filter, "Keep rows that satisfy conditions", kSchema, make_filter)
#define SYNTHFORGE_REGISTER_BLOCK(ident, summary, schema_json, factory)                                                \
    namespace {                                                                                                        \
    const bool registered_##ident = [] {                                                                               \
        ::synthforge::BlockRegistry::global().add({#ident, summary, ::synthforge::Json::parse(schema_json), factory}); \
        return true;                                                                                                   \
    }();                                                                                                               \
    }

}  // namespace synthforge
