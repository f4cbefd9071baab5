#pragma once
// Sampling configuration as flows write it: a `sampling:` mapping with an
// optional preset and explicit values. Precedence, lowest first:
//   preset < flow-level `sampling:` < block `sampling:` < --set sampling.NAME=VALUE
// Presets (docs/sampling.md):
//   instruction-tuning  temperature 0.7, top_p 0.9             varied but on-task answers
//   domain-adaptation   temperature 0.5, top_p 0.85, frequency_penalty 0.2
//                       closer to the source domain's wording, less repetition
//   creative            temperature 1.0, top_p 0.95, presence_penalty 0.4
//                       stories and brainstorming: more new topics and words
//   judge               deterministic (greedy), max_tokens 512  reproducible scoring

#include "synthforge/data/record.h"
#include "synthforge/llm/request.h"

#include <string>
#include <vector>

namespace synthforge::llm {

std::vector<std::string> preset_names();
// The values a preset sets; throws UserError naming the known presets when unknown.
Json preset_values(const std::string& name);

// Merges the layers (each a `sampling:` mapping, possibly with `preset`) in precedence order.
Json merge_sampling(const std::vector<Json>& layers_lowest_first);
// Reads a merged mapping; unknown keys and bad values throw ConfigError naming them.
SamplingParams sampling_from_json(const Json& merged);

// JSON schema of a `sampling:` mapping, for block config schemas.
Json sampling_schema();

}  // namespace synthforge::llm
