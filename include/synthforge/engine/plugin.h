#pragma once
// Plugins: a shared library that adds block types without touching the core.
// It exports one C function, SYNTHFORGE_PLUGIN_ENTRY_NAME, returning a static
// synthforge_plugin. The engine checks api_version before it lets the plugin
// touch any engine type, so a plugin built against another engine version is
// refused with a clear message instead of crashing.
//
//   extern "C" SYNTHFORGE_PLUGIN_EXPORT const synthforge_plugin* synthforge_plugin_entry() {
//       static const synthforge_plugin plugin{SYNTHFORGE_PLUGIN_API_VERSION, "my-filters", &register_blocks};
//       return &plugin;
//   }

#include "synthforge/engine/registry.h"

#include <filesystem>
#include <string>

// Bumped whenever Block, Emitter, BlockEnv, BlockType or BlockRegistry change shape.
#define SYNTHFORGE_PLUGIN_API_VERSION 2
#define SYNTHFORGE_PLUGIN_ENTRY_NAME "synthforge_plugin_entry"
#define SYNTHFORGE_PLUGIN_EXPORT __attribute__((visibility("default")))

extern "C" {
struct synthforge_plugin {
    int api_version;   // SYNTHFORGE_PLUGIN_API_VERSION the plugin was compiled with
    const char* name;  // shown by `synthforge blocks`
    void (*register_blocks)(synthforge::BlockRegistry* registry);
};
typedef const synthforge_plugin* (*synthforge_plugin_entry_fn)(void);
}

namespace synthforge {

// Loads a plugin once (by canonical path) and registers its blocks. Throws
// UserError naming the file when it cannot be opened, lacks the entry point,
// was built for another API version, or registers a type that exists already.
void load_plugin(const std::filesystem::path& path);

}  // namespace synthforge
