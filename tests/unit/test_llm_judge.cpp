// llm_judge through whole flows against the fixture server (an OpenAI-compatible
// server answering by scripted regex rules): weighted scores, thresholds, retries of
// unusable verdicts, and the two-order pairwise protocol.
#include "fixture_server_process.h"
#include "synthforge/engine/executor.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

namespace fs = std::filesystem;
using namespace synthforge;
using synthforge::testing::FixtureOptions;
using synthforge::testing::FixtureServerProcess;

namespace {

fs::path temp_dir(const std::string& name) {
    fs::path d = fs::path(::testing::TempDir()) / ("llm_judge_" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

std::vector<Json> read_jsonl(const fs::path& p) {
    std::vector<Json> out;
    std::ifstream in(p);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(Json::parse(line));
    return out;
}

// A scripted reply rule: the first rule whose regex is found in the judge's prompt answers.
Json rule(const std::string& match, const std::vector<Json>& replies) {
    Json texts = Json::array();
    for (const auto& r : replies) texts.push_back(r.is_string() ? r.get<std::string>() : r.dump());
    return {{"match", match}, {"reply", texts}};
}

Json scores(int h, int c, int co, int cx, int v) {
    return {
        {"rationale", "scripted"},
        {"scores", {{"helpfulness", h}, {"correctness", c}, {"coherence", co}, {"complexity", cx}, {"verbosity", v}}}};
}

// One llm_judge block in a flow whose model is the fixture server.
struct Harness {
    fs::path dir;
    FixtureServerProcess server;

    Harness(const std::string& name, const std::string& block_config, FixtureOptions options)
        : dir(temp_dir(name)), server(options) {
        std::ofstream(dir / "flow.yaml") << "version: 1\nllm: {backend: openai, base_url: " << server.base_url()
                                         << ", model: judge-model, max_attempts: 1}\nblocks:\n  - name: judge\n"
                                            "    type: llm_judge\n    config: "
                                         << block_config << "\n";
    }
    void input(const std::vector<Json>& rows) {
        std::ofstream out(dir / "in.jsonl");
        for (const auto& r : rows) out << r.dump() << "\n";
    }
    RunOptions options(const std::string& run_name) {
        RunOptions o;
        o.inputs = {dir / "in.jsonl"};
        o.run_dir = dir / run_name;
        o.output = dir / (run_name + ".jsonl");
        return o;
    }
    RunSummary run(const std::string& run_name) { return run_flow(load_flow(dir / "flow.yaml"), options(run_name)); }
    std::vector<Json> output(const std::string& run_name) { return read_jsonl(dir / (run_name + ".jsonl")); }
    std::vector<Json> rejects(const std::string& run_name) { return read_jsonl(dir / run_name / "rejects.jsonl"); }
    Json metrics(const std::string& run_name) {
        return Json::parse(std::ifstream(dir / run_name / "metadata.json"))["blocks"][0]["llm"];
    }
};

}  // namespace

TEST(LlmJudge, WeightedOverallIsTheNormalisedWeightedMeanOfTheScores) {
    Harness h("weighted", "{}",
              {.script = Json::array(
                   {rule("ANSWER-ONE", {scores(4, 3, 2, 1, 0)}), rule("ANSWER-TWO", {scores(4, 4, 4, 4, 4)})})});
    h.input({{{"instruction", "Name a prime."}, {"output", "ANSWER-ONE: 7"}},
             {{"instruction", "Sum these."}, {"input", "2 and 3"}, {"output", "ANSWER-TWO: 5"}}});
    h.run("w");
    auto rows = h.output("w");
    ASSERT_EQ(rows.size(), 2u);
    // Default dimensions: helpfulness .3, correctness .3, coherence .2, complexity .1, verbosity .1 on 0..4.
    double want = (0.3 * 4 / 4 + 0.3 * 3 / 4 + 0.2 * 2 / 4 + 0.1 * 1 / 4 + 0.1 * 0 / 4) / (0.3 + 0.3 + 0.2 + 0.1 + 0.1);
    EXPECT_DOUBLE_EQ(rows[0]["score"].get<double>(), want);
    EXPECT_NEAR(rows[0]["score"].get<double>(), 0.65, 1e-12);
    EXPECT_EQ(rows[0]["judge"]["scores"], scores(4, 3, 2, 1, 0)["scores"]);
    EXPECT_EQ(rows[0]["judge"]["rationale"], "scripted");
    EXPECT_EQ(rows[0]["judge"]["overall"], rows[0]["score"]);
    EXPECT_DOUBLE_EQ(rows[1]["score"].get<double>(), 1.0);

    // What the judge was asked: the task (with its input), the response, every rubric; the
    // schema for constrained decoding; greedy decoding from the judge preset.
    auto log = h.server.log();
    ASSERT_EQ(log.size(), 2u);
    std::set<std::string> prompts;
    for (const auto& e : log) prompts.insert(e["prompt"].get<std::string>());
    const std::string two = *std::find_if(
        prompts.begin(), prompts.end(), [](const std::string& p) { return p.find("ANSWER-TWO") != std::string::npos; });
    EXPECT_NE(two.find("### Task\nSum these.\n\n2 and 3\n"), std::string::npos) << two;
    EXPECT_NE(two.find("- helpfulness (0 to 4): Does the response do what the task asks"), std::string::npos) << two;
    EXPECT_NE(two.find("- verbosity (0 to 4): "), std::string::npos) << two;
    EXPECT_NE(two.find(R"("correctness": <integer 0 to 4>)"), std::string::npos) << two;
    const Json& body = log[0]["body"];
    EXPECT_EQ(body["messages"][0]["role"], "system");
    EXPECT_EQ(body["temperature"], 0.0);
    const Json& schema = body["response_format"]["json_schema"]["schema"];
    EXPECT_EQ(schema["properties"]["scores"]["properties"]["coherence"]["enum"], Json::array({0, 1, 2, 3, 4}));
    EXPECT_EQ(schema["required"], Json::array({"rationale", "scores"}));
}

TEST(LlmJudge, CustomDimensionsAndScaleWeighExactly) {
    Harness h("custom", R"({dimensions: [{name: accuracy, weight: 1, rubric: "Facts right?"},
                                          {name: style, weight: 3, rubric: "Reads well?", min: 0, max: 2}],
                            scale: {min: 1, max: 5}, output: verdict, score_column: overall, rationale: false})",
              {.script = Json::array({rule("accuracy", {R"({"scores": {"accuracy": 2, "style": 2.0}})"})})});
    h.input({{{"instruction", "x"}, {"output", "y"}}});
    h.run("c");
    auto rows = h.output("c");
    ASSERT_EQ(rows.size(), 1u);
    // (1 * (2-1)/(5-1) + 3 * (2-0)/(2-0)) / (1 + 3) = 3.25 / 4
    EXPECT_EQ(rows[0]["overall"].get<double>(), 0.8125);
    EXPECT_EQ(rows[0]["verdict"]["scores"], Json({{"accuracy", 2}, {"style", 2}}));
    EXPECT_FALSE(rows[0]["verdict"].contains("rationale"));
    auto log = h.server.log();
    const Json& schema = log[0]["body"]["response_format"]["json_schema"]["schema"];
    EXPECT_EQ(schema["properties"]["scores"]["properties"]["accuracy"]["enum"], Json::array({1, 2, 3, 4, 5}));
    EXPECT_EQ(schema["required"], Json::array({"scores"}));
    EXPECT_NE(log[0]["prompt"].get<std::string>().find("- style (0 to 2): Reads well?"), std::string::npos);
}

TEST(LlmJudge, RowsBelowMinScoreAreRejectedWithTheirScores) {
    Harness h(
        "threshold", "{min_score: 0.6}",
        {.script = Json::array({rule("weak", {scores(1, 1, 1, 1, 1)}), rule("strong", {scores(4, 3, 3, 2, 3)})})});
    h.input({{{"instruction", "a"}, {"output", "weak answer"}}, {{"instruction", "b"}, {"output", "strong answer"}}});
    h.run("t");
    auto rows = h.output("t");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0]["output"], "strong answer");
    auto rejects = h.rejects("t");
    ASSERT_EQ(rejects.size(), 1u);
    EXPECT_EQ(rejects[0]["output"], "weak answer");
    EXPECT_EQ(rejects[0]["_rejected_by"], "judge");
    EXPECT_EQ(
        rejects[0]["_reason"],
        "judge score 0.25 < 0.6 (helpfulness 1/4, correctness 1/4, coherence 1/4, complexity 1/4, verbosity 1/4)");
    EXPECT_NEAR(rejects[0]["score"].get<double>(), 0.25, 1e-12);  // the verdict stays on the rejected row
    EXPECT_EQ(h.metrics("t")["below_min_score"], 1);
}

TEST(LlmJudge, AnUnparseableVerdictIsAskedAgainWithANewSeed) {
    Harness h(
        "retry", "{}",
        {.script = Json::array({rule("flaky", {"I would rate this a solid four.", scores(3, 3, 3, 3, 3).dump()})})});
    h.input({{{"instruction", "q"}, {"output", "flaky answer"}}});
    h.run("r");
    auto rows = h.output("r");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_DOUBLE_EQ(rows[0]["score"].get<double>(), 0.75);
    auto log = h.server.log();
    ASSERT_EQ(log.size(), 2u);
    EXPECT_NE(log[0]["body"]["seed"], log[1]["body"]["seed"]);
    Json m = h.metrics("r");
    EXPECT_EQ(m["parse_failures"], 1);
    EXPECT_EQ(m["parse_retries"], 1);
    EXPECT_EQ(m["judged"], 1);
}

TEST(LlmJudge, ScoresOutOfRangeOrNotIntegersAreRejectedAfterTheRetries) {
    Json high = scores(7, 3, 3, 3, 3), half = scores(3, 3, 3, 3, 3), partial = scores(3, 3, 3, 3, 3);
    half["scores"]["coherence"] = 2.5;
    partial["scores"].erase("verbosity");
    Harness h("range", "{max_parse_retries: 1}",
              {.script = Json::array({rule("too-high", {high}), rule("halves", {half}), rule("partial", {partial})})});
    h.input({{{"instruction", "q"}, {"output", "too-high"}},
             {{"instruction", "q"}, {"output", "halves"}},
             {{"instruction", "q"}, {"output", "partial"}}});
    h.run("o");
    EXPECT_TRUE(h.output("o").empty());
    auto rejects = h.rejects("o");
    ASSERT_EQ(rejects.size(), 3u);
    EXPECT_EQ(rejects[0]["_reason"], "judge verdict unusable after 2 attempts: scores.helpfulness: 7 is outside 0..4");
    EXPECT_EQ(rejects[1]["_reason"],
              "judge verdict unusable after 2 attempts: scores.coherence: expected an integer, got 2.5");
    EXPECT_EQ(rejects[2]["_reason"], "judge verdict unusable after 2 attempts: scores.verbosity: missing");
    EXPECT_FALSE(rejects[0].contains("judge"));  // never judged: no verdict column
    EXPECT_EQ(h.server.log().size(), 6u);        // each asked twice
}

TEST(LlmJudge, PairwiseConsistentVerdictsChooseTheWinnerWhicheverSideItIsOn) {
    // The judge prefers whichever response holds ALPHA, wherever it is shown.
    Json one = {{"reason", "alpha is right"}, {"winner", "1"}}, two = {{"reason", "alpha is right"}, {"winner", "2"}};
    Harness h("pair", "{mode: pairwise}",
              {.faults = {{"slow_ms", 300}},
               .script = Json::array({rule("### Response 1\nALPHA", {one}), rule("### Response 2\nALPHA", {two})})});
    h.input({{{"instruction", "Pick"}, {"response_a", "ALPHA first"}, {"response_b", "beta first"}},
             {{"instruction", "Pick"}, {"response_a", "beta second"}, {"response_b", "ALPHA second"}}});
    h.run("p");
    auto rows = h.output("p");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0]["chosen"], "ALPHA first");
    EXPECT_EQ(rows[0]["rejected"], "beta first");
    EXPECT_EQ(rows[0]["preference"]["winner"], "a");
    EXPECT_EQ(rows[0]["preference"]["votes"], Json::array({"a", "a"}));
    EXPECT_EQ(rows[0]["preference"]["reasons"], Json::array({"alpha is right", "alpha is right"}));
    EXPECT_EQ(rows[1]["chosen"], "ALPHA second");
    EXPECT_EQ(rows[1]["rejected"], "beta second");
    EXPECT_EQ(rows[1]["preference"]["winner"], "b");

    // Each pair was shown in both orders, and the two orders were in flight together.
    auto log = h.server.log();
    ASSERT_EQ(log.size(), 4u);
    int a_first = 0, b_first = 0, overlapping = 0;
    for (const auto& e : log) {
        const std::string p = e["prompt"].get<std::string>();
        a_first += p.find("### Response 1\nALPHA first") != std::string::npos;
        b_first += p.find("### Response 1\nbeta first") != std::string::npos;
        overlapping += e["in_flight"].get<int>() >= 2;
    }
    EXPECT_EQ(a_first, 1);
    EXPECT_EQ(b_first, 1);
    EXPECT_GE(overlapping, 1);
    EXPECT_EQ(log[0]["body"]["response_format"]["json_schema"]["schema"]["properties"]["winner"]["enum"],
              Json::array({"1", "2", "tie"}));
}

TEST(LlmJudge, PairwiseInconsistentVerdictsAreTiesRejectedOrKept) {
    // A judge that always prefers the first position: its votes cancel out.
    Json first = {{"reason", "the first one"}, {"winner", "1"}};
    FixtureOptions options{.script = Json::array({rule("Response 1", {first})})};
    Harness h("tie", "{mode: pairwise, response_a: left, response_b: \"{{ right }}\"}", options);
    h.input({{{"instruction", "Pick"}, {"left", "L"}, {"right", "R"}}});
    h.run("t");
    EXPECT_TRUE(h.output("t").empty());
    auto rejects = h.rejects("t");
    ASSERT_EQ(rejects.size(), 1u);
    EXPECT_EQ(rejects[0]["_reason"], "position-inconsistent verdicts: a with a shown first, b with b shown first");
    EXPECT_EQ(rejects[0]["preference"]["winner"], "tie");
    EXPECT_EQ(h.metrics("t")["ties"], 1);

    Harness k("tie_keep", "{mode: pairwise, response_a: left, response_b: right, on_tie: keep}", options);
    k.input({{{"instruction", "Pick"}, {"left", "L"}, {"right", "R"}}});
    k.run("k");
    auto rows = k.output("k");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_TRUE(rows[0]["chosen"].is_null());
    EXPECT_TRUE(rows[0]["rejected"].is_null());
    EXPECT_EQ(rows[0]["preference"]["votes"], Json::array({"a", "b"}));
}

TEST(LlmJudge, DryRunRendersBothOrdersAndSendsNothing) {
    Harness h("dry", "{mode: pairwise, sampling: {max_tokens: 200}}", {});
    h.input({{{"instruction", "Pick"}, {"response_a", "AAA"}, {"response_b", "BBB"}}, {{"instruction", "Pick"}}});
    Preview p = preview_flow(load_flow(h.dir / "flow.yaml"), h.options("d"), 5);
    EXPECT_TRUE(h.server.log().empty());
    ASSERT_EQ(p.requests.size(), 2u);  // the second row lacks its responses
    const std::string first = p.requests[0]["messages"][1]["content"].get<std::string>();
    const std::string second = p.requests[1]["messages"][1]["content"].get<std::string>();
    EXPECT_NE(first.find("### Response 1\nAAA\n\n### Response 2\nBBB\n"), std::string::npos) << first;
    EXPECT_NE(second.find("### Response 1\nBBB\n\n### Response 2\nAAA\n"), std::string::npos) << second;
    EXPECT_NE(first.find("- helpfulness (30% of the decision): "), std::string::npos) << first;
    EXPECT_EQ(p.requests[0]["block"], "judge");
    EXPECT_EQ(p.requests[0]["sampling"]["max_tokens"], 200);
    EXPECT_EQ(p.requests[0]["sampling"]["mode"], "deterministic");
    EXPECT_TRUE(p.requests[0]["json_schema"].is_object());
    ASSERT_EQ(p.rejected.size(), 1u);
    EXPECT_NE(p.rejected[0]["_reason"].get<std::string>().find("response_a"), std::string::npos);
}

TEST(LlmJudge, PromptFileSeesTheJudgeVariablesAndTheRecordsColumns) {
    Harness h("prompt_file", "{prompt_file: judge.jinja, system: \"\", instruction: question, response: answer}",
              {.script = Json::array({rule("REFERENCE", {scores(2, 2, 2, 2, 2)})})});
    std::ofstream(h.dir / "judge.jinja") << "Q={{ instruction }} A={{ response }} REFERENCE={{ gold }} "
                                            "N={{ dimensions | length }}\n{{ answer_shape }}";
    h.input({{{"question", "2+2?"}, {"answer", "4"}, {"gold", "four"}}});
    h.run("f");
    ASSERT_EQ(h.output("f").size(), 1u);
    auto log = h.server.log();
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0]["body"]["messages"].size(), 1u);  // system: "" sends none
    EXPECT_EQ(log[0]["prompt"].get<std::string>().rfind("Q=2+2? A=4 REFERENCE=four N=5\n{\"rationale\": ", 0), 0u)
        << log[0]["prompt"];
}

TEST(LlmJudge, ConfigErrorsNameTheField) {
    const BlockType* type = BlockRegistry::global().find("llm_judge");
    ASSERT_NE(type, nullptr);
    BlockEnv env;
    auto error_of = [&](const std::string& yaml_json) -> std::string {
        try {
            type->make("judge", Json::parse(yaml_json), env);
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_EQ(error_of(R"({"mode": "pairwise", "min_score": 0.5})"), "config.min_score: only used with mode: absolute");
    EXPECT_EQ(error_of(R"({"on_tie": "keep"})"), "config.on_tie: only used with mode: pairwise");
    EXPECT_EQ(error_of(R"({"dimensions": [{"name": "a", "rubric": "x"}, {"name": "a", "rubric": "y"}]})"),
              "config.dimensions[1].name: 'a' is given twice");
    EXPECT_EQ(error_of(R"({"scale": {"min": 3, "max": 3}})"), "config.scale: max (3) must be greater than min (3)");
    EXPECT_EQ(error_of(R"({"dimensions": [{"name": "a", "rubric": "x", "weight": 0}]})"),
              "config.dimensions: the weights add up to 0; give at least one a positive weight");
    EXPECT_EQ(error_of(R"({"prompt": "x", "prompt_file": "y"})"),
              "config.prompt: give prompt or prompt_file, not both");
    EXPECT_EQ(error_of("{}"), "");
}
