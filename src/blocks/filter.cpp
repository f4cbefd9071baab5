// `filter`: keeps the rows that satisfy a list of conditions (all of them, or any
// one). Everything that can be decided from the config -- operator, regexes,
// membership sets, the text of reasons -- is prepared once in the factory, so a
// row costs a key lookup and one comparison per condition, and allocates nothing
// unless it is rejected.

#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"
#include "synthforge/text/normalize.h"

#include <re2/re2.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["where"],
  "properties": {
    "where": {
      "description": "Conditions {column, op, value, length}; see `op` below for the operators",
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["column", "op"],
        "properties": {
          "column": {"description": "Column to test", "type": "string", "minLength": 1},
          "op": {
            "description": "Comparison operator",
            "enum": ["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "contains", "not_contains",
                     "matches", "not_matches", "exists", "not_exists", "empty", "not_empty"]
          },
          "value": {"description": "Right-hand side: number, string, list (in/not_in) or RE2 regex (matches)"},
          "length": {
            "description": "Compare the length of the column's text in code points (chars) or words instead",
            "enum": ["chars", "words"]
          },
          "reason": {
            "description": "Words that start the rejection reason when this condition fails, e.g. \"needs an image\"",
            "type": "string"
          }
        }
      }
    },
    "mode": {
      "description": "all: every condition must hold; any: at least one must hold",
      "enum": ["all", "any"],
      "default": "all"
    }
  }
})json";

enum class Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Contains,
    NotContains,
    Matches,
    NotMatches,
    Exists,
    NotExists,
    Empty,
    NotEmpty
};
enum class Length { None, Chars, Words };

struct OpName {
    const char* name;
    Op op;
};
constexpr OpName kOps[] = {
    {"==", Op::Eq},
    {"!=", Op::Ne},
    {"<", Op::Lt},
    {"<=", Op::Le},
    {">", Op::Gt},
    {">=", Op::Ge},
    {"in", Op::In},
    {"not_in", Op::NotIn},
    {"contains", Op::Contains},
    {"not_contains", Op::NotContains},
    {"matches", Op::Matches},
    {"not_matches", Op::NotMatches},
    {"exists", Op::Exists},
    {"not_exists", Op::NotExists},
    {"empty", Op::Empty},
    {"not_empty", Op::NotEmpty},
};

bool takes_no_value(Op op) {
    return op == Op::Exists || op == Op::NotExists || op == Op::Empty || op == Op::NotEmpty;
}
bool is_ordering(Op op) {
    return op == Op::Lt || op == Op::Le || op == Op::Gt || op == Op::Ge;
}

// Cuts `s` to at most `max_bytes` without splitting a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view s, size_t max_bytes) {
    if (s.size() <= max_bytes) return s;
    size_t end = max_bytes;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
    return s.substr(0, end);
}

// A value as it appears in a reason: JSON, cut short so that a rejected 10 kB
// response does not make a 10 kB reason.
std::string brief(const Json& v) {
    constexpr size_t kMax = 80;
    if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        if (s.size() <= kMax) return v.dump(-1, ' ', false, Json::error_handler_t::replace);
        Json cut = std::string(utf8_prefix(s, kMax - 3)) + "...";
        return cut.dump(-1, ' ', false, Json::error_handler_t::replace);
    }
    auto text = v.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (text.size() <= kMax) return text;
    return std::string(utf8_prefix(text, kMax - 3)) + "...";
}

// Empty means "carries no content": null, blank text, an empty list or object.
bool is_empty_value(const Json& v) {
    switch (v.type()) {
        case Json::value_t::null:
            return true;
        case Json::value_t::string:
            return text::count_words(v.get_ref<const std::string&>()) == 0;
        case Json::value_t::array:
        case Json::value_t::object:
            return v.empty();
        default:
            return false;
    }
}

const Json* lookup(const Record& row, const std::string& column) {
    if (!row.is_object()) return nullptr;
    auto it = row.find(column);
    return it == row.end() ? nullptr : &*it;
}

class Condition {
  public:
    Condition(const Json& spec, size_t index) {
        const std::string where = "config.where[" + std::to_string(index) + "]";
        column_ = spec.at("column").get<std::string>();
        const auto op_name = spec.at("op").get<std::string>();
        bool known = false;
        for (const auto& o : kOps) {
            if (op_name == o.name) {
                op_ = o.op;
                op_name_ = o.name;
                known = true;
            }
        }
        if (!known) throw ConfigError(where + ".op: unknown operator '" + op_name + "'");

        label_ = column_;
        reason_ = spec.value("reason", "");
        if (auto it = spec.find("length"); it != spec.end() && !it->is_null()) {
            const auto len = it->get<std::string>();
            if (len == "chars")
                length_ = Length::Chars;
            else if (len == "words")
                length_ = Length::Words;
            else
                throw ConfigError(where + ".length: must be chars or words, not '" + len + "'");
            if (!(op_ == Op::Eq || op_ == Op::Ne || is_ordering(op_) || op_ == Op::In || op_ == Op::NotIn))
                throw ConfigError(where + ".length: cannot be used with op '" + op_name_ + "'");
            label_ = len + "(" + column_ + ")";
        }

        const bool has_value = spec.contains("value");
        if (takes_no_value(op_)) {
            if (has_value) throw ConfigError(where + ".value: op '" + op_name_ + "' takes no value");
            return;
        }
        if (!has_value) throw ConfigError(where + ".value: op '" + op_name_ + "' needs a value");
        value_ = spec.at("value");
        value_text_ = brief(value_);

        if (length_ != Length::None && op_ != Op::In && op_ != Op::NotIn && !value_.is_number())
            throw ConfigError(where + ".value: a length is compared with a number, not a " + json_type_name(value_));
        // Comparing a length with a number needs counting only past that number: any count
        // above it decides ==, !=, <, <=, >, >= the same way. Rejections recount for the message.
        if (length_ != Length::None && value_.is_number() && op_ != Op::In && op_ != Op::NotIn)
            length_cap_ = value_.get<double>() < 0 ? 1 : static_cast<size_t>(value_.get<double>()) + 2;
        if (is_ordering(op_) && !value_.is_number() && !value_.is_string())
            throw ConfigError(where + ".value: op '" + op_name_ + "' compares with a number or a string, not a " +
                              json_type_name(value_));
        if (op_ == Op::In || op_ == Op::NotIn) {
            if (!value_.is_array())
                throw ConfigError(where + ".value: op '" + op_name_ + "' needs a list, not a " +
                                  json_type_name(value_));
            // Strings (the common case: languages, labels) are looked up by hash; other items by a scan.
            for (const auto& item : value_) {
                if (item.is_string())
                    strings_.insert(item.get<std::string>());
                else
                    others_.push_back(item);
            }
        }
        if (op_ == Op::Matches || op_ == Op::NotMatches) {
            if (!value_.is_string())
                throw ConfigError(where + ".value: op '" + op_name_ + "' needs a regular expression string");
            RE2::Options options;
            options.set_log_errors(false);
            regex_ = std::make_unique<RE2>(value_.get<std::string>(), options);
            if (!regex_->ok()) throw ConfigError(where + ".value: invalid regular expression: " + regex_->error());
        }
    }

    // True when the condition holds; otherwise, when `why` is given, says why not
    // (after the flow's own words for it, when the condition has a `reason`).
    bool test(const Record& row, std::string* why) const {
        bool ok = check(row, why);
        if (!ok && why && !reason_.empty()) *why = reason_ + " (" + *why + ")";
        return ok;
    }

    bool check(const Record& row, std::string* why) const {
        const Json* v = lookup(row, column_);
        switch (op_) {
            case Op::Exists:
                if (v && !v->is_null()) return true;
                if (why) *why = v ? "column '" + column_ + "' is null" : missing();
                return false;
            case Op::NotExists:
                if (!v || v->is_null()) return true;
                if (why) *why = "column '" + column_ + "' exists (= " + brief(*v) + ")";
                return false;
            case Op::Empty:
                if (!v || is_empty_value(*v)) return true;
                if (why) *why = label_ + " = " + brief(*v) + ", not empty";
                return false;
            case Op::NotEmpty:
                if (v && !is_empty_value(*v)) return true;
                if (why) *why = v ? label_ + " is empty (" + brief(*v) + ")" : missing();
                return false;
            default:
                break;
        }
        if (!v) {
            if (why) *why = missing();
            return false;
        }
        if (length_ == Length::None) return compare(*v, why);
        if (!v->is_string()) {
            if (why) *why = label_ + ": column '" + column_ + "' is not a string (got " + json_type_name(*v) + ")";
            return false;
        }
        const auto& s = v->get_ref<const std::string&>();
        auto length = [&](size_t cap) {
            return length_ == Length::Chars ? text::count_chars(s, cap) : text::count_words(s, cap);
        };
        if (compare(Json(static_cast<uint64_t>(length(length_cap_))), nullptr)) return true;
        return compare(Json(static_cast<uint64_t>(length(SIZE_MAX))), why);
    }

  private:
    std::string missing() const { return "missing column '" + column_ + "'"; }

    // `a` is the column's value, or its length.
    bool compare(const Json& a, std::string* why) const {
        switch (op_) {
            case Op::Eq:
                if (a == value_) return true;
                return fail(why, a, "not == " + value_text_);
            case Op::Ne:
                if (a != value_) return true;
                return fail(why, a, "not != " + value_text_);
            case Op::Lt:
            case Op::Le:
            case Op::Gt:
            case Op::Ge: {
                const bool comparable = (a.is_number() && value_.is_number()) || (a.is_string() && value_.is_string());
                if (!comparable)
                    return fail(why, a,
                                "not " + op_name_ + " " + value_text_ + " (cannot compare a " + json_type_name(a) +
                                    " with a " + json_type_name(value_) + ")");
                // nlohmann compares mixed integer/float numerically and strings bytewise,
                // which for UTF-8 is code point order.
                bool ok = false;
                switch (op_) {
                    case Op::Lt:
                        ok = a < value_;
                        break;
                    case Op::Le:
                        ok = a <= value_;
                        break;
                    case Op::Gt:
                        ok = a > value_;
                        break;
                    default:
                        ok = a >= value_;
                        break;
                }
                if (ok) return true;
                return fail(why, a, "not " + op_name_ + " " + value_text_);
            }
            case Op::In:
                if (member(a)) return true;
                return fail(why, a, "not in " + value_text_);
            case Op::NotIn:
                if (!member(a)) return true;
                return fail(why, a, "is in " + value_text_);
            case Op::Contains:
            case Op::NotContains: {
                bool found = false;
                if (a.is_string() && value_.is_string()) {
                    found =
                        a.get_ref<const std::string&>().find(value_.get_ref<const std::string&>()) != std::string::npos;
                } else if (a.is_array()) {
                    for (const auto& item : a)
                        if (item == value_) found = true;
                } else {
                    return fail(why, a, std::string("cannot look for ") + value_text_ + " in a " + json_type_name(a));
                }
                if (found == (op_ == Op::Contains)) return true;
                return fail(why, a, found ? "contains " + value_text_ : "does not contain " + value_text_);
            }
            case Op::Matches:
            case Op::NotMatches: {
                if (!a.is_string()) return fail(why, a, std::string("not a string (got ") + json_type_name(a) + ")");
                const bool found = RE2::PartialMatch(a.get_ref<const std::string&>(), *regex_);
                if (found == (op_ == Op::Matches)) return true;
                return fail(why, a, found ? "matches " + value_text_ : "does not match " + value_text_);
            }
            default:
                return false;  // exists/empty ops are decided in test()
        }
    }

    bool member(const Json& a) const {
        if (a.is_string()) return strings_.contains(a.get_ref<const std::string&>());
        for (const auto& item : others_)
            if (a == item) return true;
        return false;
    }

    bool fail(std::string* why, const Json& shown, const std::string& what) const {
        if (why) *why = label_ + " = " + brief(shown) + ", " + what;
        return false;
    }

    std::string column_;
    Op op_ = Op::Eq;
    std::string op_name_;
    Length length_ = Length::None;
    size_t length_cap_ = SIZE_MAX;  // counting may stop here without changing the decision
    std::string label_;             // "score" or "words(response)"
    std::string reason_;            // the flow's own words for this condition's failure
    Json value_;
    std::string value_text_;  // the value as reasons print it
    std::unordered_set<std::string> strings_;
    std::vector<Json> others_;
    std::unique_ptr<RE2> regex_;
};

class FilterBlock final : public Block {
  public:
    FilterBlock(std::string name, std::vector<Condition> conditions, bool any)
        : Block(std::move(name)), conditions_(std::move(conditions)), any_(any) {}

    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& row : rows) {
            std::string why;
            if (any_ ? any_holds(row, why) : all_hold(row, why))
                out.emit(std::move(row));
            else
                out.reject(std::move(row), std::move(why));
        }
    }

  private:
    bool all_hold(const Record& row, std::string& why) const {
        for (const auto& c : conditions_)
            if (!c.test(row, &why)) return false;
        return true;
    }

    bool any_holds(const Record& row, std::string& why) const {
        for (const auto& c : conditions_)
            if (c.test(row, nullptr)) return true;
        // Rejected: run the conditions again, this time collecting their reasons.
        why = "none of " + std::to_string(conditions_.size()) + " conditions held: ";
        std::string one;
        for (size_t i = 0; i < conditions_.size(); ++i) {
            conditions_[i].test(row, &one);
            if (i) why += "; ";
            why += one;
        }
        return false;
    }

    std::vector<Condition> conditions_;
    bool any_;
};

std::unique_ptr<Block> make_filter(const std::string& name, const Json& config, const BlockEnv&) {
    std::vector<Condition> conditions;
    const auto& where = config.at("where");
    conditions.reserve(where.size());
    for (size_t i = 0; i < where.size(); ++i) conditions.emplace_back(where[i], i);
    const auto mode = config.value("mode", std::string("all"));
    if (mode != "all" && mode != "any") throw ConfigError("config.mode: must be all or any, not '" + mode + "'");
    return std::make_unique<FilterBlock>(name, std::move(conditions), mode == "any");
}

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(filter, "Keep rows that satisfy conditions on their columns", kSchema, make_filter)

}  // namespace synthforge
