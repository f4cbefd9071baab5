#pragma once
// Guards the flow loader against hostile or runaway YAML before it is converted:
// nesting deeper than limits.max_flow_depth, and aliases that expand a small file
// into a huge document. Both would otherwise cost unbounded stack or memory in the
// recursive YAML -> JSON conversion and schema checks.

#include "synthforge/engine/flow.h"

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>

namespace synthforge::detail {

// Values (mappings, lists and scalars, each alias counted every time it is used) a
// flow may hold once aliases are expanded. Real flows hold a few thousand.
inline constexpr size_t kMaxFlowValues = 1'000'000;

// A problem ("the flow is not valid UTF-8 ...") at the first invalid byte, or nothing.
// YAML does not check it, and a flow's strings end up in JSON, which must be UTF-8.
std::optional<Diagnostic> check_flow_encoding(std::string_view text, const std::string& file);

// The max_flow_depth the document asks for in `limits:` (the default when absent or
// not a whole number in range; the schema check reports a bad value later).
int requested_flow_depth(const YAML::Node& root);

// A problem ("mappings and lists nest N levels deep, over the limit ...") at the first
// value that crosses a limit, or nothing.
std::optional<Diagnostic> check_flow_size(const YAML::Node& root, const std::string& file, int max_depth);

}  // namespace synthforge::detail
