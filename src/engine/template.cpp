#include "synthforge/engine/template.h"

#include "synthforge/errors.h"

#include <jinja/lexer.h>
#include <jinja/parser.h>
#include <jinja/runtime.h>
#include <jinja/value.h>
#include <json.h>

#include <cctype>

namespace synthforge {

struct Template::Impl {
    std::string source;
    jinja::program program;
};

namespace {

// The end of a tag opened before `from` (one past its closing delimiter), skipping
// quoted strings inside it; the source's end when it is unterminated.
size_t find_tag_end(const std::string& src, size_t from, const char* close) {
    char quote = 0;
    for (size_t i = from; i + 1 < src.size(); ++i) {
        char c = src[i];
        if (quote) {
            if (c == '\\')
                ++i;
            else if (c == quote)
                quote = 0;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == close[0] && src[i + 1] == close[1]) {
            return i + 2;
        }
    }
    return src.size();
}

// Printing an undefined value renders nothing in Jinja; for dataset templates a
// silent blank is a bug, so an undefined value anywhere in the output is an error.
// Tests such as `{% if hint %}` never print the value, so optional columns still work.
const jinja::value_undefined_t* find_printed_undefined(const jinja::value& v) {
    if (!v) return nullptr;
    if (v->is_undefined()) {
        auto* u = static_cast<const jinja::value_undefined_t*>(v.get());
        // Statements that print nothing ({% set %}, {# comments #}) leave a nameless
        // undefined in the results; only a looked-up name that is missing is an error.
        return u->hint.empty() ? nullptr : u;
    }
    if (jinja::is_val<jinja::value_array>(v)) {
        for (const auto& item : jinja::cast_val<jinja::value_array>(v)->as_array())
            if (auto* u = find_printed_undefined(item)) return u;
    }
    return nullptr;
}

// llama.cpp's lexer always applies the chat-template whitespace rules
// (trim_blocks: drop the newline right after a {% %} or {# #} tag; lstrip_blocks:
// drop spaces before a tag at the start of a line). Dataset templates follow plain
// jinja2 defaults, where text is kept as written, so the source is adjusted to
// cancel both: a newline after such a tag is doubled, and spaces before a tag
// are shielded by an empty expression. Explicit {%- -%} trimming still works.
//
// The leading empty expression also avoids a lexer quirk: text at the very start
// of a template followed by a {% %} tag is dropped whole ("x{% if a %}" loses "x").
std::string keep_block_whitespace(const std::string& src) {
    std::string out = "{{ '' }}";
    out.reserve(src.size() + 32);
    size_t pos = 0;
    bool after_block_tag = false;  // the previous tag was {% %} or {# #} without a trailing '-'
    while (pos < src.size()) {
        size_t open = pos;
        while (open < src.size() && !(src[open] == '{' && open + 1 < src.size() &&
                                      (src[open + 1] == '%' || src[open + 1] == '{' || src[open + 1] == '#')))
            ++open;
        std::string text = src.substr(pos, open - pos);
        if (after_block_tag && !text.empty() && text.front() == '\n') text.insert(text.begin(), '\n');
        bool next_is_block = open + 1 < src.size() && (src[open + 1] == '%' || src[open + 1] == '#');
        if (next_is_block) {
            size_t line_start = text.find_last_of('\n');
            line_start = line_start == std::string::npos ? 0 : line_start + 1;
            bool blank_tail =
                line_start < text.size() && text.find_first_not_of(" \t\r\v\f", line_start) == std::string::npos;
            if (blank_tail && line_start > 0) text += "{{ '' }}";
        }
        out += text;
        if (open >= src.size()) break;
        char kind = src[open + 1];
        const char* close = kind == '%' ? "%}" : kind == '#' ? "#}" : "}}";
        size_t end = find_tag_end(src, open + 2, close);
        out.append(src, open, end - open);
        after_block_tag = kind != '{' && end >= 3 && src[end - 3] != '-';
        pos = end;
    }
    return out;
}

}  // namespace

Template::Template(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;
Template::~Template() = default;

Template Template::compile(const std::string& source, const std::string& where) {
    auto impl = std::make_unique<Impl>();
    impl->source = source;
    try {
        jinja::lexer lexer;
        impl->program = jinja::parse_from_tokens(lexer.tokenize(keep_block_whitespace(source)));
    } catch (const std::exception& e) {
        throw ConfigError(where + ": template does not parse: " + e.what());
    }
    return Template(std::move(impl));
}

std::string Template::render(const Json& vars) const {
    try {
        jinja::context ctx(impl_->source);
        // Record values are marked as input: they can never become template structure
        // or chat control tokens further down the line.
        // llama.cpp's Jinja reads its own JSON wrapper (common_json), which hides the
        // JSON library behind a pimpl; text is the stable way across.
        jinja::global_from_json(ctx, common_json::parse(vars.dump()), /*mark_input=*/true);
        jinja::runtime runtime(ctx);
        const jinja::value results = runtime.execute(impl_->program);
        if (auto* undefined = find_printed_undefined(results)) {
            std::string name = undefined->hint.empty() ? "a value" : "'" + undefined->hint + "'";
            throw TemplateError("template prints " + name + ", which this record does not have");
        }
        return jinja::runtime::gather_string_parts(results)->as_string().str();
    } catch (const TemplateError&) {
        throw;
    } catch (const std::exception& e) {
        throw TemplateError(std::string("template failed: ") + e.what());
    }
}

const std::string& Template::source() const {
    return impl_->source;
}

bool is_column_name(const std::string& s) {
    if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
    for (char c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    return true;
}

Template compile_column_or_template(const std::string& s, const std::string& where) {
    return Template::compile(is_column_name(s) ? "{{ " + s + " }}" : s, where);
}

}  // namespace synthforge
