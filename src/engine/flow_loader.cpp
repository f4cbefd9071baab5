#include "flow_depth.h"
#include "privacy_level.h"
#include "schema_check.h"
#include "synthforge/engine/flow.h"
#include "synthforge/engine/flow_files.h"
#include "synthforge/engine/plugin.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"
#include "synthforge/llm/client_pool.h"
#include "synthforge/llm/sampling.h"
#include "yaml_json.h"

#include <fmt/format.h>
#include <xxhash.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

namespace synthforge {
namespace detail {
const char* flow_schema_json();
}

using detail::display_path;
using detail::mark_for;

std::string Diagnostic::str() const {
    std::string out = file;
    if (mark.line) out += fmt::format(":{}:{}", mark.line, mark.column);
    out += ": ";
    if (!block.empty()) out += "block '" + block + "': ";
    return out + message;
}

namespace {

const detail::SchemaChecker& flow_schema_checker() {
    static const detail::SchemaChecker checker(Json::parse(detail::flow_schema_json()));
    return checker;
}

bool is_long_param_form(const Json& v) {
    if (!v.is_object() || v.empty()) return false;
    for (const auto& [k, _] : v.items())
        if (k != "default" && k != "description" && k != "required") return false;
    return true;
}

std::string param_as_text(const Json& v) {
    return v.is_string() ? v.get<std::string>() : v.dump();
}

// Factories name the option at fault first ("config.where[1].value: ..."); turn
// that into a JSON pointer so the message points at the option's own line.
std::string pointer_of_message(const std::string& message) {
    if (message.rfind("config", 0) != 0) return "/config";
    std::string pointer = "/config";
    size_t i = 6;
    while (i < message.size()) {
        if (message[i] == '.') {
            size_t j = i + 1;
            while (j < message.size() && (std::isalnum(static_cast<unsigned char>(message[j])) || message[j] == '_'))
                ++j;
            pointer += "/" + message.substr(i + 1, j - i - 1);
            i = j;
        } else if (message[i] == '[') {
            size_t j = message.find(']', i);
            if (j == std::string::npos) break;
            pointer += "/" + message.substr(i + 1, j - i - 1);
            i = j + 1;
        } else {
            break;
        }
    }
    return pointer;
}

class FlowValidator {
  public:
    FlowValidator(std::filesystem::path path, const FlowOptions& options) : path_(std::move(path)), options_(options) {
        file_ = path_.string();
    }

    std::vector<Diagnostic> run(Flow& flow) {
        if (!parse()) return diags_;
        if (doc_.contains("version") && doc_["version"] != kFlowVersion) {
            add("/version", "",
                "flow version " + doc_["version"].dump() + " is not supported; this synthforge reads version " +
                    std::to_string(kFlowVersion));
            return diags_;
        }
        auto schema_problems = flow_schema_checker().check(doc_);
        for (const auto& p : schema_problems) add_schema_problem(p, "", "");
        // Structure problems make the rest unreliable; report them alone.
        if (!diags_.empty()) return diags_;

        flow.path = path_;
        flow.allowed_paths = allowed_paths();
        flow.name = doc_.value("name", path_.stem().string());
        flow.description = doc_.value("description", "");
        read_params(flow);
        read_input(flow);
        read_plugins(flow);
        read_llm_defaults(flow);
        if (doc_.contains("limits")) flow.limits = Limits::from_json(doc_["limits"]);  // schema-checked above
        read_blocks(flow);
        if (diags_.empty()) read_privacy(flow);
        return diags_;
    }

  private:
    bool parse() {
        std::ifstream in(path_, std::ios::binary);
        if (!in) throw UserError("cannot open flow " + file_ + ": " + std::strerror(errno));
        std::stringstream ss;
        ss << in.rdbuf();
        if (auto problem = detail::check_flow_encoding(ss.str(), file_)) {
            diags_.push_back(std::move(*problem));
            return false;
        }
        YAML::Node root;
        try {
            root = YAML::Load(ss.str());
        } catch (const YAML::Exception& e) {
            diags_.push_back({file_, {e.mark.line + 1, e.mark.column + 1}, "", "YAML syntax error: " + e.msg});
            return false;
        }
        // Before converting: the conversion recurses per level and expands every alias.
        if (auto problem = detail::check_flow_size(root, file_, detail::requested_flow_depth(root))) {
            diags_.push_back(std::move(*problem));
            return false;
        }
        auto conv = detail::yaml_to_json(root, file_);
        doc_ = std::move(conv.value);
        marks_ = std::move(conv.marks);
        diags_.insert(diags_.end(), conv.problems.begin(), conv.problems.end());
        if (!doc_.is_object()) {
            diags_.push_back({file_, {1, 1}, "", "a flow must be a YAML mapping with `version:` and `blocks:`"});
            return false;
        }
        return diags_.empty();
    }

    void add(const std::string& pointer, const std::string& block, const std::string& message) {
        diags_.push_back({file_, mark_for(marks_, pointer), block, message});
    }

    void add_schema_problem(const detail::SchemaProblem& p, const std::string& base, const std::string& block) {
        std::string pointer = base + p.pointer;
        FlowMark mark = p.key.empty() ? mark_for(marks_, pointer) : mark_for(marks_, pointer + "/" + p.key + "#key");
        std::string where = display_path(doc_, pointer, block.empty() ? "" : base.substr(0, base.rfind('/')));
        diags_.push_back({file_, mark, block, (where.empty() ? "" : where + ": ") + p.message});
    }

    void read_params(Flow& flow) {
        // A flow without `params:` still takes --set llm.* and sampling.*, and must refuse
        // unknown names rather than ignore them.
        const Json params = doc_.value("params", Json::object());
        std::set<std::string> declared;
        for (const auto& [name, value] : params.items()) {
            ParamSpec spec;
            spec.name = name;
            if (is_long_param_form(value)) {
                spec.default_value = value.value("default", Json());
                spec.description = value.value("description", "");
                spec.required = value.value("required", false);
            } else {
                spec.default_value = value;
            }
            declared.insert(name);
            flow.params.push_back(spec);
        }
        for (const auto& [name, text] : options_.overrides) {
            if (name.rfind("llm.", 0) == 0 || name.rfind("sampling.", 0) == 0) {
                Json& target = name[0] == 'l' ? flow.llm_overrides : flow.sampling_overrides;
                try {
                    target[name.substr(name.find('.') + 1)] = detail::yaml_scalar_to_json(text);
                } catch (const YAML::Exception& e) {
                    diags_.push_back({"--set", {}, "", "cannot read value of '" + name + "': " + e.msg});
                }
                continue;
            }
            if (!declared.count(name)) {
                std::vector<std::string> names(declared.begin(), declared.end());
                std::string hint = detail::closest_match(name, names);
                diags_.push_back(
                    {"--set",
                     {},
                     "",
                     "unknown parameter '" + name + "'" +
                         (hint.empty() ? fmt::format("; {} declares: {}", file_,
                                                     names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")))
                                       : "; did you mean '" + hint + "'?")});
            }
        }
        // A parent flow's `flow` block passes typed values; they name declared params like --set.
        for (const auto& [name, _] : options_.params.items()) {
            if (declared.count(name)) continue;
            std::vector<std::string> names(declared.begin(), declared.end());
            std::string hint = detail::closest_match(name, names);
            diags_.push_back(
                {file_,
                 {},
                 "",
                 "the including flow passes unknown parameter '" + name + "'" +
                     (hint.empty() ? fmt::format("; this flow declares: {}",
                                                 names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")))
                                   : "; did you mean '" + hint + "'?")});
        }
        for (const auto& spec : flow.params) {
            auto it = options_.overrides.find(spec.name);
            if (options_.params.contains(spec.name)) {
                flow.param_values[spec.name] = options_.params[spec.name];
            } else if (it != options_.overrides.end()) {
                try {
                    flow.param_values[spec.name] = detail::yaml_scalar_to_json(it->second);
                } catch (const YAML::Exception& e) {
                    diags_.push_back({"--set", {}, "", "cannot read value of '" + spec.name + "': " + e.msg});
                }
            } else if (spec.required) {
                add("/params/" + spec.name, "",
                    "parameter '" + spec.name + "' is required: " +
                        (options_.including.empty() ? "pass --set " + spec.name + "=VALUE"
                                                    : "give it in the including flow block's config.params"));
            } else {
                flow.param_values[spec.name] = spec.default_value;
            }
        }
    }

    void read_input(Flow& flow) {
        if (!doc_.contains("input")) return;
        const auto& in = doc_["input"];
        if (in.contains("schema")) flow.input.schema = *seed_schema_from_name(in["schema"].get<std::string>());
        if (in.contains("required_columns"))
            flow.input.required_columns = in["required_columns"].get<std::vector<std::string>>();
        if (in.contains("rows")) {
            Json rows = substitute(in["rows"], "/input/rows", flow, "");
            if (rows.is_string()) {
                // A param embedded in text, or given as text by --set: it must still be a count.
                Json parsed = Json::parse(rows.get<std::string>(), nullptr, false);
                if (!parsed.is_discarded()) rows = parsed;
            }
            if (!rows.is_number_integer() || rows.get<int64_t>() < 0)
                add("/input/rows", "", "input.rows: must be a whole number of records >= 0, got " + rows.dump());
            else
                flow.input.rows = rows.get<uint64_t>();
        }
    }

    void read_plugins(Flow& flow) {
        if (!doc_.contains("plugins")) return;
        for (size_t i = 0; i < doc_["plugins"].size(); ++i) {
            std::filesystem::path p;
            try {
                p = file_access(flow).resolve(doc_["plugins"][i].get<std::string>(),
                                              "plugins[" + std::to_string(i) + "]");
            } catch (const UserError& e) {
                add("/plugins/" + std::to_string(i), "", e.what());
                continue;
            }
            flow.plugins.push_back(p.string());
            if (!options_.load_plugins) continue;
            try {
                load_plugin(p);
            } catch (const UserError& e) {
                add("/plugins/" + std::to_string(i), "", e.what());
            }
        }
    }

    // Top-level `llm:` and `sampling:`: defaults for every LLM block.
    void read_llm_defaults(Flow& flow) {
        auto check = [&](const char* key, const Json& schema, Json& target, const Json& overrides) {
            if (doc_.contains(key)) target = substitute(doc_[key], std::string("/") + key, flow, "");
            detail::SchemaChecker checker(schema);
            for (const auto& p : checker.check(target)) add_schema_problem(p, std::string("/") + key, "");
            // Only what --set adds is reported here (the flow's own problems were, at their line);
            // a problem with the whole mapping has an empty pointer, and a value that is no mapping
            // takes no keys (both found by flow_loader_fuzz).
            if (overrides.empty() || !target.is_object()) return;
            Json with_overrides = target;
            for (const auto& [k, v] : overrides.items()) with_overrides[k] = v;
            for (const auto& p : checker.check(with_overrides))
                diags_.push_back(
                    {"--set",
                     {},
                     "",
                     std::string(key) + (p.pointer.empty() ? "" : "." + p.pointer.substr(1)) + ": " + p.message});
        };
        check("llm", llm::llm_config_schema(), flow.llm_defaults, flow.llm_overrides);
        check("sampling", llm::sampling_schema(), flow.sampling_defaults, flow.sampling_overrides);
        try {
            llm::sampling_from_json(llm::merge_sampling({flow.sampling_defaults, flow.sampling_overrides}));
        } catch (const UserError& e) {
            add("/sampling", "", e.what());
        }
    }

    // ${name} -> the parameter's value: typed when it is the whole string, text when embedded.
    Json substitute(const Json& value, const std::string& pointer, const Flow& flow, const std::string& block) {
        if (value.is_object()) {
            Json out = Json::object();
            for (const auto& [k, v] : value.items()) out[k] = substitute(v, pointer + "/" + k, flow, block);
            return out;
        }
        if (value.is_array()) {
            Json out = Json::array();
            for (size_t i = 0; i < value.size(); ++i)
                out.push_back(substitute(value[i], pointer + "/" + std::to_string(i), flow, block));
            return out;
        }
        if (!value.is_string()) return value;
        const std::string& s = value.get_ref<const std::string&>();
        if (s.find("${") == std::string::npos) return value;
        std::string out;
        size_t i = 0;
        while (i < s.size()) {
            if (s.compare(i, 3, "$${") == 0) {  // escaped: a literal "${"
                out += "${";
                i += 3;
                continue;
            }
            if (s.compare(i, 2, "${") != 0) {
                out += s[i++];
                continue;
            }
            size_t end = s.find('}', i);
            if (end == std::string::npos) {
                add(pointer, block, "unterminated ${ in \"" + s + "\"");
                return value;
            }
            std::string name = s.substr(i + 2, end - i - 2);
            if (!flow.param_values.contains(name)) {
                std::vector<std::string> names;
                for (const auto& p : flow.params) names.push_back(p.name);
                std::string hint = detail::closest_match(name, names);
                bool declared = std::any_of(flow.params.begin(), flow.params.end(),
                                            [&](const ParamSpec& p) { return p.name == name; });
                if (!declared)
                    add(pointer, block,
                        "unknown parameter ${" + name + "}" + (hint.empty() ? "" : "; did you mean ${" + hint + "}?"));
                return value;
            }
            if (i == 0 && end == s.size() - 1) return flow.param_values[name];
            out += param_as_text(flow.param_values[name]);
            i = end + 1;
        }
        return out;
    }

    void read_blocks(Flow& flow) {
        std::set<std::string> names;
        flow.blocks = read_block_list(doc_["blocks"], "/blocks", flow, names, false);
    }

    // `privacy:` adds the blocks its level stands for around the flow's own (privacy_level.h).
    // They are ordinary blocks from here on: validated, fingerprinted, listed in metadata.json.
    void read_privacy(Flow& flow) {
        if (!doc_.contains("privacy")) return;
        detail::PrivacyPlan plan = detail::plan_privacy(doc_["privacy"], flow.blocks);
        for (const auto& problem : plan.problems) add("/privacy", "", problem);
        if (!plan.problems.empty()) return;
        std::set<std::string> names;
        for (const auto& b : flow.blocks) names.insert(b.name);
        auto before = read_block_list(plan.before, "/privacy", flow, names, false);
        auto after = read_block_list(plan.after, "/privacy", flow, names, false);
        flow.blocks.insert(flow.blocks.begin(), before.begin(), before.end());
        flow.blocks.insert(flow.blocks.end(), after.begin(), after.end());
    }

    // Validates a list of blocks (the flow's, or a repeat's sub-blocks) and returns
    // their specs with params substituted and defaults filled in. Names are unique
    // across the whole flow: state in the run store is kept per block name.
    std::vector<BlockSpec> read_block_list(const Json& blocks, const std::string& list_pointer, const Flow& flow,
                                           std::set<std::string>& names, bool inside_repeat) {
        std::vector<BlockSpec> specs;
        auto& registry = BlockRegistry::global();
        std::vector<std::string> known;
        for (const auto* t : registry.all()) known.push_back(t->type);
        for (size_t i = 0; i < blocks.size(); ++i) {
            const std::string base = list_pointer + "/" + std::to_string(i);
            const auto& b = blocks[i];
            // The flow schema checks top-level blocks; a repeat's sub-blocks arrive unchecked
            // (found by flow_loader_fuzz: a sub-block without a name crashed validation).
            if (!b.is_object() || !b.contains("name") || !b["name"].is_string() || !b.contains("type") ||
                !b["type"].is_string()) {
                add(base, "", "a block needs a `name` and a `type`, both strings");
                continue;
            }
            BlockSpec spec;
            spec.name = b["name"].get<std::string>();
            spec.type = b["type"].get<std::string>();
            spec.mark = mark_for(marks_, base);
            if (!names.insert(spec.name).second) {
                add(base + "/name", spec.name, "another block has this name already; names must be unique");
                continue;
            }
            const BlockType* type = registry.find(spec.type);
            if (!type) {
                std::string hint = detail::closest_match(spec.type, known);
                add(base + "/type", spec.name,
                    "unknown block type '" + spec.type + "'" + (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                        " (`synthforge blocks` lists them; plugins add more)");
                continue;
            }
            if (spec.type == kFlowType) {
                if (inside_repeat) {
                    add(base + "/type", spec.name,
                        "a repeat cannot hold a flow block; put the repeat inside the sub-flow instead");
                    continue;
                }
                if (b.contains("when")) {
                    add(base + "/when", spec.name,
                        "a flow block takes no `when`; put the conditions on the sub-flow's own blocks");
                    continue;
                }
            }
            Json raw = b.value("config", Json::object());
            Json sub_blocks;
            bool is_repeat = spec.type == kRepeatType;
            if (is_repeat && raw.is_object() && raw.contains("blocks")) {
                if (inside_repeat) {
                    add(base + "/type", spec.name, "a repeat cannot hold another repeat; flatten the loops");
                    continue;
                }
                // Sub-blocks are substituted and validated on their own, with their own marks.
                sub_blocks = raw["blocks"];
                raw.erase("blocks");
            }
            Json config = substitute(raw, base + "/config", flow, spec.name);
            size_t before = diags_.size();
            if (is_repeat) {
                if (!sub_blocks.is_array() || sub_blocks.empty()) {
                    add(base + "/config", spec.name, "config.blocks: a repeat needs a non-empty list of blocks");
                    continue;
                }
                std::vector<BlockSpec> inner = read_block_list(sub_blocks, base + "/config/blocks", flow, names, true);
                if (diags_.size() != before) continue;
                config["blocks"] = Json::array();
                for (const auto& s : inner) {
                    Json item = {{"name", s.name}, {"type", s.type}, {"config", s.config}};
                    if (!s.when.is_null()) item["when"] = s.when;
                    config["blocks"].push_back(std::move(item));
                }
            }
            detail::SchemaChecker checker(type->config_schema);
            for (const auto& p : checker.check(config)) add_schema_problem(p, base + "/config", spec.name);
            if (diags_.size() != before) continue;
            spec.config = detail::apply_defaults(type->config_schema, std::move(config));
            if (spec.type == kFlowType && !resolve_sub_flow(spec, base)) continue;
            if (b.contains("when")) {
                spec.when = substitute(b["when"], base + "/when", flow, spec.name);
                // The conditions are a filter's: checked against its schema, reported at `when`.
                detail::SchemaChecker filter_checker(registry.find("filter")->config_schema);
                for (auto p : filter_checker.check(Json{{"where", spec.when}})) {
                    if (p.pointer.rfind("/where", 0) == 0) p.pointer = p.pointer.substr(6);
                    add_schema_problem(p, base + "/when", spec.name);
                }
                if (diags_.size() != before) continue;
            }
            // The factory checks what a schema cannot (a regex that does not compile, ...).
            try {
                BlockEnv env;
                env.flow_dir = path_.parent_path();
                env.allowed_paths = flow.allowed_paths;
                env.llm_defaults = flow.llm_defaults;
                env.llm_overrides = flow.llm_overrides;
                env.sampling_defaults = flow.sampling_defaults;
                env.sampling_overrides = flow.sampling_overrides;
                make_block(spec.name, spec.type, spec.config, spec.when, env);
            } catch (const UserError& e) {
                std::string msg = e.what();
                add(base + (msg.rfind("when", 0) == 0 ? "/when" : pointer_of_message(msg)), spec.name, msg);
                continue;
            }
            specs.push_back(std::move(spec));
        }
        return specs;
    }

    // A `flow` block: loads config.file (relative to this flow's folder) with config.params and
    // stores what it does in config.resolved, so the sub-flow's blocks, params and settings are
    // part of this flow's fingerprint and run identity. Problems inside the sub-flow are reported
    // at this block's `file`, each with its own place in the sub-flow's file.
    bool resolve_sub_flow(BlockSpec& spec, const std::string& base) {
        const std::string file = spec.config.at("file").get<std::string>();
        std::filesystem::path target;
        try {
            target = FileAccess{path_.parent_path(), allowed_paths()}.resolve(file, "config.file").lexically_normal();
        } catch (const UserError& e) {
            add(base + "/config/file", spec.name, e.what());
            return false;
        }

        std::vector<std::filesystem::path> chain = options_.including;
        chain.push_back(path_.lexically_normal());
        auto chain_text = [&](const std::filesystem::path& last) {
            std::string text;
            for (const auto& p : chain) text += p.string() + " -> ";
            return text + last.string();
        };
        std::error_code ec;
        const auto canonical_target = std::filesystem::weakly_canonical(target, ec);
        for (const auto& p : chain) {
            std::error_code ec2;
            if (std::filesystem::weakly_canonical(p, ec2) == canonical_target) {
                add(base + "/config/file", spec.name, "sub-flow cycle: " + chain_text(target));
                return false;
            }
        }
        if (chain.size() >= kMaxFlowDepth) {
            add(base + "/config/file", spec.name,
                fmt::format("sub-flows nest more than {} flow files deep: {}", kMaxFlowDepth, chain_text(target)));
            return false;
        }
        if (!std::filesystem::is_regular_file(target)) {
            add(base + "/config/file", spec.name, "config.file: no flow file " + target.string());
            return false;
        }

        FlowOptions sub_options;
        sub_options.load_plugins = options_.load_plugins;
        // The grants pass down as they are; the sub-flow's own --set-typed paths would be the
        // parent flow's words, not the user's, so they grant nothing.
        sub_options.allowed_paths = allowed_paths();
        sub_options.including = std::move(chain);
        sub_options.params = spec.config.value("params", Json::object());
        // --set llm.NAME / sampling.NAME reach every LLM block of the run, sub-flows included.
        for (const auto& [name, value] : options_.overrides)
            if (name.rfind("llm.", 0) == 0 || name.rfind("sampling.", 0) == 0) sub_options.overrides[name] = value;

        Flow sub;
        std::vector<Diagnostic> sub_diags;
        try {
            sub_diags = FlowValidator(target, sub_options).run(sub);
        } catch (const UserError& e) {
            add(base + "/config/file", spec.name, std::string("config.file: ") + e.what());
            return false;
        }
        if (!sub_diags.empty()) {
            for (const auto& d : sub_diags) add(base + "/config/file", spec.name, "in sub-flow " + d.str());
            return false;
        }
        Json blocks = Json::array();
        for (const auto& b : sub.blocks) {
            Json item = {{"name", b.name}, {"type", b.type}, {"config", b.config}};
            if (!b.when.is_null()) item["when"] = b.when;
            blocks.push_back(std::move(item));
        }
        spec.config["resolved"] = {{"name", sub.name},        {"params", sub.param_values},
                                   {"llm", sub.llm_defaults}, {"sampling", sub.sampling_defaults},
                                   {"plugins", sub.plugins},  {"blocks", std::move(blocks)}};
        return true;
    }

    // FlowOptions::allowed_paths, plus each top-level --set value that names an existing file
    // (as the flow would resolve it): the person running the flow typed that path, so reading
    // it is their choice (flows/stories.yaml's `examples_file`, for one). Only this flow's
    // own overrides count: a sub-flow's params come from its parent flow.
    std::vector<std::filesystem::path> allowed_paths() const {
        std::vector<std::filesystem::path> out;
        for (const auto& p : options_.allowed_paths) out.push_back(std::filesystem::absolute(p));
        if (!options_.including.empty()) return out;
        for (const auto& [name, value] : options_.overrides) {
            if (value.empty() || name.rfind("llm.", 0) == 0 || name.rfind("sampling.", 0) == 0) continue;
            // The Python module passes values as JSON text: a path arrives quoted.
            std::string text = value;
            if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
                Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
                if (parsed.is_string()) text = parsed.get<std::string>();
            }
            std::filesystem::path p(text);
            if (p.is_relative()) p = path_.parent_path() / p;
            std::error_code ec;
            if (std::filesystem::is_regular_file(p, ec)) out.push_back(std::filesystem::absolute(p));
        }
        return out;
    }

    static FileAccess file_access(const Flow& flow) { return {flow.path.parent_path(), flow.allowed_paths}; }

    std::filesystem::path path_;
    std::string file_;
    const FlowOptions& options_;
    Json doc_;
    detail::MarkMap marks_;
    std::vector<Diagnostic> diags_;
};

}  // namespace

std::vector<Diagnostic> validate_flow(const std::filesystem::path& path, const FlowOptions& options) {
    Flow flow;
    return FlowValidator(path, options).run(flow);
}

Flow load_flow(const std::filesystem::path& path, const FlowOptions& options) {
    Flow flow;
    auto diags = FlowValidator(path, options).run(flow);
    if (!diags.empty()) {
        std::string msg =
            fmt::format("{} has {} problem{}:", path.string(), diags.size(), diags.size() == 1 ? "" : "s");
        for (const auto& d : diags) msg += "\n  " + d.str();
        throw ConfigError(msg);
    }
    return flow;
}

std::string Flow::fingerprint() const {
    Json canonical = {{"version", kFlowVersion},
                      {"params", param_values},
                      {"input",
                       {{"schema", seed_schema_name(input.schema)},
                        {"required_columns", input.required_columns},
                        {"rows", input.rows}}},
                      {"plugins", plugins},
                      {"blocks", Json::array()},
                      {"llm", llm_defaults},
                      {"sampling", sampling_defaults},
                      {"llm_overrides", llm_overrides},
                      {"sampling_overrides", sampling_overrides}};
    for (const auto& b : blocks) {
        Json item = {{"name", b.name}, {"type", b.type}, {"config", b.config}};
        if (!b.when.is_null()) item["when"] = b.when;
        canonical["blocks"].push_back(std::move(item));
    }
    // Limits change which rows are rejected; left out at their defaults so fingerprints
    // of flows without `limits:` stay what they were.
    if (limits != Limits{}) canonical["limits"] = limits.to_json();
    std::string text = canonical.dump();
    XXH128_hash_t h = XXH3_128bits(text.data(), text.size());
    return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

}  // namespace synthforge
