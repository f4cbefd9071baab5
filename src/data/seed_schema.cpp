#include "synthforge/data/seed_schema.h"

#include <algorithm>
#include <array>

namespace synthforge {

namespace {

constexpr std::array<std::string_view, 4> kRoles = {"system", "user", "assistant", "tool"};

std::string missing(std::string_view field) {
    return "missing required field '" + std::string(field) + "'";
}

std::string wrong_type(std::string_view field, std::string_view expected, const Json& got) {
    return "field '" + std::string(field) + "': expected " + std::string(expected) + ", got " + got.type_name();
}

std::optional<std::string> check_string(const Record& record, const char* key, bool required) {
    const auto it = record.find(key);
    if (it == record.end()) return required ? std::optional(missing(key)) : std::nullopt;
    // An optional field may be null: many instruction datasets write "input": null for "no input".
    if (it->is_string() || (!required && it->is_null())) return std::nullopt;
    return wrong_type(key, "a string", *it);
}

std::optional<std::string> check_message(const Json& message, size_t index) {
    const std::string name = "messages[" + std::to_string(index) + "]";
    if (!message.is_object()) return wrong_type(name, "an object", message);
    const auto role = message.find("role");
    if (role == message.end()) return missing(name + ".role");
    if (!role->is_string()) return wrong_type(name + ".role", "a string", *role);
    const auto& value = role->get_ref<const std::string&>();
    if (std::find(kRoles.begin(), kRoles.end(), value) == kRoles.end()) {
        return "field '" + name + ".role': expected one of system, user, assistant, tool";
    }
    const auto content = message.find("content");
    if (content == message.end()) return missing(name + ".content");
    if (!content->is_string()) return wrong_type(name + ".content", "a string", *content);
    return std::nullopt;
}

std::optional<std::string> check_chat(const Record& record) {
    const auto it = record.find("messages");
    if (it == record.end()) return missing("messages");
    if (!it->is_array()) return wrong_type("messages", "an array", *it);
    if (it->empty()) return "field 'messages': expected a non-empty array";
    for (size_t i = 0; i < it->size(); ++i) {
        if (auto problem = check_message((*it)[i], i)) return problem;
    }
    return std::nullopt;
}

std::optional<std::string> check_schema(const Record& record, SeedSchema schema) {
    switch (schema) {
        case SeedSchema::any:
            return std::nullopt;
        case SeedSchema::text:
            return check_string(record, "text", true);
        case SeedSchema::chat:
            return check_chat(record);
        case SeedSchema::instruction:
            if (auto problem = check_string(record, "instruction", true)) return problem;
            if (auto problem = check_string(record, "input", false)) return problem;
            return check_string(record, "output", false);
    }
    return std::nullopt;
}

}  // namespace

std::optional<SeedSchema> seed_schema_from_name(std::string_view name) {
    if (name == "any") return SeedSchema::any;
    if (name == "instruction") return SeedSchema::instruction;
    if (name == "chat") return SeedSchema::chat;
    if (name == "text") return SeedSchema::text;
    return std::nullopt;
}

std::string_view seed_schema_name(SeedSchema s) {
    switch (s) {
        case SeedSchema::any:
            return "any";
        case SeedSchema::instruction:
            return "instruction";
        case SeedSchema::chat:
            return "chat";
        case SeedSchema::text:
            return "text";
    }
    return "?";
}

std::optional<std::string> check_seed_record(const Record& record, SeedSchema schema,
                                             const std::vector<std::string>& required_columns) {
    if (!record.is_object()) return std::string("expected a JSON object, got ") + record.type_name();
    if (auto problem = check_schema(record, schema)) return problem;
    for (const auto& column : required_columns) {
        if (!record.contains(column)) return missing(column);
    }
    return std::nullopt;
}

}  // namespace synthforge
