#include "synthforge/engine/plugin.h"

#include "synthforge/errors.h"

#include <dlfcn.h>

#include <mutex>
#include <set>

namespace synthforge {

void load_plugin(const std::filesystem::path& path) {
    static std::mutex mutex;
    static std::set<std::string> loaded;
    std::lock_guard lock(mutex);

    std::error_code ec;
    auto canonical = std::filesystem::canonical(path, ec);
    if (ec) throw UserError("cannot load plugin " + path.string() + ": " + ec.message());
    if (loaded.count(canonical.string())) return;

    // RTLD_NOW: a missing symbol fails here, with a message, not later mid-run.
    void* handle = dlopen(canonical.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) throw UserError("cannot load plugin " + path.string() + ": " + dlerror());
    auto entry = reinterpret_cast<synthforge_plugin_entry_fn>(dlsym(handle, SYNTHFORGE_PLUGIN_ENTRY_NAME));
    if (!entry) {
        dlclose(handle);
        throw UserError("cannot load plugin " + path.string() +
                        ": it does not export " SYNTHFORGE_PLUGIN_ENTRY_NAME
                        "() (see include/synthforge/engine/plugin.h)");
    }
    const synthforge_plugin* plugin = entry();
    if (!plugin || plugin->api_version != SYNTHFORGE_PLUGIN_API_VERSION) {
        int version = plugin ? plugin->api_version : -1;
        dlclose(handle);
        throw UserError("cannot load plugin " + path.string() + ": built for plugin API version " +
                        std::to_string(version) + ", this synthforge has version " +
                        std::to_string(SYNTHFORGE_PLUGIN_API_VERSION) + "; rebuild it against this synthforge");
    }
    auto& registry = BlockRegistry::global();
    size_t before = registry.size();
    try {
        plugin->register_blocks(&registry);
    } catch (const std::exception& e) {
        throw UserError("plugin " + path.string() + " failed to register its blocks: " + e.what());
    }
    registry.set_origin_since(before, canonical.string());
    loaded.insert(canonical.string());  // never dlclose: its blocks stay registered for the process
}

}  // namespace synthforge
