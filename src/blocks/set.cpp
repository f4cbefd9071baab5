// `set`: writes one column, either a constant or a Jinja template rendered over
// the row's columns. The template is compiled once, when the flow loads, so a
// syntax error stops the run before any row is read.

#include "synthforge/engine/registry.h"
#include "synthforge/engine/template.h"
#include "synthforge/errors.h"
#include "synthforge/text/normalize.h"

#include <optional>
#include <string>
#include <utility>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["column"],
  "properties": {
    "column": {
      "description": "Column to write; added at the end of the row when the row does not have it",
      "type": "string",
      "minLength": 1
    },
    "template": {
      "description": "Jinja template over the row's columns, e.g. \"Q: {{ question }}\" (one of template/value)",
      "type": "string"
    },
    "value": {
      "description": "Constant JSON value to write (one of template/value/count_words)"
    },
    "count_words": {
      "description": "Write the number of words (whitespace-separated, as the filter counts them) in this text column",
      "type": "string"
    },
    "parse": {
      "description": "text: the rendered template is the value; json: it is read as JSON (a number, list or object)",
      "enum": ["text", "json"],
      "default": "text"
    },
    "overwrite": {
      "description": "Replace the column when the row has it already; when false such rows pass unchanged",
      "type": "boolean",
      "default": true
    }
  }
})json";

class SetBlock final : public Block {
  public:
    SetBlock(std::string name, std::string column, std::optional<Template> tmpl, Json value, bool overwrite,
             bool parse_json, std::string count_of = "")
        : Block(std::move(name)),
          column_(std::move(column)),
          template_(std::move(tmpl)),
          value_(std::move(value)),
          overwrite_(overwrite),
          parse_json_(parse_json),
          count_of_(std::move(count_of)) {}

    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& row : rows) {
            if (!row.is_object()) {
                out.reject(std::move(row), "record is not an object");
                continue;
            }
            if (!overwrite_ && row.contains(column_)) {
                out.emit(std::move(row));
                continue;
            }
            if (!count_of_.empty()) {
                auto it = row.find(count_of_);
                if (it == row.end() || !it->is_string()) {
                    out.reject(std::move(row), "count_words: column '" + count_of_ + "' is " +
                                                   (it == row.end() ? "missing" : "not text"));
                    continue;
                }
                row[column_] = text::count_words(it->get_ref<const std::string&>());
            } else if (template_) {
                std::string text;
                try {
                    text = template_->render(row);
                } catch (const TemplateError& e) {
                    out.reject(std::move(row), e.what());
                    continue;
                }
                if (parse_json_) {
                    Json parsed = Json::parse(text, nullptr, false);
                    if (parsed.is_discarded()) {
                        out.reject(std::move(row), "template output is not JSON: " +
                                                       (text.size() > 80 ? text.substr(0, 80) + "..." : text));
                        continue;
                    }
                    row[column_] = std::move(parsed);
                } else {
                    row[column_] = std::move(text);
                }
            } else {
                row[column_] = value_;
            }
            out.emit(std::move(row));
        }
    }

  private:
    std::string column_;
    std::optional<Template> template_;
    Json value_;
    bool overwrite_;
    bool parse_json_;
    std::string count_of_;  // count_words: the text column counted
};

// Exactly one of template/value is checked here rather than with a schema "oneOf":
// the schema checker would report "neither" as two missing properties.
std::unique_ptr<Block> make_set(const std::string& name, const Json& config, const BlockEnv&) {
    const bool has_template = config.contains("template");
    const bool has_value = config.contains("value");
    const bool has_count = config.contains("count_words");
    if (int(has_template) + int(has_value) + int(has_count) != 1)
        throw ConfigError("config: give exactly one of template, value or count_words");
    if (has_count)
        return std::make_unique<SetBlock>(name, config.at("column").get<std::string>(), std::nullopt, Json(),
                                          config.value("overwrite", true), false,
                                          config["count_words"].get<std::string>());
    std::optional<Template> tmpl;
    Json value;
    if (has_template)
        tmpl.emplace(Template::compile(config.at("template").get<std::string>(), "config.template"));
    else
        value = config.at("value");
    return std::make_unique<SetBlock>(name, config.at("column").get<std::string>(), std::move(tmpl), std::move(value),
                                      config.value("overwrite", true), config.value("parse", "text") == "json");
}

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(set, "Write a column from a template or a constant", kSchema, make_set)

}  // namespace synthforge
