#pragma once
// Turning an LLM's text into columns: plain text, JSON (optionally checked
// against a schema), a numbered or bulleted list (one row per item), or a
// regular expression's named groups. A failure is a reason, never a throw.

#include "synthforge/data/record.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace synthforge::blocks {

enum class ParseMode { text, json, list, regex };

struct ParseResult {
    std::vector<Json> values;  // text/json: one value; list: the items; regex: one object of groups
    std::string error;         // non-empty when the text could not be parsed
};

class OutputParser {
  public:
    // Throws ConfigError (naming config.<key>) for an invalid regex or schema.
    OutputParser(ParseMode mode, const Json& json_schema, const std::string& regex, bool drop_truncated_last);
    ~OutputParser();
    ParseResult parse(const std::string& text, const std::string& finish_reason) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Items of a numbered ("1.", "2)", "(3)") or bulleted ("-", "*", "•") list; lines that
// continue an item are joined to it. Text before the first item is ignored.
std::vector<std::string> parse_list_items(const std::string& text);

// The first JSON object or array in `text` (fenced ```json blocks and chatter around it allowed),
// nested at most 256 levels deep; linear time in the length of `text`.
std::optional<Json> extract_json(const std::string& text);

}  // namespace synthforge::blocks
