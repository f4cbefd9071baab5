#include "schema_check.h"

#include <fmt/format.h>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <regex>
#include <stdexcept>

namespace synthforge::detail {

struct SchemaChecker::Impl {
    Json schema_json;
    nlohmann::json plain_schema;  // valijson's adapter reads nlohmann::json
    valijson::Schema schema;
};

namespace {

std::string type_name(const Json& v) {
    switch (v.type()) {
        case Json::value_t::null:
            return "null";
        case Json::value_t::boolean:
            return "boolean";
        case Json::value_t::number_integer:
        case Json::value_t::number_unsigned:
            return "integer";
        case Json::value_t::number_float:
            return "number";
        case Json::value_t::string:
            return "string";
        case Json::value_t::array:
            return "list";
        case Json::value_t::object:
            return "mapping";
        default:
            return "value";
    }
}

// The subschema that governs `tokens` of the document (properties, items,
// additionalProperties); nullptr when it cannot be followed simply.
const Json* schema_at(const Json& schema, const std::vector<std::string>& tokens) {
    const Json* s = &schema;
    for (const auto& t : tokens) {
        if (!s->is_object()) return nullptr;
        if (s->contains("properties") && (*s)["properties"].contains(t))
            s = &(*s)["properties"][t];
        else if (s->contains("items") && (*s)["items"].is_object())
            s = &(*s)["items"];
        else if (s->contains("additionalProperties") && (*s)["additionalProperties"].is_object())
            s = &(*s)["additionalProperties"];
        else
            return nullptr;
    }
    return s;
}

const Json* document_at(const Json& doc, const std::vector<std::string>& tokens) {
    const Json* d = &doc;
    for (const auto& t : tokens) {
        if (d->is_object() && d->contains(t))
            d = &(*d)[t];
        else if (d->is_array() && std::all_of(t.begin(), t.end(), ::isdigit) && std::stoul(t) < d->size())
            d = &(*d)[std::stoul(t)];
        else
            return nullptr;
    }
    return d;
}

std::string describe_type(const Json& type) {
    auto one = [](const std::string& t) { return t == "array" ? std::string("list") : t == "object" ? "mapping" : t; };
    if (type.is_string()) return one(type.get<std::string>());
    std::vector<std::string> names;
    for (const auto& t : type) names.push_back(one(t.get<std::string>()));
    return fmt::format("{}", fmt::join(names, " or "));
}

std::string friendly(const std::string& raw, const Json* sub, const Json* value, std::string& key_out) {
    static const std::regex extra_re(
        "could not be validated using 'properties' or 'additionalProperties' "
        "constraints: '(.*)'\\.");
    std::smatch m;
    if (std::regex_search(raw, m, extra_re)) {
        key_out = m[1];
        std::vector<std::string> known;
        if (sub && sub->contains("properties"))
            for (const auto& [k, v] : (*sub)["properties"].items()) known.push_back(k);
        std::string msg = "unknown key '" + key_out + "'";
        if (auto near = closest_match(key_out, known); !near.empty())
            msg += "; did you mean '" + near + "'?";
        else if (!known.empty())
            msg += fmt::format("; known keys: {}", fmt::join(known, ", "));
        return msg;
    }
    if (sub && value) {
        if (raw.find("'type' constraint") != std::string::npos && sub->contains("type"))
            return "expected " + describe_type((*sub)["type"]) + ", got " + type_name(*value);
        if (raw.find("enum") != std::string::npos && sub->contains("enum")) {
            std::vector<std::string> opts;
            for (const auto& o : (*sub)["enum"]) opts.push_back(o.is_string() ? o.get<std::string>() : o.dump());
            return fmt::format("{} is not one of: {}", value->is_string() ? value->get<std::string>() : value->dump(),
                               fmt::join(opts, ", "));
        }
        if (sub->contains("const") && raw.find("const") != std::string::npos)
            return "must be " + (*sub)["const"].dump() + ", got " + value->dump();
    }
    std::string msg = raw;
    if (!msg.empty() && msg.back() == '.') msg.pop_back();
    if (!msg.empty()) msg[0] = static_cast<char>(std::tolower(msg[0]));
    return msg;
}

}  // namespace

SchemaChecker::SchemaChecker(const Json& schema) : impl_(std::make_unique<Impl>()) {
    impl_->schema_json = schema;
    impl_->plain_schema = nlohmann::json::parse(schema.dump());
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(impl_->plain_schema);
    try {
        parser.populateSchema(adapter, impl_->schema);
    } catch (const std::exception& e) {
        throw std::logic_error(std::string("invalid JSON schema: ") + e.what());
    }
}

SchemaChecker::~SchemaChecker() = default;

std::vector<SchemaProblem> SchemaChecker::check(const Json& document) const {
    nlohmann::json plain = nlohmann::json::parse(document.dump());
    valijson::Validator validator;
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter adapter(plain);
    std::vector<SchemaProblem> out;
    if (validator.validate(impl_->schema, adapter, &results)) return out;
    valijson::ValidationResults::Error error;
    while (results.popError(error)) {
        // valijson reports each failure again on every enclosing level; keep the innermost.
        if (error.description.rfind("Failed to validate", 0) == 0) continue;
        if (error.description.rfind("Failed to match", 0) == 0 && error.description.find("enum") == std::string::npos)
            continue;
        std::vector<std::string> tokens;
        std::string pointer;
        for (const auto& c : error.context) {
            if (c == "<root>") continue;
            std::string t = c.size() >= 2 && c.front() == '[' && c.back() == ']' ? c.substr(1, c.size() - 2) : c;
            tokens.push_back(t);
            pointer += "/" + t;
        }
        SchemaProblem p;
        p.pointer = pointer;
        p.message =
            friendly(error.description, schema_at(impl_->schema_json, tokens), document_at(document, tokens), p.key);
        bool duplicate = std::any_of(out.begin(), out.end(), [&](const SchemaProblem& q) {
            return q.pointer == p.pointer && q.message == p.message;
        });
        if (!duplicate) out.push_back(std::move(p));
    }
    return out;
}

Json apply_defaults(const Json& schema, Json config) {
    if (config.is_null()) config = Json::object();
    if (!config.is_object() || !schema.contains("properties")) return config;
    for (const auto& [key, prop] : schema["properties"].items())
        if (!config.contains(key) && prop.is_object() && prop.contains("default")) config[key] = prop["default"];
    return config;
}

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
    std::string best;
    size_t best_distance = 3;
    for (const auto& c : candidates) {
        std::vector<size_t> prev(c.size() + 1), cur(c.size() + 1);
        for (size_t j = 0; j <= c.size(); ++j) prev[j] = j;
        for (size_t i = 1; i <= word.size(); ++i) {
            cur[0] = i;
            for (size_t j = 1; j <= c.size(); ++j)
                cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (word[i - 1] == c[j - 1] ? 0 : 1)});
            std::swap(prev, cur);
        }
        if (prev[c.size()] < best_distance) {
            best_distance = prev[c.size()];
            best = c;
        }
    }
    return best;
}

}  // namespace synthforge::detail
