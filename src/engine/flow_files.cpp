#include "synthforge/engine/flow_files.h"

#include "synthforge/engine/block.h"
#include "synthforge/errors.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

namespace synthforge {
namespace {

// Absolute, with ".." and symlinks resolved as far as the path exists (weakly_canonical),
// so "prompts/../../secret" and a symlink pointing out of the folder both show where they
// really lead.
std::filesystem::path real_path(const std::filesystem::path& p) {
    std::error_code ec;
    auto abs = std::filesystem::absolute(p, ec);
    if (ec) return p.lexically_normal();
    auto canon = std::filesystem::weakly_canonical(abs, ec);
    return ec ? abs.lexically_normal() : canon;
}

// `inner` is `outer` or below it; both real paths.
bool within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
    auto in = inner.begin();
    for (auto out = outer.begin(); out != outer.end(); ++out, ++in) {
        if (out->empty() && std::next(out) == outer.end()) break;  // a trailing separator
        if (in == inner.end() || *in != *out) return false;
    }
    return true;
}

}  // namespace

bool FileAccess::permits(const std::filesystem::path& path) const {
    const auto real = real_path(path);
    if (within(real, real_path(flow_dir))) return true;
    for (const auto& a : allowed)
        if (within(real, real_path(a))) return true;
    return false;
}

std::filesystem::path FileAccess::resolve(const std::string& name, const std::string& key) const {
    if (name.empty()) throw ConfigError(key + ": an empty file name");
    std::filesystem::path p(name);
    if (p.is_relative()) p = flow_dir / p;
    if (!permits(p))
        throw ConfigError(key + ": " + name + " resolves to " + real_path(p).string() + ", outside the flow's folder " +
                          real_path(flow_dir).string() +
                          "; a flow reads files only from its own folder. To allow it, run with --allow-path " +
                          real_path(p).parent_path().string() + " (or give its path yourself with --set)");
    std::error_code ec;
    const auto status = std::filesystem::status(p, ec);
    if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
        throw ConfigError(key + ": " + p.string() + " is not a regular file");
    return p;
}

FileAccess file_access(const BlockEnv& env) {
    return FileAccess{env.flow_dir, env.allowed_paths};
}

std::filesystem::path resolve_flow_file(const BlockEnv& env, const std::string& name, const std::string& key) {
    return file_access(env).resolve(name, key);
}

std::vector<std::string> read_line_list(const BlockEnv& env, const std::string& name, const std::string& key) {
    const auto path = resolve_flow_file(env, name, key);
    std::ifstream in(path);
    if (!in) throw ConfigError(key + ": cannot read " + path.string() + ": " + std::strerror(errno));
    std::vector<std::string> items;
    for (std::string line; std::getline(in, line);) {
        const size_t b = line.find_first_not_of(" \t\r");
        if (b == std::string::npos || line[b] == '#') continue;
        const size_t e = line.find_last_not_of(" \t\r");
        items.push_back(line.substr(b, e - b + 1));
    }
    return items;
}

}  // namespace synthforge
