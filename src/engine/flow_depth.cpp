#include "flow_depth.h"

#include "text/utf8.h"

#include <fmt/format.h>

#include <utility>
#include <vector>

namespace synthforge::detail {

std::optional<Diagnostic> check_flow_encoding(std::string_view text, const std::string& file) {
    const size_t bad = text::utf8::first_invalid(text);
    if (bad == std::string_view::npos) return std::nullopt;
    int line = 1, column = 1;
    for (size_t i = 0; i < bad; ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
            ++column;  // columns count characters, not bytes
        }
    }
    return Diagnostic{file, {line, column}, "", "the flow is not valid UTF-8 (byte " + std::to_string(bad + 1) + ")"};
}

int requested_flow_depth(const YAML::Node& root) {
    const int fallback = Limits{}.max_flow_depth;
    if (!root.IsMap()) return fallback;
    const YAML::Node limits = root["limits"];
    if (!limits || !limits.IsMap()) return fallback;
    const YAML::Node depth = limits["max_flow_depth"];
    if (!depth || !depth.IsScalar()) return fallback;
    int value = 0;
    if (!YAML::convert<int>::decode(depth, value) || value < 2 || value > kMaxFlowDepthCeiling) return fallback;
    return value;
}

std::optional<Diagnostic> check_flow_size(const YAML::Node& root, const std::string& file, int max_depth) {
    // An explicit stack, not recursion: the point is to survive documents that would
    // overflow a recursive walk. Aliases can make the node graph cyclic; the depth
    // bound ends every path, the value count bounds the total work.
    std::vector<std::pair<YAML::Node, int>> todo;
    todo.emplace_back(root, 1);
    size_t values = 0;
    while (!todo.empty()) {
        const YAML::Node node = todo.back().first;
        const int depth = todo.back().second;
        todo.pop_back();
        auto at = [&](const std::string& message) {
            const YAML::Mark m = node.Mark();
            return Diagnostic{file, {m.line + 1, m.column + 1}, "", message};
        };
        if (++values > kMaxFlowValues)
            return at(fmt::format("the flow holds more than {} values once its aliases are expanded", kMaxFlowValues));
        if (!node.IsMap() && !node.IsSequence()) continue;
        if (depth > max_depth)
            return at(
                fmt::format("mappings and lists nest {} levels deep here, over the limit of {} "
                            "(limits.max_flow_depth)",
                            depth, max_depth));
        if (node.IsSequence()) {
            for (const auto& child : node) todo.emplace_back(child, depth + 1);
        } else {
            for (const auto& kv : node) {
                todo.emplace_back(kv.first, depth + 1);
                todo.emplace_back(kv.second, depth + 1);
            }
        }
    }
    return std::nullopt;
}

}  // namespace synthforge::detail
