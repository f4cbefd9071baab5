// Column shaping blocks: `select`, `drop` and `rename`. They only move values
// between keys; no value is ever copied, so they cost about as much as reading
// the row's keys.

#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace synthforge {
namespace {

std::vector<std::string> column_list(const Json& config, const char* key) {
    std::vector<std::string> out;
    if (!config.contains(key)) return out;
    for (const auto& c : config.at(key)) out.push_back(c.get<std::string>());
    return out;
}

// ---------------------------------------------------------------------------------------------
// select

constexpr const char* kSelectSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["columns"],
  "properties": {
    "columns": {
      "description": "Columns to keep, in the order they get in the output; a row missing one is rejected",
      "type": "array",
      "items": {"type": "string", "minLength": 1},
      "minItems": 1,
      "uniqueItems": true
    }
  }
})json";

class SelectBlock final : public Block {
  public:
    SelectBlock(std::string name, std::vector<std::string> columns)
        : Block(std::move(name)), columns_(std::move(columns)) {}

    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& row : rows) {
            // Check every column first so a rejected row reaches the rejects file whole.
            const std::string* missing = nullptr;
            for (const auto& c : columns_) {
                if (!row.is_object() || !row.contains(c)) {
                    missing = &c;
                    break;
                }
            }
            if (missing) {
                out.reject(std::move(row), "missing column '" + *missing + "'");
                continue;
            }
            Record kept = Json::object();
            for (const auto& c : columns_) kept.emplace(c, std::move(row.find(c).value()));
            out.emit(std::move(kept));
        }
    }

  private:
    std::vector<std::string> columns_;
};

std::unique_ptr<Block> make_select(const std::string& name, const Json& config, const BlockEnv&) {
    return std::make_unique<SelectBlock>(name, column_list(config, "columns"));
}

// ---------------------------------------------------------------------------------------------
// drop

constexpr const char* kDropSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["columns"],
  "properties": {
    "columns": {
      "description": "Columns to remove; columns a row does not have are ignored",
      "type": "array",
      "items": {"type": "string", "minLength": 1},
      "minItems": 1
    }
  }
})json";

class DropBlock final : public Block {
  public:
    DropBlock(std::string name, std::vector<std::string> columns)
        : Block(std::move(name)), columns_(std::move(columns)) {}

    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& row : rows) {
            if (row.is_object())
                for (const auto& c : columns_) row.erase(c);
            out.emit(std::move(row));
        }
    }

  private:
    std::vector<std::string> columns_;
};

std::unique_ptr<Block> make_drop(const std::string& name, const Json& config, const BlockEnv&) {
    return std::make_unique<DropBlock>(name, column_list(config, "columns"));
}

// ---------------------------------------------------------------------------------------------
// rename

constexpr const char* kRenameSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["mapping"],
  "properties": {
    "mapping": {
      "description": "Old column name -> new column name; all renames apply at once, so {a: b, b: a} swaps",
      "type": "object",
      "minProperties": 1,
      "additionalProperties": {"type": "string", "minLength": 1}
    },
    "overwrite": {
      "description": "Replace a column that already has a new name; when false such rows are rejected",
      "type": "boolean",
      "default": false
    }
  }
})json";

class RenameBlock final : public Block {
  public:
    RenameBlock(std::string name, std::unordered_map<std::string, std::string> mapping,
                std::vector<std::string> sources, bool overwrite)
        : Block(std::move(name)), mapping_(std::move(mapping)), sources_(std::move(sources)), overwrite_(overwrite) {
        for (const auto& [from, to] : mapping_) {
            // A target that is itself renamed away frees its name, so it never conflicts.
            if (!mapping_.contains(to)) targets_.push_back(to);
        }
    }

    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& row : rows) {
            if (!row.is_object()) {
                out.reject(std::move(row), "record is not an object");
                continue;
            }
            if (auto reason = check(row); !reason.empty()) {
                out.reject(std::move(row), std::move(reason));
                continue;
            }
            // ordered_json keys are const, so renaming means rebuilding the object; values are moved.
            auto& items = row.get_ref<Json::object_t&>();
            Record renamed = Json::object();
            auto& dst = renamed.get_ref<Json::object_t&>();
            dst.reserve(items.size());
            for (auto& [key, value] : items) {
                if (auto it = mapping_.find(key); it != mapping_.end()) {
                    dst.emplace(it->second, std::move(value));
                } else if (!overwrite_ || !is_target(key)) {
                    dst.emplace(key, std::move(value));
                }
            }
            out.emit(std::move(renamed));
        }
    }

  private:
    std::string check(const Record& row) const {
        for (const auto& from : sources_)
            if (!row.is_object() || !row.contains(from)) return "missing column '" + from + "'";
        if (!overwrite_) {
            for (const auto& to : targets_) {
                if (row.contains(to)) {
                    for (const auto& from : sources_)
                        if (mapping_.at(from) == to)
                            return "cannot rename '" + from + "' to '" + to + "': column '" + to +
                                   "' exists (set overwrite: true to replace it)";
                }
            }
        }
        return {};
    }

    bool is_target(const std::string& key) const {
        for (const auto& t : targets_)
            if (t == key) return true;
        return false;
    }

    std::unordered_map<std::string, std::string> mapping_;
    std::vector<std::string> sources_;  // in config order, so reasons are stable
    std::vector<std::string> targets_;  // new names that are not also renamed away
    bool overwrite_;
};

std::unique_ptr<Block> make_rename(const std::string& name, const Json& config, const BlockEnv&) {
    std::unordered_map<std::string, std::string> mapping;
    std::vector<std::string> sources;
    std::unordered_map<std::string, std::string> seen_targets;
    for (const auto& [from, to_json] : config.at("mapping").items()) {
        auto to = to_json.get<std::string>();
        if (auto it = seen_targets.find(to); it != seen_targets.end())
            throw ConfigError("config.mapping." + from + ": '" + it->second + "' is renamed to '" + to +
                              "' already; two columns cannot get the same name");
        seen_targets.emplace(to, from);
        sources.push_back(from);
        mapping.emplace(from, std::move(to));
    }
    return std::make_unique<RenameBlock>(name, std::move(mapping), std::move(sources),
                                         config.value("overwrite", false));
}

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(select, "Keep only the listed columns, in the listed order", kSelectSchema, make_select)
SYNTHFORGE_REGISTER_BLOCK(drop, "Remove columns", kDropSchema, make_drop)
SYNTHFORGE_REGISTER_BLOCK(rename, "Rename columns, keeping their position", kRenameSchema, make_rename)

}  // namespace synthforge
