#include "llm_output_parser.h"

#include "data/json_nesting.h"
#include "engine/schema_check.h"
#include "synthforge/errors.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <string_view>

namespace synthforge::blocks {

struct OutputParser::Impl {
    ParseMode mode;
    std::unique_ptr<detail::SchemaChecker> schema;
    std::unique_ptr<RE2> regex;
    bool drop_truncated_last;
};

namespace {

std::string trim(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return std::string(s.substr(b, e - b));
}

// The length of a list marker at the start of `line` ("12. ", "3) ", "(4) ", "- ", "* ", "• "), or 0.
size_t list_marker(std::string_view line) {
    size_t i = 0;
    if (i < line.size() && line[i] == '(') {
        size_t j = 1;
        while (j < line.size() && std::isdigit(static_cast<unsigned char>(line[j]))) ++j;
        if (j > 1 && j < line.size() && line[j] == ')') return j + 1;
        return 0;
    }
    size_t j = 0;
    while (j < line.size() && std::isdigit(static_cast<unsigned char>(line[j]))) ++j;
    if (j > 0 && j < line.size() && (line[j] == '.' || line[j] == ')')) {
        if (j + 1 == line.size() || std::isspace(static_cast<unsigned char>(line[j + 1]))) return j + 1;
        return 0;
    }
    if (line.rfind("\xE2\x80\xA2", 0) == 0) return 3;  // U+2022 bullet
    if (!line.empty() && (line[0] == '-' || line[0] == '*') && line.size() > 1 && line[1] == ' ') return 1;
    return 0;
}

// JSON in an answer nested deeper than this is not taken: copying, serialising and
// schema-checking a Json recurse once per level, and an answer of 100 000 '[' (200 KB,
// well inside max_response_bytes) would overflow the stack. Real answers nest a few levels.
constexpr size_t kMaxAnswerJsonDepth = 256;

}  // namespace

std::vector<std::string> parse_list_items(const std::string& text) {
    std::vector<std::string> items;
    bool in_item = false;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = trim(std::string_view(text).substr(start, end - start));
        start = end + 1;
        if (line.empty()) {
            in_item = false;
            continue;
        }
        if (size_t m = list_marker(line); m > 0) {
            std::string item = trim(std::string_view(line).substr(m));
            if (!item.empty()) {
                items.push_back(item);
                in_item = true;
            }
        } else if (in_item) {
            items.back() += " " + line;  // a wrapped item continues on the next line
        }
        if (end == text.size()) break;
    }
    return items;
}

std::optional<Json> extract_json(const std::string& text) {
    // Try the whole text first, then every position where an object or array starts.
    if (detail::json_nesting(text) <= kMaxAnswerJsonDepth) {
        Json whole = Json::parse(text, nullptr, false);
        if (!whole.is_discarded() && (whole.is_object() || whole.is_array())) return whole;
    }
    // Each start scans to its closing bracket or the end, and a balanced candidate is parsed:
    // quadratic on an answer full of unclosed or invalid brackets, so the work stops after a
    // budget linear in the answer's length (real answers succeed at their first bracket).
    size_t budget = 16 * text.size() + 4096;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '{' && text[i] != '[') continue;
        char open = text[i], close = open == '{' ? '}' : ']';
        int depth = 0;
        bool in_string = false;
        for (size_t j = i; j < text.size(); ++j) {
            if (budget-- == 0) return std::nullopt;
            char c = text[j];
            if (in_string) {
                if (c == '\\')
                    ++j;
                else if (c == '"')
                    in_string = false;
            } else if (c == '"') {
                in_string = true;
            } else if (c == open) {
                ++depth;
            } else if (c == close && --depth == 0) {
                std::string_view candidate = std::string_view(text).substr(i, j - i + 1);
                if (2 * candidate.size() > budget) return std::nullopt;
                budget -= 2 * candidate.size();  // the nesting check and the parse
                if (detail::json_nesting(candidate) > kMaxAnswerJsonDepth) break;
                Json v = Json::parse(candidate, nullptr, false);
                if (!v.is_discarded()) return v;
                break;
            }
        }
    }
    return std::nullopt;
}

OutputParser::OutputParser(ParseMode mode, const Json& json_schema, const std::string& regex, bool drop_truncated_last)
    : impl_(std::make_unique<Impl>()) {
    impl_->mode = mode;
    impl_->drop_truncated_last = drop_truncated_last;
    if (mode == ParseMode::json && json_schema.is_object()) {
        try {
            impl_->schema = std::make_unique<detail::SchemaChecker>(json_schema);
        } catch (const std::exception& e) {
            throw ConfigError(std::string("config.json_schema: ") + e.what());
        }
    }
    if (mode == ParseMode::regex) {
        if (regex.empty()) throw ConfigError("config.regex: parse: regex needs a pattern with named groups");
        impl_->regex = std::make_unique<RE2>(regex, RE2::Quiet);
        if (!impl_->regex->ok())
            throw ConfigError("config.regex: invalid regular expression: " + impl_->regex->error());
        if (impl_->regex->NamedCapturingGroups().empty())
            throw ConfigError("config.regex: the pattern has no named groups such as (?P<answer>...)");
    }
}

OutputParser::~OutputParser() = default;

ParseResult OutputParser::parse(const std::string& text, const std::string& finish_reason) const {
    ParseResult r;
    switch (impl_->mode) {
        case ParseMode::text: {
            std::string t = trim(text);
            if (t.empty())
                r.error = "the model returned empty text";
            else
                r.values.push_back(t);
            break;
        }
        case ParseMode::json: {
            auto v = extract_json(text);
            if (!v) {
                if (detail::json_nesting(text) > kMaxAnswerJsonDepth)
                    r.error =
                        "JSON in the response nests deeper than " + std::to_string(kMaxAnswerJsonDepth) + " levels";
                else
                    r.error = finish_reason == "length" ? "no complete JSON in the response (cut at max_tokens)"
                                                        : "no JSON object or array in the response";
                break;
            }
            if (impl_->schema) {
                auto problems = impl_->schema->check(*v);
                if (!problems.empty()) {
                    r.error = "JSON does not match the schema: " +
                              (problems[0].pointer.empty() ? "" : problems[0].pointer + ": ") + problems[0].message;
                    break;
                }
            }
            r.values.push_back(std::move(*v));
            break;
        }
        case ParseMode::list: {
            auto items = parse_list_items(text);
            // An answer cut at max_tokens ends mid-item: that item is not trusted.
            if (impl_->drop_truncated_last && finish_reason == "length" && !items.empty()) items.pop_back();
            if (items.empty()) r.error = "no list items in the response";
            for (auto& i : items) r.values.emplace_back(std::move(i));
            break;
        }
        case ParseMode::regex: {
            const RE2& re = *impl_->regex;
            std::vector<std::string> groups(re.NumberOfCapturingGroups());
            std::vector<RE2::Arg> args(groups.size());
            std::vector<const RE2::Arg*> arg_ptrs(groups.size());
            for (size_t i = 0; i < groups.size(); ++i) {
                args[i] = &groups[i];
                arg_ptrs[i] = &args[i];
            }
            if (!RE2::PartialMatchN(text, re, arg_ptrs.data(), static_cast<int>(groups.size()))) {
                r.error = "the response does not match config.regex";
                break;
            }
            Json obj = Json::object();
            for (const auto& [name, index] : re.NamedCapturingGroups()) obj[name] = trim(groups[index - 1]);
            r.values.push_back(std::move(obj));
            break;
        }
    }
    return r;
}

}  // namespace synthforge::blocks
