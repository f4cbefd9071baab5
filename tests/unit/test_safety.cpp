// The safety block through whole flows: deny-lists and patterns decide without a model call,
// the classifier (the fixture server, scripted) decides the rest with a constrained answer,
// unusable answers are asked again and then rejected with the reason, and the taxonomy is
// configurable.
#include "fixture_server_process.h"
#include "synthforge/engine/executor.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <fstream>

namespace fs = std::filesystem;
using namespace synthforge;
using synthforge::testing::FixtureOptions;
using synthforge::testing::FixtureServerProcess;

namespace {

fs::path temp_dir(const std::string& name) {
    fs::path d = fs::path(::testing::TempDir()) / ("safety_" + std::to_string(::getpid()) + "_" + name);
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

Json rule(const std::string& match, const std::vector<Json>& replies) {
    Json texts = Json::array();
    for (const auto& r : replies) texts.push_back(r.is_string() ? r.get<std::string>() : r.dump());
    return {{"match", match}, {"reply", texts}};
}

Json verdict(const std::string& v, const std::vector<std::string>& categories) {
    return {{"verdict", v}, {"categories", categories}};
}

// A flow with one safety block; `llm_line` is the flow's llm: (empty: none at all).
struct Harness {
    fs::path dir;
    std::string llm_line;

    Harness(const std::string& name, const std::string& block_config, const std::string& llm = "")
        : dir(temp_dir(name)) {
        std::ofstream(dir / "flow.yaml") << "version: 1\n"
                                         << (llm.empty() ? "" : "llm: " + llm + "\n")
                                         << "blocks:\n  - name: safety\n    type: safety\n    config: " << block_config
                                         << "\n";
    }
    ~Harness() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    void input(const std::vector<Json>& rows) {
        std::ofstream out(dir / "in.jsonl");
        for (const auto& r : rows) out << r.dump() << "\n";
    }
    RunOptions options(const std::string& run) const {
        RunOptions o;
        o.inputs = {dir / "in.jsonl"};
        o.run_dir = dir / run;
        o.output = dir / (run + ".jsonl");
        return o;
    }
    RunSummary run(const std::string& run) { return run_flow(load_flow(dir / "flow.yaml"), options(run)); }
    std::vector<Json> output(const std::string& run) { return read_jsonl(dir / (run + ".jsonl")); }
    std::vector<Json> rejects(const std::string& run) { return read_jsonl(dir / run / "rejects.jsonl"); }
    Json metrics(const std::string& run) {
        return Json::parse(std::ifstream(dir / run / "metadata.json"))["blocks"][0]["llm"];
    }
};

std::string openai(const FixtureServerProcess& server) {
    return "{backend: openai, base_url: " + server.base_url() + ", model: guard, max_attempts: 1}";
}

std::string user_prompt(const Json& log_entry) {
    return log_entry["body"]["messages"].back()["content"].get<std::string>();
}

}  // namespace

TEST(Safety, DenyListHitIsDroppedWithItsCategoryWithoutAnyLlmRequest) {
    FixtureServerProcess server({.script = Json::array({rule("Categories of unsafe content", {verdict("safe", {})})})});
    Harness h("denylist",
              "{deny_lists: [{category: weapons, terms: [pipe bomb, ghost gun]}], "
              "patterns: [{category: crime, regex: '(?i)\\bskim+er kit\\b'}]}",
              openai(server));
    h.input({{{"instruction", "How do I fix a leaking tap?"}, {"output", "Close the valve, then replace the washer."}},
             {{"instruction", "Tell me a story."}, {"output", "He built a PIPE\n  Bomb in the garage."}},
             {{"instruction", "What sells?"}, {"output", "A card Skimmmer kit, obviously."}}});
    RunSummary s = h.run("r");
    auto rows = h.output("r");
    auto rejects = h.rejects("r");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0]["instruction"], "How do I fix a leaking tap?");
    EXPECT_EQ(rows[0]["safety"]["verdict"], "safe");
    EXPECT_EQ(rows[0]["safety"]["by"], "classifier");
    ASSERT_EQ(rejects.size(), 2u);
    EXPECT_EQ(rejects[0]["_rejected_by"], "safety");
    EXPECT_EQ(rejects[0]["_reason"], "safety: weapons (deny-list 'pipe bomb')");
    EXPECT_EQ(rejects[0]["safety"]["hits"][0]["field"], "output");
    EXPECT_EQ(rejects[1]["_reason"], "safety: crime (pattern 'Skimmmer kit')");
    EXPECT_EQ(s.rows_rejected, 2u);

    // Only the row without a hit reached the classifier.
    auto log = server.log();
    ASSERT_EQ(log.size(), 1u);
    EXPECT_NE(user_prompt(log[0]).find("leaking tap"), std::string::npos);
}

TEST(Safety, DenyListsMatchWholeWordsCaseInsensitivelyAndDenyListOnlyModeNeedsNoModel) {
    // No llm: anywhere in the flow and llm: false: a call would fail for want of a model.
    Harness h("listonly",
              "{llm: false, action: flag, deny_lists: [{category: weapons, file: weapons.txt}, "
              "{category: hate, terms: [Übel]}, {category: crime, terms: [Meth], case_sensitive: true}]}");
    std::ofstream(h.dir / "weapons.txt") << "# comment line\nbomb\n  nerve   agent  \n";
    h.input({{{"instruction", "a"}, {"output", "The speech was bombastic."}},
             {{"instruction", "b"}, {"output", "A BOMB."}},
             {{"instruction", "c"}, {"output", "The nerve\tagent was sarin."}},
             {{"instruction", "d"}, {"output", "Das ist übel!"}},
             {{"instruction", "e"}, {"output", "Das ist Übelkeit."}},
             {{"instruction", "f"}, {"output", "methane; meth is lower case"}},
             {{"instruction", "g"}, {"output", "Meth lab"}}});
    h.run("r");
    auto rows = h.output("r");
    ASSERT_EQ(rows.size(), 7u);  // flag keeps every row
    std::vector<std::string> got;
    for (const auto& r : rows) got.push_back(r["safety"]["verdict"].get<std::string>());
    EXPECT_EQ(got, (std::vector<std::string>{"safe", "unsafe", "unsafe", "unsafe", "safe", "safe", "unsafe"}));
    EXPECT_EQ(rows[0]["safety"]["by"], "none");
    EXPECT_EQ(rows[2]["safety"]["hits"][0]["text"], "nerve   agent");
    EXPECT_EQ(rows[3]["safety"]["categories"], Json::array({"hate"}));
    EXPECT_EQ(rows[6]["safety"]["categories"], Json::array({"crime"}));
}

TEST(Safety, ClassifierVerdictDropsWithCategoriesInTaxonomyOrderAndKeepsSafeRows) {
    FixtureServerProcess server({.script = Json::array({rule("PLANTED", {verdict("unsafe", {"self_harm", "violence"})}),
                                                        rule("Categories of unsafe content", {verdict("safe", {})})})});
    Harness h("classifier", "{}", openai(server));
    h.input({{{"instruction", "Write a diary entry."}, {"output", "PLANTED text"}},
             {{"instruction", "Name a prime."}, {"input", "below ten"}, {"output", "7"}}});
    h.run("r");
    auto rows = h.output("r");
    auto rejects = h.rejects("r");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0]["output"], "7");
    EXPECT_EQ(
        rows[0]["safety"],
        (Json{{"verdict", "safe"}, {"categories", Json::array()}, {"by", "classifier"}, {"hits", Json::array()}}));
    ASSERT_EQ(rejects.size(), 1u);
    EXPECT_EQ(rejects[0]["_reason"], "safety: violence, self_harm (classifier)");

    // The request: both default fields labelled (input is not a default field), every category
    // with its definition, a JSON schema for constrained decoding, greedy decoding.
    auto log = server.log();
    ASSERT_EQ(log.size(), 2u);
    const Json& body = log[0]["body"];
    std::string prompt = user_prompt(log[0]) + user_prompt(log[1]);
    EXPECT_NE(prompt.find("### instruction\nName a prime.\n\n### output\n7\n"), std::string::npos) << prompt;
    EXPECT_EQ(prompt.find("below ten"), std::string::npos);
    EXPECT_NE(prompt.find("- sexual_minors: any sexual"), std::string::npos) << prompt;
    EXPECT_NE(prompt.find("- weapons: helps make"), std::string::npos) << prompt;
    EXPECT_EQ(body["messages"][0]["role"], "system");
    EXPECT_EQ(body["temperature"], 0.0);
    const Json& schema = body["response_format"]["json_schema"]["schema"];
    EXPECT_EQ(schema["properties"]["verdict"]["enum"], Json::array({"safe", "unsafe"}));
    EXPECT_EQ(schema["properties"]["categories"]["items"]["enum"].size(), 12u);
    EXPECT_EQ(schema["required"], Json::array({"verdict", "categories"}));
}

TEST(Safety, MalformedClassifierAnswersAreAskedAgainThenRejectedWithTheReason) {
    FixtureServerProcess server(
        {.script =
             Json::array({rule("NEVER-VALID", {"I think it is fine.", verdict("unsafe", {}), verdict("maybe", {})}),
                          rule("SECOND-TRY", {"{\"verdict\": \"unsafe\", \"categories\": [\"bogus\"]}",
                                              verdict("unsafe", {"privacy"})}),
                          rule("Categories of unsafe content", {verdict("safe", {})})})});
    Harness h("malformed", "{max_parse_retries: 2}", openai(server));
    h.input({{{"instruction", "x"}, {"output", "NEVER-VALID"}}, {{"instruction", "y"}, {"output", "SECOND-TRY"}}});
    RunSummary s = h.run("r");
    auto rejects = h.rejects("r");
    ASSERT_EQ(rejects.size(), 2u);
    EXPECT_EQ(rejects[0]["_reason"],
              "safety: classifier answer unusable after 3 attempts: verdict: expected \"safe\" or \"unsafe\", got "
              "\"maybe\"");
    EXPECT_EQ(rejects[1]["_reason"], "safety: privacy (classifier)");
    EXPECT_EQ(server.log().size(), 5u);  // 3 for the first row, 2 for the second
    Json m = h.metrics("r");
    EXPECT_EQ(m["parse_failures"], 4);
    EXPECT_EQ(m["parse_retries"], 3);
    EXPECT_EQ(s.rows_out, 0u);
}

TEST(Safety, TaxonomyCanBeChangedAndMistakesNameTheField) {
    FixtureServerProcess server({.script = Json::array({rule("Categories of unsafe content", {verdict("safe", {})})})});
    Harness h("taxonomy",
              "{fields: [text], categories: {weapons: false, gambling: 'promotes or facilitates illegal gambling', "
              "violence: 'REDEFINED'}, deny_lists: [{category: gambling, terms: [rigged slots]}]}",
              openai(server));
    h.input({{{"text", "hello"}}, {{"text", "where to buy rigged slots"}}});
    h.run("r");
    EXPECT_EQ(h.rejects("r").at(0)["_reason"], "safety: gambling (deny-list 'rigged slots')");
    auto log = server.log();
    ASSERT_EQ(log.size(), 1u);
    std::string prompt = user_prompt(log[0]);
    EXPECT_NE(prompt.find("- gambling: promotes or facilitates illegal gambling"), std::string::npos) << prompt;
    EXPECT_NE(prompt.find("- violence: REDEFINED"), std::string::npos);
    EXPECT_EQ(prompt.find("- weapons:"), std::string::npos);
    Json enumerated =
        log[0]["body"]["response_format"]["json_schema"]["schema"]["properties"]["categories"]["items"]["enum"];
    EXPECT_NE(std::find(enumerated.begin(), enumerated.end(), "gambling"), enumerated.end());
    EXPECT_EQ(std::find(enumerated.begin(), enumerated.end(), "weapons"), enumerated.end());

    auto load_error = [](const std::string& name, const std::string& config) {
        Harness bad(name, config, "{backend: openai, base_url: http://127.0.0.1:1/v1, model: m}");
        try {
            load_flow(bad.dir / "flow.yaml");
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(load_error("e1", "{categories: {weapons: false}, deny_lists: [{category: weapons, terms: [x]}]}")
                  .find("config.deny_lists[0].category: 'weapons' is not an enabled category"),
              std::string::npos);
    EXPECT_NE(load_error("e2", "{categories: {nonsense: false}}").find("config.categories.nonsense: no such category"),
              std::string::npos);
    EXPECT_NE(load_error("e3", "{patterns: [{category: crime, regex: '(unclosed'}]}").find("config.patterns[0].regex"),
              std::string::npos);
    EXPECT_NE(load_error("e4", "{llm: false}").find("config.llm: with llm: false"), std::string::npos);
    EXPECT_NE(load_error("e5", "{only: [violence, nope]}").find("config.only: no category 'nope'"), std::string::npos);
}

// flows/prompts/sft/safety.j2 is the built-in prompt, so a flow can start its own from it.
TEST(Safety, ShippedPromptFileIsTheBuiltInPrompt) {
    const fs::path flows = fs::path(SYNTHFORGE_TEST_DATA).parent_path().parent_path() / "flows";
    const std::string llm = "{backend: openai, base_url: http://127.0.0.1:1/v1, model: m}";
    Harness builtin("builtin", "{}", llm);
    Harness shipped("shipped", "{prompt_file: " + (flows / "prompts" / "sft" / "safety.j2").string() + "}", llm);
    for (Harness* h : {&builtin, &shipped})
        h->input({{{"instruction", "Say hi."}, {"output", "Hi!"}}, {{"instruction", "Add 2 and 2."}, {"output", "4"}}});
    Preview a = preview_flow(load_flow(builtin.dir / "flow.yaml"), builtin.options("p"), 2);
    FlowOptions allow;  // the shipped prompt lies outside this test flow's folder
    allow.allowed_paths = {flows / "prompts" / "sft"};
    Preview b = preview_flow(load_flow(shipped.dir / "flow.yaml", allow), shipped.options("p"), 2);
    ASSERT_EQ(a.requests.size(), 2u);
    EXPECT_EQ(a.requests, b.requests);
}
