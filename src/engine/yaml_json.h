#pragma once
// YAML -> JSON for flow files, keeping where every value came from, so that a
// validation error found on the JSON can point at the YAML line and column.

#include "synthforge/data/record.h"
#include "synthforge/engine/flow.h"

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

namespace synthforge::detail {

// JSON pointer ("/blocks/0/config/op") -> position of the value there. For object
// keys, "<pointer>/<key>#key" holds the position of the key itself.
using MarkMap = std::map<std::string, FlowMark>;

struct YamlConversion {
    Json value;
    MarkMap marks;
    std::vector<Diagnostic> problems;  // duplicate keys, unsupported tags
};

// Plain scalars follow the YAML 1.2 core schema (null, true/false, integers,
// floats); quoted scalars always stay strings.
YamlConversion yaml_to_json(const YAML::Node& node, const std::string& file);

// A single scalar given on the command line (--set k=v): typed like a plain YAML scalar,
// or a YAML flow sequence/mapping such as [a, b].
Json yaml_scalar_to_json(const std::string& text);

// Position for a pointer: the closest ancestor that has one.
FlowMark mark_for(const MarkMap& marks, std::string pointer);

// "/blocks/0/config/where/1/value" relative to "/blocks/0" -> "config.where[1].value"
std::string display_path(const Json& root, const std::string& pointer, const std::string& relative_to = "");

}  // namespace synthforge::detail
