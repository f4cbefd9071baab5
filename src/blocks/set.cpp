// `set`: writes one column, either a constant or a Jinja template rendered over
// the row's columns. The template is compiled once, when the flow loads, so a
// syntax error stops the run before any row is read.

#include "synthforge/engine/registry.h"
#include "synthforge/engine/template.h"
#include "synthforge/errors.h"

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
      "description": "Constant JSON value to write (one of template/value)"
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
    SetBlock(std::string name, std::string column, std::optional<Template> tmpl, Json value, bool overwrite)
        : Block(std::move(name)),
          column_(std::move(column)),
          template_(std::move(tmpl)),
          value_(std::move(value)),
          overwrite_(overwrite) {}

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
            if (template_) {
                std::string text;
                try {
                    text = template_->render(row);
                } catch (const TemplateError& e) {
                    out.reject(std::move(row), e.what());
                    continue;
                }
                row[column_] = std::move(text);
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
};

// Exactly one of template/value is checked here rather than with a schema "oneOf":
// the schema checker would report "neither" as two missing properties.
std::unique_ptr<Block> make_set(const std::string& name, const Json& config, const BlockEnv&) {
    const bool has_template = config.contains("template");
    const bool has_value = config.contains("value");
    if (has_template == has_value)
        throw ConfigError(has_template ? "config: give either template or value, not both"
                                       : "config: give one of template or value");
    std::optional<Template> tmpl;
    Json value;
    if (has_template)
        tmpl.emplace(Template::compile(config.at("template").get<std::string>(), "config.template"));
    else
        value = config.at("value");
    return std::make_unique<SetBlock>(name, config.at("column").get<std::string>(), std::move(tmpl), std::move(value),
                                      config.value("overwrite", true));
}

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(set, "Write a column from a template or a constant", kSchema, make_set)

}  // namespace synthforge
