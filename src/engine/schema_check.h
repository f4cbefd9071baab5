#pragma once
// JSON Schema validation (valijson) with messages written for flow authors:
// each problem names the JSON pointer it is about, so callers can map it to a
// YAML line, and says what was expected in plain words.

#include "synthforge/data/record.h"

#include <memory>
#include <string>
#include <vector>

namespace synthforge::detail {

struct SchemaProblem {
    std::string pointer;  // where in the document ("/blocks/0/config/op")
    std::string key;      // for an unknown key: the key, so its own position can be shown
    std::string message;
};

class SchemaChecker {
  public:
    explicit SchemaChecker(const Json& schema);  // throws std::logic_error when the schema is invalid
    ~SchemaChecker();
    std::vector<SchemaProblem> check(const Json& document) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Fills in "default" values of the schema's top-level properties that `config` lacks.
Json apply_defaults(const Json& schema, Json config);

// The closest of `candidates` to `word` (edit distance <= 2), or "".
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace synthforge::detail
