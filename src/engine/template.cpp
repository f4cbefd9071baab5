#include "synthforge/engine/template.h"

#include "synthforge/errors.h"

#include <json.h>
#include <jinja/lexer.h>
#include <jinja/parser.h>
#include <jinja/runtime.h>
#include <jinja/value.h>

namespace synthforge {

struct Template::Impl {
    std::string source;
    jinja::program program;
};

namespace {

// Printing an undefined value renders nothing in Jinja; for dataset templates a
// silent blank is a bug, so an undefined value anywhere in the output is an error.
// Tests such as `{% if hint %}` never print the value, so optional columns still work.
const jinja::value_undefined_t* find_printed_undefined(const jinja::value& v) {
    if (!v) return nullptr;
    if (v->is_undefined()) return static_cast<const jinja::value_undefined_t*>(v.get());
    if (jinja::is_val<jinja::value_array>(v)) {
        for (const auto& item : jinja::cast_val<jinja::value_array>(v)->as_array())
            if (auto* u = find_printed_undefined(item)) return u;
    }
    return nullptr;
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
        impl->program = jinja::parse_from_tokens(lexer.tokenize(source));
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

const std::string& Template::source() const { return impl_->source; }

}  // namespace synthforge
