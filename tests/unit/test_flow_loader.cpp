#include "synthforge/engine/flow.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

#include <fstream>

namespace fs = std::filesystem;
using namespace synthforge;

namespace {

fs::path write_flow(const std::string& name, const std::string& text) {
    fs::path dir = fs::path(testing::TempDir()) / "flow_loader";
    fs::create_directories(dir);
    fs::path p = dir / name;
    std::ofstream(p) << text;
    return p;
}

std::string all_messages(const std::vector<Diagnostic>& diags) {
    std::string out;
    for (const auto& d : diags) out += d.str() + "\n";
    return out;
}

}  // namespace

TEST(FlowLoader, LoadsBlocksParamsAndDefaults) {
    auto p = write_flow("ok.yaml", R"(version: 1
name: demo
params:
  n: 3
  column: {default: text, description: "which column"}
blocks:
  - name: keep
    type: filter
    config:
      where:
        - {column: "${column}", length: words, op: ">=", value: "${n}"}
  - name: tag
    type: set
    config: {column: tag, value: "min ${n} words"}
)");
    Flow flow = load_flow(p);
    EXPECT_EQ(flow.name, "demo");
    ASSERT_EQ(flow.blocks.size(), 2u);
    const auto& cond = flow.blocks[0].config["where"][0];
    EXPECT_EQ(cond["column"], "text");
    EXPECT_EQ(cond["value"], 3);  // a whole-string reference keeps the parameter's type
    EXPECT_EQ(flow.blocks[1].config["value"], "min 3 words");
    EXPECT_EQ(flow.blocks[0].config["mode"], "all");  // schema default filled in
    EXPECT_EQ(flow.blocks[0].mark.line, 7);
}

TEST(FlowLoader, SetOverridesParameterWithTypedValue) {
    auto p = write_flow("set.yaml", R"(version: 1
params: {n: 3}
blocks:
  - {name: keep, type: filter, config: {where: [{column: text, op: ">=", value: "${n}"}]}}
)");
    FlowOptions o;
    o.overrides["n"] = "10";
    Flow flow = load_flow(p, o);
    EXPECT_EQ(flow.blocks[0].config["where"][0]["value"], 10);
    EXPECT_EQ(flow.param_values["n"], 10);
    o.overrides = {{"nn", "1"}};
    auto diags = validate_flow(p, o);
    ASSERT_EQ(diags.size(), 1u);
    EXPECT_NE(diags[0].message.find("unknown parameter 'nn'; did you mean 'n'?"), std::string::npos)
        << diags[0].message;
}

TEST(FlowLoader, FlowWithoutParamsStillTakesLlmSetsAndRefusesUnknownNames) {
    auto p = write_flow("noparams.yaml", "version: 1\nblocks:\n  - {name: s, type: sample, config: {k: 5}}\n");
    FlowOptions o;
    o.overrides = {{"llm.model", "m.gguf"}, {"sampling.temperature", "0.2"}};
    Flow flow = load_flow(p, o);
    EXPECT_EQ(flow.llm_overrides["model"], "m.gguf");
    EXPECT_EQ(flow.sampling_overrides["temperature"], 0.2);
    o.overrides = {{"k", "3"}};
    auto diags = validate_flow(p, o);
    ASSERT_EQ(diags.size(), 1u);
    EXPECT_NE(diags[0].message.find("unknown parameter 'k'"), std::string::npos) << diags[0].message;
}

TEST(FlowLoader, ReportsEveryProblemWithLineColumnAndBlock) {
    auto p = write_flow("bad.yaml", R"(version: 1
blocks:
  - name: keep
    type: filter
    config:
      where:
        - {column: text, op: "=~", value: 3}
      mdoe: any
  - name: other
    type: fliter
  - name: keep
    type: drop
    config: {columns: [a]}
)");
    auto diags = validate_flow(p);
    std::string text = all_messages(diags);
    ASSERT_EQ(diags.size(), 4u) << text;
    // The bad enum value points at the value's own position.
    EXPECT_NE(text.find("bad.yaml:7:30: block 'keep': config.where[0].op: =~ is not one of"), std::string::npos)
        << text;
    EXPECT_NE(text.find("bad.yaml:8:7: block 'keep': config: unknown key 'mdoe'; did you mean 'mode'?"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("bad.yaml:10:11: block 'other': unknown block type 'fliter'; did you mean 'filter'?"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("bad.yaml:11:11: block 'keep': another block has this name already"), std::string::npos)
        << text;
}

TEST(FlowLoader, TopLevelSchemaErrors) {
    auto v2 = write_flow("v2.yaml", "version: 2\nblocks: []\n");
    std::string text = all_messages(validate_flow(v2));
    EXPECT_NE(text.find("v2.yaml:1:10: flow version 2 is not supported; this synthforge reads version 1"),
              std::string::npos)
        << text;
    auto p = write_flow("top.yaml", "version: 1\nblocks: []\nextra: 1\n");
    text = all_messages(validate_flow(p));
    EXPECT_NE(text.find("top.yaml:3:1: unknown key 'extra'"), std::string::npos) << text;
    EXPECT_NE(text.find("top.yaml:2:9: blocks: array should contain no fewer than 1 elements"), std::string::npos)
        << text;
}

TEST(FlowLoader, YamlSyntaxErrorHasPosition) {
    auto p = write_flow("syntax.yaml", "version: 1\nblocks:\n  - name: [unclosed\n");
    auto diags = validate_flow(p);
    ASSERT_EQ(diags.size(), 1u);
    EXPECT_EQ(diags[0].mark.line, 4);
    EXPECT_NE(diags[0].message.find("YAML syntax error"), std::string::npos);
}

TEST(FlowLoader, UnknownParameterReferenceIsReported) {
    auto p = write_flow("ref.yaml", R"(version: 1
params: {limit: 3}
blocks:
  - {name: s, type: sample, config: {k: "${limt}"}}
)");
    std::string text = all_messages(validate_flow(p));
    EXPECT_NE(text.find("ref.yaml:4:41: block 's': unknown parameter ${limt}; did you mean ${limit}?"),
              std::string::npos)
        << text;
}

TEST(FlowLoader, RequiredParameterNeedsSet) {
    auto p = write_flow("req.yaml", R"(version: 1
params:
  k: {required: true, description: "rows to keep"}
blocks:
  - {name: s, type: sample, config: {k: "${k}"}}
)");
    EXPECT_THROW(load_flow(p), ConfigError);
    FlowOptions o;
    o.overrides["k"] = "5";
    EXPECT_EQ(load_flow(p, o).blocks[0].config["k"], 5);
}

TEST(FlowLoader, FingerprintIgnoresFormattingButNotConfig) {
    auto a = write_flow("fa.yaml", "version: 1\nblocks:\n  - {name: s, type: sample, config: {k: 5}}\n");
    auto b = write_flow("fb.yaml",
                        "# comment\nversion: 1\nblocks:\n  - name: s\n    type: sample\n    config:\n      k: 5\n");
    auto c = write_flow("fc.yaml", "version: 1\nblocks:\n  - {name: s, type: sample, config: {k: 6}}\n");
    EXPECT_EQ(load_flow(a).fingerprint(), load_flow(b).fingerprint());
    EXPECT_NE(load_flow(a).fingerprint(), load_flow(c).fingerprint());
}
