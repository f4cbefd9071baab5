#include "run_identity.h"

#include "synthforge/errors.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <cstdio>
#include <memory>
#include <set>

namespace synthforge::detail {
namespace {

std::string hash_file(const std::filesystem::path& path) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) throw InputError("cannot open " + path.string() + ": " + std::strerror(errno));
    XXH3_state_t* state = XXH3_createState();
    XXH3_64bits_reset(state);
    std::vector<char> buf(1 << 20);
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) XXH3_64bits_update(state, buf.data(), n);
    uint64_t h = XXH3_64bits_digest(state);
    XXH3_freeState(state);
    return fmt::format("{:016x}", h);
}

std::string short_json(const Json& v) {
    std::string s = v.dump();
    return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

void diff_config(const std::string& block, const Json& old_config, const Json& new_config,
                 std::vector<std::string>& out) {
    std::set<std::string> keys;
    for (const auto& [k, _] : old_config.items()) keys.insert(k);
    for (const auto& [k, _] : new_config.items()) keys.insert(k);
    for (const auto& k : keys) {
        Json a = old_config.value(k, Json()), b = new_config.value(k, Json());
        if (a != b && k == "resolved") {  // a `flow` block: what its sub-flow file says changed
            out.push_back(fmt::format("block '{}': its sub-flow {} changed", block,
                                      new_config.value("file", std::string("(config.file)"))));
            continue;
        }
        if (a != b)
            out.push_back(
                fmt::format("block '{}': config.{} changed from {} to {}", block, k, short_json(a), short_json(b)));
    }
}

}  // namespace

Json input_identity(const std::vector<std::filesystem::path>& inputs) {
    Json out = Json::array();
    for (const auto& p : inputs) {
        std::error_code ec;
        auto size = std::filesystem::file_size(p, ec);
        if (ec) throw InputError("cannot open " + p.string() + ": " + ec.message());
        out.push_back({{"path", std::filesystem::absolute(p).lexically_normal().string()},
                       {"bytes", size},
                       {"xxh3", hash_file(p)}});
    }
    return out;
}

Json run_identity(const Flow& flow, const std::vector<std::filesystem::path>& inputs, uint64_t seed,
                  const ShardSpec& shard) {
    Json blocks = Json::array();
    for (const auto& b : flow.blocks) blocks.push_back({{"name", b.name}, {"type", b.type}, {"config", b.config}});
    Json identity = {{"flow",
                      {{"name", flow.name},
                       {"fingerprint", flow.fingerprint()},
                       {"params", flow.param_values},
                       {"blocks", blocks},
                       {"plugins", flow.plugins}}},
                     {"inputs", input_identity(inputs)},
                     {"seed", seed}};
    if (shard.sharded()) identity["shard"] = {{"index", shard.index}, {"count", shard.count}};
    return identity;
}

namespace {

std::string shard_name(const Json& identity) {
    if (!identity.contains("shard")) return "the whole input (no --shard)";
    const Json& s = identity["shard"];
    return fmt::format("shard {}/{}", s.value("index", uint64_t{0}), s.value("count", uint64_t{1}));
}

}  // namespace

std::vector<std::string> describe_identity_changes(const Json& stored, const Json& current) {
    std::vector<std::string> out;
    if (stored.value("shard", Json()) != current.value("shard", Json()))
        out.push_back(fmt::format("the run is {}, now {} was asked for; each shard has its own run directory",
                                  shard_name(stored), shard_name(current)));
    if (stored.value("seed", Json()) != current.value("seed", Json()))
        out.push_back(fmt::format("the seed changed from {} to {}", stored["seed"].dump(), current["seed"].dump()));

    const Json& si = stored["inputs"];
    const Json& ci = current["inputs"];
    if (si.size() != ci.size()) {
        out.push_back(fmt::format("the run read {} input file(s), now {} are given", si.size(), ci.size()));
    } else {
        for (size_t i = 0; i < si.size(); ++i) {
            if (si[i]["path"] != ci[i]["path"])
                out.push_back(fmt::format("input {} was {}, now {}", i + 1, si[i]["path"].get<std::string>(),
                                          ci[i]["path"].get<std::string>()));
            else if (si[i]["xxh3"] != ci[i]["xxh3"])
                out.push_back(fmt::format("input {} changed since the run started ({} bytes then, {} now)",
                                          si[i]["path"].get<std::string>(), si[i]["bytes"].dump(),
                                          ci[i]["bytes"].dump()));
        }
    }

    const Json& sf = stored["flow"];
    const Json& cf = current["flow"];
    if (sf.value("fingerprint", "") == cf.value("fingerprint", "")) return out;
    for (const auto& [name, value] : cf["params"].items()) {
        if (!sf["params"].contains(name))
            out.push_back("parameter '" + name + "' is new");
        else if (sf["params"][name] != value)
            out.push_back(fmt::format("parameter '{}' changed from {} to {}", name, short_json(sf["params"][name]),
                                      short_json(value)));
    }
    for (const auto& [name, _] : sf["params"].items())
        if (!cf["params"].contains(name)) out.push_back("parameter '" + name + "' was removed");
    std::map<std::string, const Json*> old_blocks, new_blocks;
    for (const auto& b : sf["blocks"]) old_blocks[b["name"].get<std::string>()] = &b;
    for (const auto& b : cf["blocks"]) new_blocks[b["name"].get<std::string>()] = &b;
    for (const auto& [name, b] : new_blocks) {
        auto it = old_blocks.find(name);
        if (it == old_blocks.end())
            out.push_back("block '" + name + "' was added");
        else if ((*it->second)["type"] != (*b)["type"])
            out.push_back(fmt::format("block '{}' changed type from {} to {}", name, (*it->second)["type"].dump(),
                                      (*b)["type"].dump()));
        else if ((*it->second)["config"] != (*b)["config"]) {
            size_t before = out.size();
            diff_config(name, (*it->second)["config"], (*b)["config"], out);
            if (out.size() == before) out.push_back("block '" + name + "' config changed");
        }
    }
    for (const auto& [name, _] : old_blocks)
        if (!new_blocks.count(name)) out.push_back("block '" + name + "' was removed");
    std::vector<std::string> old_order, new_order;
    for (const auto& b : sf["blocks"]) old_order.push_back(b["name"]);
    for (const auto& b : cf["blocks"]) new_order.push_back(b["name"]);
    if (old_blocks.size() == new_blocks.size() && old_order != new_order && out.empty())
        out.push_back("the blocks are in a different order");
    if (sf["plugins"] != cf["plugins"]) out.push_back("the plugins changed");
    if (out.empty()) out.push_back("the flow changed");
    return out;
}

}  // namespace synthforge::detail
