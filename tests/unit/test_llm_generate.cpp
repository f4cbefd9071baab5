// llm_generate and the LLM client against a scripted in-memory backend: ordering,
// caching, parsing, retries and rejections, without any model or server.
#include "synthforge/engine/executor.h"
#include "synthforge/engine/registry.h"
#include "synthforge/engine/run_store.h"
#include "synthforge/errors.h"
#include "synthforge/llm/client_pool.h"

#include <gtest/gtest.h>

#include <deque>
#include <fstream>
#include <mutex>
#include <set>

namespace fs = std::filesystem;
using namespace synthforge;

namespace {

// Answers by a function of the request; finishes requests out of order (LIFO) to
// prove that outcomes are still handed back in submission order.
struct Script {
    std::function<llm::Outcome(const llm::Request&)> answer;
    std::vector<llm::Request> seen;
    std::set<std::string> delivered;  // prompts whose outcome reached the client
    std::mutex mutex;
};
Script* g_script = nullptr;

class ScriptedBackend : public llm::Backend {
  public:
    std::string identity() const override { return "scripted"; }
    size_t max_in_flight() const override { return 4; }
    void submit(uint64_t id, llm::Request request) override {
        std::lock_guard lock(g_script->mutex);
        g_script->seen.push_back(request);
        pending_.push_back({id, {request.messages.back().content, g_script->answer(request)}});
    }
    std::vector<std::pair<uint64_t, llm::Outcome>> wait(std::chrono::milliseconds) override {
        std::vector<std::pair<uint64_t, llm::Outcome>> out;
        for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
            out.push_back({it->first, it->second.second});
            g_script->delivered.insert(it->second.first);
        }
        pending_.clear();
        return out;
    }

  private:
    std::vector<std::pair<uint64_t, std::pair<std::string, llm::Outcome>>> pending_;
};

const bool registered = [] {
    llm::register_backend_kind("scripted",
                               [](const Json&, const fs::path&) { return std::make_unique<ScriptedBackend>(); });
    return true;
}();

llm::Outcome reply(std::string text, std::string finish = "stop") {
    llm::Outcome o;
    o.attempts = 1;
    o.response = llm::Response{std::move(text), std::move(finish), {10, 5}, 1.0, "scripted://", false};
    return o;
}

std::string last_user(const llm::Request& r) {
    return r.messages.back().content;
}

fs::path temp_dir(const std::string& name) {
    fs::path d = fs::path(testing::TempDir()) / ("llm_generate_" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

std::vector<Json> read_jsonl(const fs::path& p) {
    std::vector<Json> out;
    std::ifstream in(p);
    for (std::string line; std::getline(in, line);) out.push_back(Json::parse(line));
    return out;
}

struct Harness {
    fs::path dir;
    Script script;
    Harness(const std::string& name, const std::string& block_config) : dir(temp_dir(name)) {
        g_script = &script;
        std::ofstream(dir / "flow.yaml") << "version: 1\nllm: {backend: scripted}\nblocks:\n  - name: gen\n"
                                            "    type: llm_generate\n    config: "
                                         << block_config << "\n";
    }
    ~Harness() { g_script = nullptr; }
    void input(const std::vector<std::string>& prompts) {
        std::ofstream out(dir / "in.jsonl");
        for (const auto& p : prompts) out << Json{{"q", p}}.dump() << "\n";
    }
    RunSummary run(const std::string& run_name, bool resume = false) {
        RunOptions o;
        o.inputs = {dir / "in.jsonl"};
        o.run_dir = dir / run_name;
        o.output = dir / (run_name + ".jsonl");
        o.resume = resume;
        return run_flow(load_flow(dir / "flow.yaml"), o);
    }
};

}  // namespace

TEST(LlmGenerate, AnswersInInputOrderAndCachesEveryResponse) {
    Harness h("order", R"({prompt: "Q: {{ q }}"})");
    h.script.answer = [](const llm::Request& r) { return reply("answer to " + last_user(r)); };
    std::vector<std::string> prompts;
    for (int i = 0; i < 25; ++i) prompts.push_back("question " + std::to_string(i));
    h.input(prompts);
    RunSummary s = h.run("a");
    EXPECT_EQ(s.rows_out, 25u);
    auto rows = read_jsonl(h.dir / "a.jsonl");
    for (int i = 0; i < 25; ++i) EXPECT_EQ(rows[i]["response"], "answer to Q: question " + std::to_string(i));
    EXPECT_EQ(h.script.seen.size(), 25u);

    // Token usage reaches the metadata.
    RunStore store(h.dir / "a" / "run.sqlite");
    EXPECT_TRUE(store.meta("stage_0_complete").has_value());
    Json meta = Json::parse(std::ifstream(h.dir / "a" / "metadata.json"));
    EXPECT_EQ(meta["blocks"][0]["llm"]["requests"], 25);
    EXPECT_EQ(meta["blocks"][0]["llm"]["completion_tokens"], 125);
}

TEST(LlmGenerate, ResumeAfterACrashSendsNoSucceededRequestAgain) {
    Harness h("resume", R"({prompt: "{{ q }}"})");
    int calls = 0;
    h.script.answer = [&](const llm::Request& r) {
        if (++calls == 1500) throw RunError("simulated crash mid-batch");
        return reply("A:" + last_user(r));
    };
    std::vector<std::string> prompts;
    for (int i = 0; i < 2500; ++i) prompts.push_back("p" + std::to_string(i));
    h.input(prompts);
    EXPECT_THROW(h.run("r"), RunError);
    EXPECT_EQ(h.script.seen.size(), 1500u);
    std::set<std::string> answered_before = h.script.delivered;
    EXPECT_GE(answered_before.size(), 1499u - 4u);  // all but the in-flight window
    h.script.seen.clear();
    h.run("r", /*resume=*/true);
    // Every answer that reached the client was cached at once: none is asked for again.
    EXPECT_EQ(h.script.seen.size(), 2500u - answered_before.size());
    for (const auto& r : h.script.seen) EXPECT_EQ(answered_before.count(last_user(r)), 0u) << last_user(r);
    auto rows = read_jsonl(h.dir / "r.jsonl");
    ASSERT_EQ(rows.size(), 2500u);
    for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i]["response"], "A:p" + std::to_string(i));
}

TEST(LlmGenerate, ListAnswersBecomeRowsAndATruncatedLastItemIsDropped) {
    Harness h("list", R"({prompt: "{{ q }}", parse: list, output: item, finish_reason_column: why})");
    h.script.answer = [](const llm::Request& r) {
        if (last_user(r) == "cut") return reply("1. first\n2. second\n3. thi", "length");
        return reply("Here you go:\n1. alpha\n2) beta\n   continued\n- gamma");
    };
    h.input({"full", "cut"});
    h.run("l");
    auto rows = read_jsonl(h.dir / "l.jsonl");
    ASSERT_EQ(rows.size(), 5u);
    EXPECT_EQ(rows[0]["item"], "alpha");
    EXPECT_EQ(rows[1]["item"], "beta continued");
    EXPECT_EQ(rows[2]["item"], "gamma");
    EXPECT_EQ(rows[3]["item"], "first");
    EXPECT_EQ(rows[4]["item"], "second");
    EXPECT_EQ(rows[4]["why"], "length");
}

TEST(LlmGenerate, UnparseableAnswersAreRetriedWithNewSeedsThenRejected) {
    Harness h("json", R"({prompt: "{{ q }}", parse: json, merge_json: true, max_parse_retries: 2,
      json_schema: {type: object, properties: {score: {type: integer}}, required: [score]}})");
    std::map<std::string, int> attempts;
    h.script.answer = [&](const llm::Request& r) {
        int n = ++attempts[last_user(r)];
        if (last_user(r) == "never") return reply("I cannot answer in JSON.");
        if (n < 2) return reply("{\"score\": \"high\"}");  // wrong type first
        return reply("Sure: ```json\n{\"score\": 4}\n```");
    };
    h.input({"eventually", "never"});
    RunSummary s = h.run("j");
    EXPECT_EQ(s.rows_out, 1u);
    auto rows = read_jsonl(h.dir / "j.jsonl");
    EXPECT_EQ(rows[0]["score"], 4);
    EXPECT_EQ(attempts["eventually"], 2);
    EXPECT_EQ(attempts["never"], 3);  // the first try and two retries
    // Every attempt had its own seed, and the schema was sent for constrained decoding.
    std::set<uint64_t> seeds;
    for (const auto& r : h.script.seen)
        if (last_user(r) == "never") seeds.insert(*r.sampling.seed);
    EXPECT_EQ(seeds.size(), 3u);
    EXPECT_TRUE(h.script.seen[0].json_schema.has_value());
    auto rejects = read_jsonl(h.dir / "j" / "rejects.jsonl");
    ASSERT_EQ(rejects.size(), 1u);
    EXPECT_EQ(rejects[0]["q"], "never");
    EXPECT_EQ(rejects[0]["_rejected_by"], "gen");
    EXPECT_NE(rejects[0]["_reason"].get<std::string>().find("did not parse as JSON after 3 attempts"),
              std::string::npos);
}

TEST(LlmGenerate, FailedRequestsAndTemplateErrorsAreRejectedWithReasons) {
    Harness h("fail", R"({prompt: "{{ q }} {{ missing }}", system: "Be brief."})");
    h.script.answer = [](const llm::Request&) { return reply("unused"); };
    h.input({"a"});
    h.run("t");
    auto rejects = read_jsonl(h.dir / "t" / "rejects.jsonl");
    ASSERT_EQ(rejects.size(), 1u);
    EXPECT_NE(rejects[0]["_reason"].get<std::string>().find("'missing'"), std::string::npos);

    Harness g("fail2", R"({prompt: "{{ q }}", system: "Be brief.", examples: [{user: "2+2?", assistant: "4"}]})");
    g.script.answer = [](const llm::Request&) {
        llm::Outcome o;
        o.attempts = 5;
        o.error = "http://x/v1: gave up after 5 attempts: HTTP 503";
        return o;
    };
    g.input({"b"});
    EXPECT_EQ(g.run("t").llm_failures, 1u);  // the CLI turns this into exit code 1
    auto r2 = read_jsonl(g.dir / "t" / "rejects.jsonl");
    ASSERT_EQ(r2.size(), 1u);
    EXPECT_EQ(r2[0]["_reason"], "LLM request failed: http://x/v1: gave up after 5 attempts: HTTP 503");
    // system, the k-shot pair as user/assistant turns, then the prompt.
    ASSERT_EQ(g.script.seen[0].messages.size(), 4u);
    EXPECT_EQ(g.script.seen[0].messages[0].role, "system");
    EXPECT_EQ(g.script.seen[0].messages[1].content, "2+2?");
    EXPECT_EQ(g.script.seen[0].messages[2].role, "assistant");
}

TEST(LlmGenerate, SamplesGetDistinctReproducibleSeedsAndPresetsLayer) {
    Harness h("samples", R"({prompt: "{{ q }}", n: 3, sample_column: k, sampling: {temperature: 0.9}})");
    h.script.answer = [](const llm::Request& r) { return reply(std::to_string(*r.sampling.seed)); };
    std::ofstream(h.dir / "flow.yaml", std::ios::app) << "sampling: {preset: creative, max_tokens: 99}\n";
    h.input({"x"});
    h.run("s1");
    h.run("s2");
    auto a = read_jsonl(h.dir / "s1.jsonl"), b = read_jsonl(h.dir / "s2.jsonl");
    ASSERT_EQ(a.size(), 3u);
    EXPECT_EQ(a, b);  // same seeds on every run
    EXPECT_NE(a[0]["response"], a[1]["response"]);
    EXPECT_EQ(a[2]["k"], 2);
    const auto& s = h.script.seen[0].sampling;
    EXPECT_DOUBLE_EQ(s.temperature, 0.9);       // block beats flow and preset
    EXPECT_DOUBLE_EQ(s.presence_penalty, 0.4);  // from the creative preset
    EXPECT_EQ(s.max_tokens, 99);                // from the flow
}
