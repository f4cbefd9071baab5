#pragma once
// A record is one row of a dataset: a JSON object whose keys are column names.
// ordered_json keeps the columns in the order they first appeared, so outputs
// read like their inputs and serialise byte-identically on every run.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace synthforge {

using Json = nlohmann::ordered_json;
using Record = Json;

// Where a record came from: shown in every error and reject about it.
struct SourcePos {
    std::string file;
    uint64_t line = 0;  // 1-based; 0 when unknown

    std::string str() const { return line ? file + ":" + std::to_string(line) : file; }
};

// How messages name a value's type: null, bool, number, string, list, object.
const char* json_type_name(const Json& value);

// Reserved columns that the engine adds to rejected rows.
inline constexpr const char* kRejectedByColumn = "_rejected_by";
inline constexpr const char* kReasonColumn = "_reason";
inline constexpr const char* kSourceColumn = "_source";

}  // namespace synthforge
