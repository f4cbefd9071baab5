#include "yaml_json.h"

#include <cmath>
#include <regex>

namespace synthforge::detail {
namespace {

FlowMark to_mark(const YAML::Mark& m) {
    return {m.line + 1, m.column + 1};
}

std::string escape_pointer_token(const std::string& key) {
    std::string out;
    for (char c : key) {
        if (c == '~')
            out += "~0";
        else if (c == '/')
            out += "~1";
        else
            out += c;
    }
    return out;
}

// YAML 1.2 core schema for plain scalars.
Json resolve_plain_scalar(const std::string& s) {
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    static const std::regex int_re("[-+]?[0-9]+");
    static const std::regex float_re(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
    if (std::regex_match(s, int_re)) {
        try {
            if (s[0] == '-') return std::stoll(s);
            return std::stoull(s[0] == '+' ? s.substr(1) : s);
        } catch (const std::out_of_range&) {
            return std::stod(s);
        }
    }
    if (std::regex_match(s, float_re)) return std::stod(s);
    if (s == ".inf" || s == "+.inf" || s == ".Inf" || s == "+.Inf") return HUGE_VAL;
    if (s == "-.inf" || s == "-.Inf") return -HUGE_VAL;
    return s;
}

void convert(const YAML::Node& node, const std::string& pointer, const std::string& file, YamlConversion& out,
             Json& target) {
    out.marks[pointer] = to_mark(node.Mark());
    switch (node.Type()) {
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            target = nullptr;
            break;
        case YAML::NodeType::Scalar:
            // yaml-cpp tags plain scalars "?" and quoted ones "!".
            target = node.Tag() == "!" ? Json(node.Scalar()) : resolve_plain_scalar(node.Scalar());
            break;
        case YAML::NodeType::Sequence: {
            target = Json::array();
            size_t i = 0;
            for (const auto& item : node) {
                Json child;
                convert(item, pointer + "/" + std::to_string(i++), file, out, child);
                target.push_back(std::move(child));
            }
            break;
        }
        case YAML::NodeType::Map: {
            target = Json::object();
            for (const auto& kv : node) {
                std::string key = kv.first.as<std::string>();
                std::string child_pointer = pointer + "/" + escape_pointer_token(key);
                if (target.contains(key)) {
                    out.problems.push_back({file, to_mark(kv.first.Mark()), "", "key '" + key + "' appears twice"});
                    continue;
                }
                out.marks[child_pointer + "#key"] = to_mark(kv.first.Mark());
                Json child;
                convert(kv.second, child_pointer, file, out, child);
                target[key] = std::move(child);
            }
            break;
        }
    }
}

}  // namespace

YamlConversion yaml_to_json(const YAML::Node& node, const std::string& file) {
    YamlConversion out;
    convert(node, "", file, out, out.value);
    return out;
}

Json yaml_scalar_to_json(const std::string& text) {
    YAML::Node node = YAML::Load(text);
    return yaml_to_json(node, "--set").value;
}

FlowMark mark_for(const MarkMap& marks, std::string pointer) {
    while (true) {
        auto it = marks.find(pointer);
        if (it != marks.end()) return it->second;
        if (pointer.empty()) return {};
        pointer.erase(pointer.rfind('/'));
    }
}

std::string display_path(const Json& root, const std::string& pointer, const std::string& relative_to) {
    std::string out;
    const Json* node = &root;
    size_t pos = 0;
    std::string walked;
    while (pos < pointer.size()) {
        size_t next = pointer.find('/', pos + 1);
        std::string token = pointer.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
        walked += "/" + token;
        pos = next == std::string::npos ? pointer.size() : next;
        bool is_index = node && node->is_array();
        std::string unescaped;
        for (size_t i = 0; i < token.size(); ++i) {
            if (token[i] == '~' && i + 1 < token.size())
                unescaped += token[++i] == '1' ? '/' : '~';
            else
                unescaped += token[i];
        }
        if (node) {
            if (is_index) {
                size_t idx = std::stoul(unescaped);
                node = idx < node->size() ? &(*node)[idx] : nullptr;
            } else if (node->is_object() && node->contains(unescaped)) {
                node = &(*node)[unescaped];
            } else {
                node = nullptr;
            }
        }
        if (walked.size() <= relative_to.size()) continue;
        if (is_index)
            out += "[" + unescaped + "]";
        else
            out += (out.empty() ? "" : ".") + unescaped;
    }
    return out;
}

}  // namespace synthforge::detail
