// `explode`: turns one row with a list into one row per element, for instance a
// generated list of sub-questions into one row per question.

#include "synthforge/engine/registry.h"
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
    "column": {"description": "List column to explode", "type": "string", "minLength": 1},
    "as": {
      "description": "Column that receives each element (default: the list column itself, replaced by the element)",
      "type": "string",
      "minLength": 1
    },
    "index_column": {
      "description": "Column that receives the element's 0-based position in the list (default: none)",
      "type": "string",
      "minLength": 1
    }
  }
})json";

class ExplodeBlock final : public Block {
  public:
    ExplodeBlock(std::string name, std::string column, std::string as, std::optional<std::string> index_column)
        : Block(std::move(name)),
          column_(std::move(column)),
          as_(std::move(as)),
          index_column_(std::move(index_column)) {}

    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& row : rows) {
            auto it = row.is_object() ? row.find(column_) : row.end();
            if (!row.is_object() || it == row.end()) {
                out.reject(std::move(row), "missing column '" + column_ + "'");
                continue;
            }
            if (!it->is_array()) {
                out.reject(std::move(row), "column '" + column_ + "' is not a list (got " + json_type_name(*it) + ")");
                continue;
            }
            if (it->empty()) {
                out.reject(std::move(row), "column '" + column_ + "' is an empty list");
                continue;
            }
            if (as_ == column_)
                explode_in_place(std::move(row), out);
            else
                explode_beside(std::move(row), out);
        }
    }

  private:
    // The list is taken out of the row, so each output row copies only the other
    // columns; its elements are moved, and the last output row reuses the input row.
    void explode_in_place(Record&& row, Emitter& out) const {
        Json list = std::move(row[column_]);
        auto& items = list.get_ref<Json::array_t&>();
        const size_t n = items.size();
        for (size_t i = 0; i < n; ++i) {
            Record r = i + 1 < n ? Record(row) : std::move(row);
            r[column_] = std::move(items[i]);
            if (index_column_) r[*index_column_] = i;
            out.emit(std::move(r));
        }
    }

    // The list column stays in every output row (use `drop` to remove it).
    void explode_beside(Record&& row, Emitter& out) const {
        const size_t n = row[column_].size();
        for (size_t i = 0; i < n; ++i) {
            Json element = row[column_][i];
            Record r = i + 1 < n ? Record(row) : std::move(row);
            r[as_] = std::move(element);
            if (index_column_) r[*index_column_] = i;
            out.emit(std::move(r));
        }
    }

    std::string column_;
    std::string as_;
    std::optional<std::string> index_column_;
};

std::unique_ptr<Block> make_explode(const std::string& name, const Json& config, const BlockEnv&) {
    auto column = config.at("column").get<std::string>();
    std::string as = column;
    if (auto it = config.find("as"); it != config.end() && !it->is_null()) as = it->get<std::string>();
    std::optional<std::string> index_column;
    if (auto it = config.find("index_column"); it != config.end() && !it->is_null()) {
        index_column = it->get<std::string>();
        if (*index_column == as)
            throw ConfigError("config.index_column: '" + as + "' already receives the elements; choose another name");
    }
    return std::make_unique<ExplodeBlock>(name, std::move(column), std::move(as), std::move(index_column));
}

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(explode, "Turn each element of a list column into its own row", kSchema, make_explode)

}  // namespace synthforge
