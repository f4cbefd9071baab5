#pragma once
// The seed-data schemas a flow can require of its inputs (docs/data.md):
//   instruction: `instruction` (string, required), `input`, `output` (strings, optional)
//   chat:        `messages` (array of {role: system|user|assistant|tool, content: string}, non-empty)
//   text:        `text` (string, required)
//   any:         no constraint beyond being a JSON object

#include "synthforge/data/record.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace synthforge {

enum class SeedSchema { any, instruction, chat, text };

std::optional<SeedSchema> seed_schema_from_name(std::string_view name);
std::string_view seed_schema_name(SeedSchema s);

// Returns why `record` does not fit: a message naming the field ("field 'messages[2].role':
// expected one of system, user, assistant, tool"), or nullopt when it fits. Extra columns
// are allowed. `required_columns` must be present (any type) in addition.
std::optional<std::string> check_seed_record(const Record& record, SeedSchema schema,
                                             const std::vector<std::string>& required_columns = {});

}  // namespace synthforge
