#include "synthforge/engine/template.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

using namespace synthforge;

namespace {
std::string render(const std::string& src, const Json& vars) {
    return Template::compile(src, "test").render(vars);
}
}  // namespace

TEST(Template, RendersColumns) {
    EXPECT_EQ(render("Q: {{ question }} ({{ n }})", {{"question", "why?"}, {"n", 3}}), "Q: why? (3)");
}

TEST(Template, KeepsTextAfterBlockTagsAsWritten) {
    // Plain jinja2 defaults: the newlines after {% if %} and {% endif %} stay.
    Json vars = {{"a", "A"}, {"b", "B"}};
    EXPECT_EQ(render("{{ a }}{% if b %}\n\nInput: {{ b }}{% endif %}\nEnd", vars), "A\n\nInput: B\nEnd");
    // As in jinja2, one trailing newline at the very end is dropped.
    EXPECT_EQ(render("{% for x in [1, 2] %}\n- {{ x }}{% endfor %}\n", vars), "\n- 1\n- 2");
}

TEST(Template, KeepsIndentationBeforeBlockTags) {
    EXPECT_EQ(render("items:\n  {% if a %}yes{% endif %}.", {{"a", true}}), "items:\n  yes.");
    EXPECT_EQ(render("  {% if a %}x{% endif %}", {{"a", true}}), "  x");
}

TEST(Template, TextBeforeTheFirstTagIsKept) {
    EXPECT_EQ(render("x{% if a %}y{% endif %}", {{"a", true}}), "xy");
    EXPECT_EQ(render("Task: {% for t in ts %}{{ t }} {% endfor %}", {{"ts", {"a", "b"}}}), "Task: a b ");
}

TEST(Template, ExplicitTrimmingStillWorks) {
    EXPECT_EQ(render("a  {%- if true -%}  \n b{%- endif %}", Json::object()), "ab");
}

TEST(Template, TagDelimitersInsideStringsAreNotTagEnds) {
    EXPECT_EQ(render("{{ '%}' }}\nx", Json::object()), "%}\nx");
}

TEST(Template, PrintingAMissingColumnIsAnError) {
    auto t = Template::compile("Hello {{ name }}", "test");
    try {
        t.render({{"other", 1}});
        FAIL() << "expected TemplateError";
    } catch (const TemplateError& e) {
        EXPECT_NE(std::string(e.what()).find("'name'"), std::string::npos) << e.what();
    }
    // Testing a missing column is fine: optional columns use {% if %}.
    EXPECT_EQ(render("x{% if hint %} ({{ hint }}){% endif %}", Json::object()), "x");
}

TEST(Template, RecordTextIsNotTemplateSyntax) {
    // A value that looks like a template is printed, never evaluated.
    EXPECT_EQ(render("{{ text }}", {{"text", "{{ 7 * 7 }} {% if %}"}}), "{{ 7 * 7 }} {% if %}");
}

TEST(Template, SyntaxErrorIsAConfigErrorWithLocation) {
    try {
        Template::compile("{% if x %}unclosed", "flow.yaml:3:5: block 'b' config.template");
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()).rfind("flow.yaml:3:5: block 'b' config.template: ", 0), 0u) << e.what();
    }
}

// {% set %} and {# comments #} print nothing; they are not "undefined values printed".
TEST(Template, SetAndCommentsAreNotMissingValues) {
    EXPECT_EQ(render("{% set x = n * 2 %}{{ x }}", {{"n", 4}}), "8");
    EXPECT_EQ(render("{# a note #}hi {{ n }}", {{"n", 1}}), "hi 1");
    EXPECT_THROW(render("{% set x = 1 %}{{ missing }}", {{"n", 1}}), TemplateError);
}
