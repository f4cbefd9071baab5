// Unit tests of the non-LLM block types: select, drop, rename, set, filter,
// dedup_exact, sample and explode. Blocks are built through the registry, as the
// engine builds them, with every option written out (the engine fills defaults).

#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace synthforge {
namespace {

struct Output {
    std::vector<Record> kept;
    std::vector<Record> rejected;

    std::string reason(size_t i) const { return rejected.at(i).at(kReasonColumn).get<std::string>(); }
};

std::unique_ptr<Block> make_block(const std::string& type, const Json& config, BlockEnv env = {}) {
    const BlockType* t = BlockRegistry::global().find(type);
    if (!t) throw std::runtime_error("block type '" + type + "' is not registered");
    return t->make("b", config, env);
}

Output run(Block& block, std::vector<Record> rows) {
    Emitter out(block.name());
    block.process(std::move(rows), out);
    return {std::move(out.rows()), std::move(out.rejected())};
}

Output run(const std::string& type, const Json& config, std::vector<Record> rows) {
    auto block = make_block(type, config);
    return run(*block, std::move(rows));
}

// The message of the ConfigError a factory throws, or "" when it throws none.
std::string config_error(const std::string& type, const Json& config) {
    try {
        make_block(type, config);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

class VectorSource final : public RowSource {
  public:
    explicit VectorSource(std::vector<Record> rows) : rows_(std::move(rows)) {}
    uint64_t size() const override { return rows_.size(); }
    void for_each(const std::function<void(uint64_t, Record&&)>& fn) const override {
        for (uint64_t i = 0; i < rows_.size(); ++i) fn(i, Record(rows_[i]));
    }

  private:
    std::vector<Record> rows_;
};

Output finish(Block& block, std::vector<Record> rows) {
    VectorSource source(std::move(rows));
    Emitter out(block.name());
    block.finish(source, out);
    return {std::move(out.rows()), std::move(out.rejected())};
}

std::vector<Record> numbered_rows(int n) {
    std::vector<Record> rows;
    for (int i = 0; i < n; ++i) rows.push_back({{"i", i}});
    return rows;
}

std::vector<int> ids(const std::vector<Record>& rows) {
    std::vector<int> out;
    for (const auto& r : rows) out.push_back(r.at("i").get<int>());
    return out;
}

std::vector<std::string> keys(const Record& r) {
    std::vector<std::string> out;
    for (const auto& [k, v] : r.items()) out.push_back(k);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Registration and schemas

TEST(BlockSchemas, EveryTypeIsRegisteredWithDescribedOptions) {
    for (const char* type : {"select", "drop", "rename", "set", "filter", "dedup_exact", "sample", "explode"}) {
        SCOPED_TRACE(type);
        const BlockType* t = BlockRegistry::global().find(type);
        ASSERT_NE(t, nullptr);
        EXPECT_FALSE(t->summary.empty());
        const Json& schema = t->config_schema;
        EXPECT_EQ(schema.at("type"), "object");
        EXPECT_EQ(schema.at("additionalProperties"), false);
        ASSERT_TRUE(schema.at("required").is_array());
        for (const auto& [name, prop] : schema.at("properties").items()) {
            SCOPED_TRACE(name);
            EXPECT_TRUE(prop.contains("description"));
            const auto& req = schema.at("required");
            const bool required = std::find(req.begin(), req.end(), Json(name)) != req.end();
            // Options without a constant default say so in their description.
            if (!required && !prop.contains("default")) {
                EXPECT_TRUE(name == "template" || name == "value" || name == "seed" || name == "as" ||
                            name == "index_column" || name == "count_words");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// select / drop / rename

TEST(BlockSelect, KeepsListedColumnsInListedOrder) {
    auto out = run("select", {{"columns", {"c", "a"}}}, {{{"a", 1}, {"b", 2}, {"c", 3}}});
    ASSERT_EQ(out.kept.size(), 1u);
    EXPECT_EQ(keys(out.kept[0]), (std::vector<std::string>{"c", "a"}));
    EXPECT_EQ(out.kept[0].dump(), R"({"c":3,"a":1})");
}

TEST(BlockSelect, RejectsRowMissingAColumnAndKeepsItWhole) {
    auto out = run("select", {{"columns", {"a", "x"}}}, {{{"a", 1}, {"b", 2}}});
    EXPECT_TRUE(out.kept.empty());
    ASSERT_EQ(out.rejected.size(), 1u);
    EXPECT_EQ(out.reason(0), "missing column 'x'");
    EXPECT_EQ(out.rejected[0].at("b"), 2);
    EXPECT_EQ(out.rejected[0].at(kRejectedByColumn), "b");
}

TEST(BlockDrop, RemovesColumnsAndIgnoresAbsentOnes) {
    auto out = run("drop", {{"columns", {"b", "zzz"}}}, {{{"a", 1}, {"b", 2}, {"c", 3}}, {{"a", 4}}});
    ASSERT_EQ(out.kept.size(), 2u);
    EXPECT_EQ(out.kept[0].dump(), R"({"a":1,"c":3})");
    EXPECT_EQ(out.kept[1].dump(), R"({"a":4})");
    EXPECT_TRUE(out.rejected.empty());
}

TEST(BlockRename, KeepsPositionOfRenamedColumn) {
    auto out = run("rename", {{"mapping", {{"b", "B"}}}, {"overwrite", false}}, {{{"a", 1}, {"b", 2}, {"c", 3}}});
    ASSERT_EQ(out.kept.size(), 1u);
    EXPECT_EQ(out.kept[0].dump(), R"({"a":1,"B":2,"c":3})");
}

TEST(BlockRename, MissingSourceIsRejected) {
    auto out = run("rename", {{"mapping", {{"q", "question"}}}, {"overwrite", false}}, {{{"a", 1}}});
    ASSERT_EQ(out.rejected.size(), 1u);
    EXPECT_EQ(out.reason(0), "missing column 'q'");
}

TEST(BlockRename, ExistingTargetIsRejectedUnlessOverwrite) {
    const Record row = {{"a", 1}, {"b", 2}, {"c", 3}};
    auto out = run("rename", {{"mapping", {{"c", "a"}}}, {"overwrite", false}}, {row});
    ASSERT_EQ(out.rejected.size(), 1u);
    EXPECT_EQ(out.reason(0), "cannot rename 'c' to 'a': column 'a' exists (set overwrite: true to replace it)");

    out = run("rename", {{"mapping", {{"c", "a"}}}, {"overwrite", true}}, {row});
    ASSERT_EQ(out.kept.size(), 1u);
    EXPECT_EQ(out.kept[0].dump(), R"({"b":2,"a":3})");
}

TEST(BlockRename, RenamesApplyAtOnceSoASwapWorks) {
    auto out = run("rename", {{"mapping", {{"a", "b"}, {"b", "a"}}}, {"overwrite", false}}, {{{"a", 1}, {"b", 2}}});
    ASSERT_EQ(out.kept.size(), 1u);
    EXPECT_EQ(out.kept[0].dump(), R"({"b":1,"a":2})");
}

TEST(BlockRename, TwoColumnsOntoOneNameIsAConfigError) {
    EXPECT_NE(
        config_error("rename", {{"mapping", {{"a", "x"}, {"b", "x"}}}, {"overwrite", false}}).find("config.mapping.b"),
        std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// set

TEST(BlockSet, WritesConstantValue) {
    auto out = run("set", {{"column", "lang"}, {"value", "en"}, {"overwrite", true}},
                   {{{"q", "hi"}}, {{"lang", "fr"}, {"q", "x"}}});
    ASSERT_EQ(out.kept.size(), 2u);
    EXPECT_EQ(out.kept[0].dump(), R"({"q":"hi","lang":"en"})");
    EXPECT_EQ(out.kept[1].dump(), R"({"lang":"en","q":"x"})");  // an existing column keeps its position
}

TEST(BlockSet, ConstantCanBeAnyJson) {
    auto out =
        run("set", {{"column", "meta"}, {"value", {{"v", Json::array({1, 2})}}}, {"overwrite", true}}, {{{"q", 1}}});
    ASSERT_EQ(out.kept.size(), 1u);
    EXPECT_EQ(out.kept[0].at("meta").dump(), R"({"v":[1,2]})");
}

TEST(BlockSet, WithoutOverwriteExistingValuesPassUnchanged) {
    auto out = run("set", {{"column", "lang"}, {"value", "en"}, {"overwrite", false}}, {{{"lang", "fr"}}, {{"q", 1}}});
    ASSERT_EQ(out.kept.size(), 2u);
    EXPECT_EQ(out.kept[0].at("lang"), "fr");
    EXPECT_EQ(out.kept[1].at("lang"), "en");
}

TEST(BlockSet, TemplateOrValueExactlyOne) {
    EXPECT_NE(config_error("set", {{"column", "x"}, {"overwrite", true}}), "");
    EXPECT_NE(config_error("set", {{"column", "x"}, {"value", 1}, {"template", "a"}, {"overwrite", true}}), "");
}

TEST(BlockSet, RendersTemplate) {
    auto out = run("set", {{"column", "prompt"}, {"template", "Q: {{ question }}"}, {"overwrite", true}},
                   {{{"question", "Why?"}}});
    ASSERT_EQ(out.kept.size(), 1u);
    EXPECT_EQ(out.kept[0].at("prompt"), "Q: Why?");
}

TEST(BlockSet, TemplateMissingVariableRejectsRow) {
    auto out = run("set", {{"column", "prompt"}, {"template", "Q: {{ question }}"}, {"overwrite", true}},
                   {{{"other", "x"}}, {{"question", "ok"}}});
    ASSERT_EQ(out.rejected.size(), 1u);
    ASSERT_EQ(out.kept.size(), 1u);
    EXPECT_NE(out.reason(0).find("question"), std::string::npos) << out.reason(0);
    EXPECT_FALSE(out.rejected[0].contains("prompt"));
}

TEST(BlockSet, TemplateSyntaxErrorIsConfigError) {
    EXPECT_NE(
        config_error("set", {{"column", "p"}, {"template", "{% if %}"}, {"overwrite", true}}).find("config.template"),
        std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// filter

Json cond(const std::string& column, const std::string& op, Json value) {
    return {{"column", column}, {"op", op}, {"value", std::move(value)}};
}
Json cond(const std::string& column, const std::string& op) {
    return {{"column", column}, {"op", op}};
}

Json where_all(std::vector<Json> conditions) {
    return {{"where", conditions}, {"mode", "all"}};
}

// Runs one condition over one row: "" when kept, else the reason.
std::string check(const Json& condition, const Record& row) {
    auto out = run("filter", where_all({condition}), {row});
    if (!out.kept.empty()) return "";
    return out.reason(0);
}

TEST(BlockFilter, EqualityOps) {
    const Record row = {{"n", 3}, {"f", 3.0}, {"s", "en"}, {"b", true}};
    EXPECT_EQ(check(cond("n", "==", 3), row), "");
    EXPECT_EQ(check(cond("f", "==", 3), row), "");  // numbers compare numerically
    EXPECT_EQ(check(cond("s", "==", "en"), row), "");
    EXPECT_EQ(check(cond("b", "==", true), row), "");
    EXPECT_EQ(check(cond("n", "==", 4), row), "n = 3, not == 4");
    EXPECT_EQ(check(cond("s", "==", "de"), row), R"(s = "en", not == "de")");
    EXPECT_EQ(check(cond("n", "!=", 4), row), "");
    EXPECT_EQ(check(cond("s", "!=", 3), row), "");  // different types are different values
    EXPECT_EQ(check(cond("n", "!=", 3), row), "n = 3, not != 3");
}

TEST(BlockFilter, OrderingOps) {
    const Record row = {{"score", 0.3}, {"n", 10}, {"s", "banana"}};
    EXPECT_EQ(check(cond("score", ">=", 0.5), row), "score = 0.3, not >= 0.5");
    EXPECT_EQ(check(cond("score", "<", 0.5), row), "");
    EXPECT_EQ(check(cond("score", "<=", 0.3), row), "");
    EXPECT_EQ(check(cond("score", ">", 0.3), row), "score = 0.3, not > 0.3");
    EXPECT_EQ(check(cond("n", ">", 9.5), row), "");  // integer against float
    EXPECT_EQ(check(cond("n", "<=", 9), row), "n = 10, not <= 9");
    EXPECT_EQ(check(cond("s", ">", "apple"), row), "");  // strings lexicographically
    EXPECT_EQ(check(cond("s", "<", "apple"), row), R"(s = "banana", not < "apple")");
}

TEST(BlockFilter, OrderingTypeMismatchFailsWithReason) {
    EXPECT_EQ(check(cond("score", ">=", 0.5), {{"score", "high"}}),
              R"(score = "high", not >= 0.5 (cannot compare a string with a number))");
    EXPECT_EQ(check(cond("score", "<", 1), {{"score", nullptr}}),
              "score = null, not < 1 (cannot compare a null with a number)");
}

TEST(BlockFilter, MembershipOps) {
    const Json langs = {"en", "de"};
    EXPECT_EQ(check(cond("lang", "in", langs), {{"lang", "en"}}), "");
    EXPECT_EQ(check(cond("lang", "in", langs), {{"lang", "fr"}}), R"(lang = "fr", not in ["en","de"])");
    EXPECT_EQ(check(cond("lang", "not_in", langs), {{"lang", "fr"}}), "");
    EXPECT_EQ(check(cond("lang", "not_in", langs), {{"lang", "de"}}), R"(lang = "de", is in ["en","de"])");
    EXPECT_EQ(check(cond("n", "in", Json::array({1, 2.5, "3"})), {{"n", 2.5}}), "");
    EXPECT_EQ(check(cond("n", "in", Json::array({1, 2.5, "3"})), {{"n", 3}}), R"(n = 3, not in [1,2.5,"3"])");
}

TEST(BlockFilter, ContainsOps) {
    EXPECT_EQ(check(cond("t", "contains", "cat"), {{"t", "a concatenation"}}), "");
    EXPECT_EQ(check(cond("t", "contains", "dog"), {{"t", "a cat"}}), R"(t = "a cat", does not contain "dog")");
    EXPECT_EQ(check(cond("t", "not_contains", "dog"), {{"t", "a cat"}}), "");
    EXPECT_EQ(check(cond("t", "not_contains", "cat"), {{"t", "a cat"}}), R"(t = "a cat", contains "cat")");
    EXPECT_EQ(check(cond("tags", "contains", "x"), {{"tags", {"x", "y"}}}), "");  // lists: element equality
    EXPECT_EQ(check(cond("tags", "contains", "z"), {{"tags", {"x", "y"}}}),
              R"(tags = ["x","y"], does not contain "z")");
    EXPECT_EQ(check(cond("t", "contains", "x"), {{"t", 5}}), R"(t = 5, cannot look for "x" in a number)");
}

TEST(BlockFilter, RegexOps) {
    EXPECT_EQ(check(cond("t", "matches", "^As an AI"), {{"t", "As an AI model, I"}}), "");
    EXPECT_EQ(check(cond("t", "matches", "[0-9]+"), {{"t", "abc 42 def"}}), "");  // partial match
    EXPECT_EQ(check(cond("t", "matches", "^[0-9]+$"), {{"t", "abc"}}), R"(t = "abc", does not match "^[0-9]+$")");
    EXPECT_EQ(check(cond("t", "not_matches", "(?i)as an ai"), {{"t", "Hello"}}), "");
    EXPECT_EQ(check(cond("t", "not_matches", "(?i)as an ai"), {{"t", "As an AI"}}),
              R"(t = "As an AI", matches "(?i)as an ai")");
    EXPECT_EQ(check(cond("t", "matches", "x"), {{"t", 1}}), "t = 1, not a string (got number)");
    EXPECT_EQ(check(cond("t", "matches", "é+"), {{"t", "caféé"}}), "");  // UTF-8 aware
}

TEST(BlockFilter, ExistenceAndEmptinessOps) {
    EXPECT_EQ(check(cond("a", "exists"), {{"a", 0}}), "");
    EXPECT_EQ(check(cond("a", "exists"), {{"b", 0}}), "missing column 'a'");
    EXPECT_EQ(check(cond("a", "exists"), {{"a", nullptr}}), "column 'a' is null");
    EXPECT_EQ(check(cond("a", "not_exists"), {{"b", 0}}), "");
    EXPECT_EQ(check(cond("a", "not_exists"), {{"a", nullptr}}), "");
    EXPECT_EQ(check(cond("a", "not_exists"), {{"a", 1}}), "column 'a' exists (= 1)");
    for (const Json& empty : {Json(nullptr), Json(""), Json("  \n\t"), Json::array(), Json::object()})
        EXPECT_EQ(check(cond("a", "empty"), {{"a", empty}}), "") << empty.dump();
    EXPECT_EQ(check(cond("a", "empty"), {{"b", 1}}), "");  // missing counts as empty
    EXPECT_EQ(check(cond("a", "empty"), {{"a", "x"}}), R"(a = "x", not empty)");
    EXPECT_EQ(check(cond("a", "empty"), {{"a", 0}}), "a = 0, not empty");
    EXPECT_EQ(check(cond("a", "not_empty"), {{"a", "x"}}), "");
    EXPECT_EQ(check(cond("a", "not_empty"), {{"a", false}}), "");
    EXPECT_EQ(check(cond("a", "not_empty"), {{"a", " "}}), R"(a is empty (" "))");
    EXPECT_EQ(check(cond("a", "not_empty"), {{"a", Json::array()}}), "a is empty ([])");
    EXPECT_EQ(check(cond("a", "not_empty"), {{"b", 1}}), "missing column 'a'");
}

TEST(BlockFilter, MissingColumnFails) {
    EXPECT_EQ(check(cond("score", ">=", 0.5), {{"x", 1}}), "missing column 'score'");
    EXPECT_EQ(check(cond("score", "!=", 0.5), {{"x", 1}}), "missing column 'score'");
    EXPECT_EQ(check(cond("lang", "not_in", {"en"}), {{"x", 1}}), "missing column 'lang'");
}

TEST(BlockFilter, LengthInWordsAndChars) {
    Json words = cond("response", "<=", 3);
    words["length"] = "words";
    EXPECT_EQ(check(words, {{"response", "one two  three"}}), "");
    EXPECT_EQ(check(words, {{"response", "one two three four"}}), "words(response) = 4, not <= 3");
    // Counting stops early once the decision is known, but a rejection still reports the full count.
    EXPECT_EQ(check(words, {{"response", "a b c d e f g h i j"}}), "words(response) = 10, not <= 3");
    Json at_least = cond("response", ">=", 2);
    at_least["length"] = "words";
    EXPECT_EQ(check(at_least, {{"response", "a b c d e f g h i j"}}), "");
    EXPECT_EQ(check(at_least, {{"response", "a"}}), "words(response) = 1, not >= 2");

    Json chars = cond("t", ">=", 4);
    chars["length"] = "chars";
    EXPECT_EQ(check(chars, {{"t", "café"}}), "");  // 4 code points, 5 bytes
    EXPECT_EQ(check(chars, {{"t", "été"}}), "chars(t) = 3, not >= 4");
    EXPECT_EQ(check(chars, {{"t", 12345}}), "chars(t): column 't' is not a string (got number)");
    EXPECT_EQ(check(chars, {{"u", "x"}}), "missing column 't'");

    Json in = cond("t", "in", {1, 2});
    in["length"] = "chars";
    EXPECT_EQ(check(in, {{"t", "ab"}}), "");
    EXPECT_EQ(check(in, {{"t", "abc"}}), "chars(t) = 3, not in [1,2]");
}

TEST(BlockFilter, LongValuesAreShortenedInReasons) {
    const std::string reason = check(cond("t", "==", "x"), {{"t", std::string(5000, 'a')}});
    EXPECT_LT(reason.size(), 120u);
    EXPECT_NE(reason.find("...\", not == \"x\""), std::string::npos) << reason;
}

TEST(BlockFilter, ModeAllReportsFirstFailedCondition) {
    auto out = run("filter", where_all({cond("a", ">", 1), cond("b", "==", "x"), cond("c", "exists")}),
                   {{{"a", 2}, {"b", "y"}}, {{"a", 2}, {"b", "x"}, {"c", 1}}});
    ASSERT_EQ(out.kept.size(), 1u);
    EXPECT_EQ(out.kept[0].at("c"), 1);
    ASSERT_EQ(out.rejected.size(), 1u);
    EXPECT_EQ(out.reason(0), R"(b = "y", not == "x")");
}

TEST(BlockFilter, ModeAnyKeepsWhenOneHoldsAndListsAllOtherwise) {
    Json config = {{"where", {cond("score", ">=", 0.5), cond("lang", "in", {"en", "de"})}}, {"mode", "any"}};
    const std::vector<Record> rows = {
        {{"score", 0.9}, {"lang", "fr"}}, {{"score", 0.1}, {"lang", "en"}}, {{"score", 0.3}, {"lang", "fr"}}};
    auto out = run("filter", config, rows);
    EXPECT_EQ(out.kept.size(), 2u);
    ASSERT_EQ(out.rejected.size(), 1u);
    EXPECT_EQ(out.reason(0), R"(none of 2 conditions held: score = 0.3, not >= 0.5; lang = "fr", not in ["en","de"])");
}

TEST(BlockFilter, ConfigErrorsNameTheOption) {
    EXPECT_EQ(config_error("filter", where_all({cond("a", "exists"), cond("t", "matches", "(abc")})),
              "config.where[1].value: invalid regular expression: missing ): (abc");
    EXPECT_NE(config_error("filter", where_all({cond("a", "in", "en")})).find("config.where[0].value"),
              std::string::npos);
    EXPECT_NE(config_error("filter", where_all({cond("a", "<", Json::array())})).find("config.where[0].value"),
              std::string::npos);
    EXPECT_NE(config_error("filter", where_all({cond("a", "==")})).find("config.where[0].value"), std::string::npos);
    EXPECT_NE(config_error("filter", where_all({cond("a", "exists", 1)})).find("config.where[0].value"),
              std::string::npos);
    Json bad_length = cond("a", "matches", "x");
    bad_length["length"] = "words";
    EXPECT_NE(config_error("filter", where_all({bad_length})).find("config.where[0].length"), std::string::npos);
    Json length_vs_string = cond("a", "<", "x");
    length_vs_string["length"] = "chars";
    EXPECT_NE(config_error("filter", where_all({length_vs_string})).find("config.where[0].value"), std::string::npos);
}

TEST(BlockFilter, DefaultModeIsAll) {
    auto out = run("filter", {{"where", {cond("a", "==", 1), cond("b", "==", 1)}}}, {{{"a", 1}, {"b", 2}}});
    EXPECT_EQ(out.rejected.size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// dedup_exact

Json dedup_config(bool lowercase, bool collapse, bool strip,
                  std::vector<std::string> columns = {"instruction", "input"}) {
    return {{"columns", columns},
            {"normalize", {{"lowercase", lowercase}, {"collapse_whitespace", collapse}, {"strip_punctuation", strip}}}};
}

Record qa(const std::string& instruction, const std::string& input) {
    return {{"instruction", instruction}, {"input", input}};
}

TEST(BlockDedupExact, KeepsFirstAndNamesItInReason) {
    auto out = run("dedup_exact", dedup_config(true, true, false),
                   {qa("a", "x"), qa("b", "x"), qa("a", "x"), qa("b", "x"), qa("a", "y")});
    ASSERT_EQ(out.kept.size(), 3u);
    ASSERT_EQ(out.rejected.size(), 2u);
    EXPECT_EQ(out.reason(0), "duplicate of row 1 on [instruction, input]");
    EXPECT_EQ(out.reason(1), "duplicate of row 2 on [instruction, input]");
}

TEST(BlockDedupExact, OrdinalsCountRejectedRowsAndSpanBatches) {
    auto block = make_block("dedup_exact", dedup_config(true, true, false, {"t"}));
    run(*block, {{{"t", "a"}}, {{"t", "a"}}});
    auto out = run(*block, {{{"t", "b"}}, {{"t", "b"}}, {{"t", "a"}}});
    ASSERT_EQ(out.rejected.size(), 2u);
    EXPECT_EQ(out.reason(0), "duplicate of row 3 on [t]");
    EXPECT_EQ(out.reason(1), "duplicate of row 1 on [t]");
}

size_t kept_count(const Json& config, std::vector<Record> rows) {
    return run("dedup_exact", config, std::move(rows)).kept.size();
}

TEST(BlockDedupExact, Lowercase) {
    EXPECT_EQ(kept_count(dedup_config(true, false, false), {qa("Hello", "X"), qa("hello", "x")}), 1u);
    EXPECT_EQ(kept_count(dedup_config(false, false, false), {qa("Hello", "X"), qa("hello", "x")}), 2u);
}

TEST(BlockDedupExact, CollapseWhitespace) {
    EXPECT_EQ(kept_count(dedup_config(false, true, false), {qa(" a  b\n", "x"), qa("a b", "x")}), 1u);
    EXPECT_EQ(kept_count(dedup_config(false, false, false), {qa(" a  b\n", "x"), qa("a b", "x")}), 2u);
}

TEST(BlockDedupExact, StripPunctuation) {
    EXPECT_EQ(kept_count(dedup_config(true, true, true), {qa("Hello, world!", "x"), qa("hello world", "x")}), 1u);
    EXPECT_EQ(kept_count(dedup_config(true, true, false), {qa("Hello, world!", "x"), qa("hello world", "x")}), 2u);
}

TEST(BlockDedupExact, ColumnBoundariesMatter) {
    // "ab"+"c" and "a"+"bc" must not collide: values are length-prefixed.
    EXPECT_EQ(kept_count(dedup_config(false, false, false), {qa("ab", "c"), qa("a", "bc")}), 2u);
    // A string that looks like another type is not that type.
    EXPECT_EQ(kept_count(dedup_config(false, false, false, {"v"}), {{{"v", "1"}}, {{"v", 1}}, {{"v", "null"}}}), 3u);
}

TEST(BlockDedupExact, MissingColumnCountsAsNull) {
    const std::vector<Record> rows = {
        {{"instruction", "a"}}, {{"instruction", "a"}, {"input", nullptr}}, {{"instruction", "a"}, {"input", ""}}};
    auto out = run("dedup_exact", dedup_config(true, true, false), rows);
    EXPECT_EQ(out.kept.size(), 2u);
    ASSERT_EQ(out.rejected.size(), 1u);
    EXPECT_EQ(out.reason(0), "duplicate of row 1 on [instruction, input]");
}

TEST(BlockDedupExact, NormalisesTextInsideLists) {
    Record a = {{"messages", {{{"role", "user"}, {"content", "Hi  There"}}}}};
    Record b = {{"messages", {{{"role", "user"}, {"content", "hi there"}}}}};
    Record c = {{"messages", {{{"role", "assistant"}, {"content", "hi there"}}}}};
    EXPECT_EQ(run("dedup_exact", dedup_config(true, true, false, {"messages"}), {a, b, c}).kept.size(), 2u);
}

std::vector<Record> dedup_input(int n) {
    std::vector<Record> rows;
    for (int i = 0; i < n; ++i) rows.push_back({{"t", "text " + std::to_string((i * 7) % 131)}, {"i", i}});
    return rows;
}

TEST(BlockDedupExact, StateDeltaRestoreEqualsOneRun) {
    const auto config = dedup_config(true, true, false, {"t"});
    const auto rows = dedup_input(200);

    auto whole = make_block("dedup_exact", config);
    auto expected = run(*whole, rows);

    // Process the first half in two batches, saving a delta after each, as the executor does.
    auto first = make_block("dedup_exact", config);
    std::vector<std::string> deltas;
    run(*first, std::vector<Record>(rows.begin(), rows.begin() + 60));
    deltas.push_back(first->take_state_delta());
    run(*first, std::vector<Record>(rows.begin() + 60, rows.begin() + 100));
    deltas.push_back(first->take_state_delta());
    EXPECT_EQ(first->take_state_delta(), "");    // nothing new since the last delta
    EXPECT_LT(deltas[0].size(), 60u * 18 + 16);  // compact: about 17 bytes per key

    auto resumed = make_block("dedup_exact", config);
    resumed->restore_state(deltas);
    auto rest = run(*resumed, std::vector<Record>(rows.begin() + 100, rows.end()));

    std::vector<Record> expected_rest_kept, expected_rest_rejected;
    for (const auto& r : expected.kept)
        if (r.at("i").get<int>() >= 100) expected_rest_kept.push_back(r);
    for (const auto& r : expected.rejected)
        if (r.at("i").get<int>() >= 100) expected_rest_rejected.push_back(r);
    EXPECT_EQ(rest.kept, expected_rest_kept);
    EXPECT_EQ(rest.rejected, expected_rest_rejected);  // same reasons, so the same ordinals

    // A delta taken after restoring continues the sequence.
    auto after = resumed->take_state_delta();
    deltas.push_back(after);
    auto again = make_block("dedup_exact", config);
    again->restore_state(deltas);
    auto none = run(*again, rows);
    EXPECT_TRUE(none.kept.empty());
}

TEST(BlockDedupExact, CorruptStateIsRunError) {
    auto block = make_block("dedup_exact", dedup_config(true, true, false, {"t"}));
    run(*block, {{{"t", "a"}}, {{"t", "b"}}});
    auto delta = block->take_state_delta();
    auto fresh = make_block("dedup_exact", dedup_config(true, true, false, {"t"}));
    EXPECT_THROW(fresh->restore_state({delta.substr(0, delta.size() - 3)}), RunError);
    EXPECT_THROW(fresh->restore_state({std::string("\x7f\x01\x00", 3)}), RunError);
}

TEST(BlockDedupExact, ManyKeysGrowTheTable) {
    auto block = make_block("dedup_exact", dedup_config(true, true, false, {"i"}));
    std::vector<Record> rows;
    for (int i = 0; i < 5000; ++i) rows.push_back({{"i", i}});
    EXPECT_EQ(run(*block, rows).kept.size(), 5000u);
    EXPECT_EQ(run(*block, rows).rejected.size(), 5000u);
}

// ---------------------------------------------------------------------------------------------
// sample

Output sample(uint64_t k, Json seed, int n, uint64_t env_seed = 0) {
    Json config = {{"k", k}};
    if (!seed.is_null()) config["seed"] = seed;
    BlockEnv env;
    env.seed = env_seed;
    auto block = make_block("sample", config, env);
    EXPECT_TRUE(block->needs_all_rows());
    return finish(*block, numbered_rows(n));
}

TEST(BlockSample, KeepsKRowsInOriginalOrder) {
    auto out = sample(10, 42, 100);
    ASSERT_EQ(out.kept.size(), 10u);
    EXPECT_EQ(out.rejected.size(), 90u);
    auto kept = ids(out.kept);
    EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
    EXPECT_EQ(std::set<int>(kept.begin(), kept.end()).size(), 10u);
    EXPECT_EQ(out.reason(0), "not in the sample of k=10 from 100 rows");
}

TEST(BlockSample, SameSeedSameSampleDifferentSeedDifferent) {
    EXPECT_EQ(ids(sample(10, 7, 1000).kept), ids(sample(10, 7, 1000).kept));
    EXPECT_NE(ids(sample(10, 7, 1000).kept), ids(sample(10, 8, 1000).kept));
}

TEST(BlockSample, SeedDefaultsToRunSeed) {
    EXPECT_EQ(ids(sample(10, nullptr, 1000, 7).kept), ids(sample(10, 7, 1000).kept));
    EXPECT_NE(ids(sample(10, nullptr, 1000, 7).kept), ids(sample(10, nullptr, 1000, 8).kept));
}

TEST(BlockSample, KAtLeastNKeepsAll) {
    EXPECT_EQ(sample(5, 1, 5).kept.size(), 5u);
    auto out = sample(50, 1, 5);
    EXPECT_EQ(ids(out.kept), (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_TRUE(out.rejected.empty());
    EXPECT_TRUE(sample(0, 1, 0).kept.empty());
}

TEST(BlockSample, KZeroRejectsAll) {
    auto out = sample(0, 1, 5);
    EXPECT_TRUE(out.kept.empty());
    EXPECT_EQ(out.rejected.size(), 5u);
}

TEST(BlockSample, EveryRowIsEquallyLikely) {
    // 4000 samples of 3 out of 10: each row is expected 1200 times (sd ~29).
    std::vector<int> hits(10, 0);
    for (int seed = 0; seed < 4000; ++seed)
        for (int i : ids(sample(3, seed, 10).kept)) ++hits[i];
    for (int i = 0; i < 10; ++i) {
        EXPECT_GT(hits[i], 1200 - 150) << "row " << i;
        EXPECT_LT(hits[i], 1200 + 150) << "row " << i;
    }
}

TEST(BlockSample, ProcessIsNotForBarrierRows) {
    auto block = make_block("sample", {{"k", 1}, {"seed", 1}});
    Emitter out("b");
    EXPECT_ANY_THROW(block->process(numbered_rows(2), out));
}

// ---------------------------------------------------------------------------------------------
// explode

TEST(BlockExplode, InPlaceReplacesTheList) {
    auto out = run("explode", {{"column", "qs"}}, {{{"id", 1}, {"qs", {"a", "b", "c"}}, {"z", 0}}});
    ASSERT_EQ(out.kept.size(), 3u);
    EXPECT_EQ(out.kept[0].dump(), R"({"id":1,"qs":"a","z":0})");
    EXPECT_EQ(out.kept[2].dump(), R"({"id":1,"qs":"c","z":0})");
}

TEST(BlockExplode, AsAndIndexColumn) {
    auto out = run("explode", {{"column", "qs"}, {"as", "q"}, {"index_column", "q_index"}},
                   {{{"id", 1}, {"qs", {"a", {{"x", 1}}}}}});
    ASSERT_EQ(out.kept.size(), 2u);
    EXPECT_EQ(out.kept[0].dump(), R"({"id":1,"qs":["a",{"x":1}],"q":"a","q_index":0})");
    EXPECT_EQ(out.kept[1].dump(), R"({"id":1,"qs":["a",{"x":1}],"q":{"x":1},"q_index":1})");
}

TEST(BlockExplode, RejectReasons) {
    auto out = run("explode", {{"column", "qs"}}, {{{"qs", "a"}}, {{"qs", Json::array()}}, {{"other", 1}}});
    EXPECT_TRUE(out.kept.empty());
    ASSERT_EQ(out.rejected.size(), 3u);
    EXPECT_EQ(out.reason(0), "column 'qs' is not a list (got string)");
    EXPECT_EQ(out.reason(1), "column 'qs' is an empty list");
    EXPECT_EQ(out.reason(2), "missing column 'qs'");
    EXPECT_EQ(out.rejected[0].at("qs"), "a");
}

TEST(BlockExplode, IndexColumnCannotBeTheTarget) {
    EXPECT_NE(config_error("explode", {{"column", "qs"}, {"index_column", "qs"}}), "");
}

}  // namespace
}  // namespace synthforge
