// The reward block in-process (a tiny random-weight reranker written by write_tiny_model,
// scored through llama.cpp's rank pooling) against a plain llama.h computation, and the
// preference_pairs block that turns scores into (chosen, rejected) pairs. Random weights
// cannot tell a good answer from a bad one: ordering is tested over HTTP with scripted scores
// (RewardHttp), here only that the numbers are the model's.
#include "fixture_server_process.h"
#include "llm/tiny_model.h"
#include "synthforge/engine/executor.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>
#include <llama.h>
#include <unistd.h>

#include <fstream>

namespace fs = std::filesystem;
using namespace synthforge;

namespace {

std::vector<Json> read_jsonl(const fs::path& p) {
    std::vector<Json> out;
    std::ifstream in(p);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(Json::parse(line));
    return out;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
}

// The reference score, the way llama-server's /v1/rerank computes it: the model's rerank
// template with the texts put in, tokenised whole, one sequence, rank pooling, output 0.
double reference_score(const fs::path& model_path, const std::string& query, const std::string& document) {
    llama_model* model = llama_model_load_from_file(model_path.c_str(), llama_model_default_params());
    const llama_vocab* vocab = llama_model_get_vocab(model);
    const char* tmpl = llama_model_chat_template(model, "rerank");
    EXPECT_NE(tmpl, nullptr);
    std::string text = tmpl ? tmpl : "";
    replace_all(text, "{query}", query);
    replace_all(text, "{document}", document);
    std::vector<llama_token> t(text.size() + 2);
    int n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), t.data(),
                           static_cast<int32_t>(t.size()), /*add_special=*/false, /*parse_special=*/true);
    t.resize(static_cast<size_t>(std::max(n, 0)));
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512;
    cp.n_batch = cp.n_ubatch = 512;
    cp.n_threads = cp.n_threads_batch = 1;
    cp.embeddings = true;
    cp.pooling_type = LLAMA_POOLING_TYPE_RANK;
    llama_context* ctx = llama_init_from_model(model, cp);
    llama_batch batch = llama_batch_get_one(t.data(), static_cast<int32_t>(t.size()));
    EXPECT_EQ(llama_decode(ctx, batch), 0);
    const float* e = llama_get_embeddings_seq(ctx, 0);
    EXPECT_EQ(llama_model_n_cls_out(model), 2u);
    const double score = e ? e[0] : -1;
    llama_free(ctx);
    llama_model_free(model);
    return score;
}

class Reward : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        // ctest runs every test in its own process, in parallel: one folder per process.
        dir_ = fs::path(::testing::TempDir()) / ("reward_block_" + std::to_string(getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        llm::TinyModelOptions o;
        o.reranker = true;
        llm::write_tiny_model(dir_ / "reranker.gguf", o);
        llm::write_tiny_model(dir_ / "generative.gguf", llm::TinyModelOptions{});
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    // One flow (blocks in YAML) over `rows`; returns the output rows.
    std::vector<Json> run(const std::string& name, const std::string& llm, const std::string& blocks,
                          const std::vector<Json>& rows) {
        fs::path d = dir_ / name;
        fs::create_directories(d);
        std::ofstream(d / "flow.yaml") << "version: 1\n"
                                       << (llm.empty() ? "" : "llm: " + llm + "\n") << "blocks:\n"
                                       << blocks;
        std::ofstream in(d / "in.jsonl");
        for (const auto& r : rows) in << r.dump() << "\n";
        in.close();
        RunOptions o;
        o.inputs = {d / "in.jsonl"};
        o.run_dir = d / "run";
        o.output = d / "out.jsonl";
        last_ = d;
        run_flow(load_flow(d / "flow.yaml"), o);
        return read_jsonl(d / "out.jsonl");
    }
    std::vector<Json> rejects() const { return read_jsonl(last_ / "run" / "rejects.jsonl"); }

    // Several sequences share a decode by default; one at a time gives the reference's exact numbers.
    std::string reranker_llm(int concurrency = 3) const {
        return "{backend: llama, model: " + (dir_ / "reranker.gguf").string() +
               ", embeddings: true, pooling: rank, concurrency: " + std::to_string(concurrency) +
               ", threads: 1, n_ctx: 1536}";
    }

    static inline fs::path dir_;
    fs::path last_;
};

}  // namespace

TEST_F(Reward, InProcessScoresAreTheRerankHeadsOutputAsLlamaComputesIt) {
    const std::vector<std::pair<std::string, std::string>> pairs = {
        {"Name a prime number.", "7 is prime: its only divisors are 1 and 7."},
        {"Name a prime number.", "Bananas are yellow."},
        {"Summarize: the river rose overnight and closed two roads.", "Flooding closed two roads overnight."},
        {"Write a haiku about autumn.",
         "Leaves drift on cold wind / the orchard exhales its last / apples in the grass"},
    };
    std::vector<Json> rows;
    for (const auto& [q, d] : pairs) rows.push_back({{"instruction", q}, {"output", d}});
    // One sequence per decode: the same computation as the reference, so the same number.
    auto out = run("inprocess", reranker_llm(1), "  - {name: rm, type: reward}\n", rows);
    // Sequences batched together: float sums in another order (the tiny model's final norm of 48
    // amplifies them), so close but not bit-equal.
    auto batched = run("inprocess_batched", reranker_llm(3), "  - {name: rm, type: reward}\n", rows);
    ASSERT_EQ(out.size(), pairs.size());
    ASSERT_EQ(batched.size(), pairs.size());
    for (size_t i = 0; i < pairs.size(); ++i) {
        SCOPED_TRACE(pairs[i].second);
        const double want = reference_score(dir_ / "reranker.gguf", pairs[i].first, pairs[i].second);
        const double got = out[i]["reward"].get<double>();
        EXPECT_NEAR(got, want, 1e-5);
        EXPECT_NEAR(batched[i]["reward"].get<double>(), want, 2e-3);
        // The head's two labels go through a softmax: the score is a probability.
        EXPECT_GT(got, 0.0);
        EXPECT_LT(got, 1.0);
    }
    // The same instruction with another response scores differently: the response is read.
    EXPECT_NE(out[0]["reward"], out[1]["reward"]);
}

TEST_F(Reward, AListOfResponsesGetsAListOfScoresAndMinScoreRejectsBelowIt) {
    const std::string q = "Name a prime number.";
    const std::vector<std::string> answers = {"7 is prime.", "Bananas are yellow.", "Eleven."};
    auto single = run("single", reranker_llm(), "  - {name: rm, type: reward}\n",
                      {{{"instruction", q}, {"output", answers[0]}},
                       {{"instruction", q}, {"output", answers[1]}},
                       {{"instruction", q}, {"output", answers[2]}}});
    ASSERT_EQ(single.size(), 3u);
    auto listed =
        run("listed", reranker_llm(), "  - {name: rm, type: reward, config: {response: responses, output: rewards}}\n",
            {{{"instruction", q}, {"responses", answers}}});
    ASSERT_EQ(listed.size(), 1u);
    ASSERT_EQ(listed[0]["rewards"].size(), 3u);
    double lowest = 1;
    for (size_t k = 0; k < 3; ++k) {
        EXPECT_NEAR(listed[0]["rewards"][k].get<double>(), single[k]["reward"].get<double>(), 1e-4);
        lowest = std::min(lowest, single[k]["reward"].get<double>());
    }

    // A bar between the lowest score and the others: exactly the lowest row goes, with its score.
    double second = 1;
    for (const auto& r : single)
        if (r["reward"].get<double>() > lowest) second = std::min(second, r["reward"].get<double>());
    const double bar = (lowest + second) / 2;
    auto kept =
        run("bar", reranker_llm(), "  - {name: rm, type: reward, config: {min_score: " + std::to_string(bar) + "}}\n",
            {{{"instruction", q}, {"output", answers[0]}},
             {{"instruction", q}, {"output", answers[1]}},
             {{"instruction", q}, {"output", answers[2]}}});
    EXPECT_EQ(kept.size(), 2u);
    auto rej = rejects();
    ASSERT_EQ(rej.size(), 1u);
    EXPECT_NEAR(rej[0]["reward"].get<double>(), lowest, 1e-9);
    EXPECT_EQ(rej[0]["_reason"].get<std::string>().rfind("reward ", 0), 0u) << rej[0]["_reason"];
    EXPECT_NE(rej[0]["_reason"].get<std::string>().find("< min_score"), std::string::npos);
}

TEST_F(Reward, ModelSettingsThatCannotScoreAreRefusedAtLoad) {
    auto error = [&](const std::string& name, const std::string& llm, const std::string& config) {
        fs::path d = dir_ / name;
        fs::create_directories(d);
        std::ofstream(d / "flow.yaml") << "version: 1\nllm: " << llm
                                       << "\nblocks:\n  - {name: rm, type: reward, config: " << config << "}\n";
        try {
            load_flow(d / "flow.yaml");
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(error("e1", "{backend: llama, model: x.gguf}", "{}").find("config.llm.embeddings"), std::string::npos);
    EXPECT_NE(error("e2", "{backend: llama, model: x.gguf, embeddings: true, pooling: mean}", "{}")
                  .find("config.llm.pooling"),
              std::string::npos);
    EXPECT_NE(error("e3", "{backend: openai, base_url: http://127.0.0.1:1/v1, model: m}", "{api: {kind: generic}}")
                  .find("config.api: kind generic needs path, body and score"),
              std::string::npos);
    EXPECT_NE(error("e4", "{backend: openai, base_url: http://127.0.0.1:1/v1, model: m}",
                    "{api: {kind: generic, path: /x, body: {}, score: 'no-slash'}}")
                  .find("config.api.score"),
              std::string::npos);
}

TEST_F(Reward, AModelWithoutAClassificationHeadFailsEachRowWithTheReason) {
    // pooling: model passes the load check; the generative GGUF declares no rank pooling (mean is used).
    const std::string llm = "{backend: llama, model: " + (dir_ / "generative.gguf").string() +
                            ", embeddings: true, pooling: model, concurrency: 2, threads: 1, n_ctx: 1024}";
    auto out = run("no_head", llm, "  - {name: rm, type: reward}\n", {{{"instruction", "Q"}, {"output", "A"}}});
    EXPECT_TRUE(out.empty());
    auto rej = rejects();
    ASSERT_EQ(rej.size(), 1u);
    EXPECT_NE(rej[0]["_reason"].get<std::string>().find("needs a reward or reranking model with a classification head"),
              std::string::npos)
        << rej[0]["_reason"];
}

// ---- preference_pairs --------------------------------------------------------------------------

TEST_F(Reward, PreferencePairsChooseTheBestAgainstTheWorstAboveTheMargin) {
    auto out = run("pairs_list", "", "  - {name: pairs, type: preference_pairs, config: {margin: 0.25}}\n",
                   {{{"id", 1}, {"responses", {"meh", "great", "okay"}}, {"rewards", {0.2, 0.9, 0.5}}},
                    {{"id", 2}, {"responses", {"a", "b"}}, {"rewards", {0.4, 0.6}}},
                    {{"id", 3}, {"responses", {"a", "b"}}, {"rewards", {0.5, 0.5}}},
                    {{"id", 4}, {"responses", {"only"}}, {"rewards", {0.9}}},
                    {{"id", 5}, {"responses", {"a", "b"}}, {"rewards", {0.5}}},
                    {{"id", 6}, {"responses", {"worse", "better"}}, {"rewards", {-2.5, 1.0}}}});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0]["chosen"], "great");
    EXPECT_EQ(out[0]["rejected"], "meh");
    EXPECT_EQ(out[0]["chosen_score"], 0.9);
    EXPECT_EQ(out[0]["rejected_score"], 0.2);
    EXPECT_EQ(out[1]["id"], 6);  // raw reward-model logits can be negative
    EXPECT_EQ(out[1]["chosen"], "better");
    auto rej = rejects();
    ASSERT_EQ(rej.size(), 4u);
    EXPECT_EQ(rej[0]["_reason"], "preference_pairs: score gap 0.2 <= margin 0.25 (0.6 vs 0.4)");
    EXPECT_EQ(rej[1]["_reason"], "preference_pairs: tie, every response scores 0.5");
    EXPECT_EQ(rej[2]["_reason"], "preference_pairs: 1 response, a pair needs two");
    EXPECT_EQ(rej[3]["_reason"], "preference_pairs: 2 responses but 1 scores ('responses', 'rewards')");
}

TEST_F(Reward, PreferencePairsFromTwoColumnsAndFromGroupsOfRows) {
    auto two = run("pairs_columns", "",
                   "  - {name: pairs, type: preference_pairs, config: {responses: [response_a, response_b], "
                   "scores: [score_a, score_b], chosen_score_column: ''}}\n",
                   {{{"response_a", "A"}, {"response_b", "B"}, {"score_a", 0.1}, {"score_b", 0.7}}});
    ASSERT_EQ(two.size(), 1u);
    EXPECT_EQ(two[0]["chosen"], "B");
    EXPECT_EQ(two[0]["rejected"], "A");
    EXPECT_FALSE(two[0].contains("chosen_score"));

    // One row per sample (llm_generate with n > 1), groups interleaved: a group becomes one row,
    // in the order of its first row.
    auto grouped =
        run("pairs_groups", "", "  - {name: pairs, type: preference_pairs, config: {group_by: instruction}}\n",
            {{{"instruction", "q1"}, {"output", "q1-a"}, {"reward", 0.3}, {"sample", 0}},
             {{"instruction", "q2"}, {"output", "q2-a"}, {"reward", 0.8}, {"sample", 0}},
             {{"instruction", "q1"}, {"output", "q1-b"}, {"reward", 0.6}, {"sample", 1}},
             {{"instruction", "q3"}, {"output", "q3-a"}, {"reward", 0.5}, {"sample", 0}},
             {{"instruction", "q2"}, {"output", "q2-b"}, {"reward", 0.1}, {"sample", 1}},
             {{"instruction", "q1"}, {"output", "q1-c"}, {"reward", 0.9}, {"sample", 2}},
             {{"instruction", "q2"}, {"output", "q2-c"}}});
    ASSERT_EQ(grouped.size(), 2u);
    EXPECT_EQ(grouped[0], (Json{{"instruction", "q1"},
                                {"sample", 0},
                                {"n_responses", 3},
                                {"chosen", "q1-c"},
                                {"rejected", "q1-a"},
                                {"chosen_score", 0.9},
                                {"rejected_score", 0.3}}));
    EXPECT_EQ(grouped[1]["chosen"], "q2-a");
    EXPECT_EQ(grouped[1]["rejected"], "q2-b");
    auto rej = rejects();
    ASSERT_EQ(rej.size(), 2u);
    EXPECT_EQ(rej[0]["_reason"], "preference_pairs: the score column 'reward' is missing or not a number");
    EXPECT_EQ(rej[1]["_reason"], "preference_pairs: 1 response, a pair needs two");
    EXPECT_EQ(rej[1]["instruction"], "q3");
}

// ---- over HTTP ---------------------------------------------------------------------------------

namespace {

using synthforge::testing::FixtureOptions;
using synthforge::testing::FixtureServerProcess;

Json score_rule(const std::string& match, double score) {
    return {{"match", match}, {"reply", Json::array({std::to_string(score)})}};
}

}  // namespace

TEST_F(Reward, HttpScoresOrderAPlantedPairAndThePairBuilderChoosesTheGoodOne) {
    FixtureServerProcess server(
        {.script = Json::array({score_rule("GOOD-ANSWER", 0.92), score_rule("BAD-ANSWER", 0.11)})});
    const std::string llm = "{backend: openai, base_url: " + server.base_url() + ", model: rm, max_attempts: 1}";
    const std::vector<Json> rows = {
        {{"instruction", "Explain why the sky is blue."},
         {"responses", {"BAD-ANSWER: because it reflects the sea.", "GOOD-ANSWER: Rayleigh scattering of sunlight."}}},
        {{"instruction", "Name a prime."}, {"responses", {"GOOD-ANSWER: 7", "BAD-ANSWER: 9"}}}};
    const std::string blocks =
        "  - {name: rm, type: reward, config: {response: responses, output: rewards}}\n"
        "  - {name: pairs, type: preference_pairs, config: {margin: 0.5}}\n";
    auto out = run("http_rerank", llm, blocks, rows);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0]["rewards"], Json::array({0.11, 0.92}));
    EXPECT_EQ(out[0]["chosen"], "GOOD-ANSWER: Rayleigh scattering of sunlight.");
    EXPECT_EQ(out[0]["rejected"], "BAD-ANSWER: because it reflects the sea.");
    EXPECT_EQ(out[1]["chosen"], "GOOD-ANSWER: 7");
    EXPECT_EQ(out[1]["chosen_score"], 0.92);

    // llama-server's rerank API: the instruction is the query, the response the one document.
    auto log = server.log();
    ASSERT_EQ(log.size(), 4u);
    for (const auto& e : log) {
        EXPECT_EQ(e["path"], "/v1/rerank");
        EXPECT_EQ(e["body"]["model"], "rm");
        EXPECT_EQ(e["body"]["documents"].size(), 1u);
    }
    bool seen = false;
    for (const auto& e : log)
        seen |= e["body"]["query"] == "Name a prime." && e["body"]["documents"][0] == "BAD-ANSWER: 9";
    EXPECT_TRUE(seen);
}

TEST_F(Reward, HttpApiKindsPostTheirOwnBodiesAndReadTheirOwnAnswers) {
    FixtureServerProcess server({.script = Json::array({score_rule("GOOD", 0.8), score_rule("BAD", 0.2)})});
    const std::string llm = "{backend: openai, base_url: " + server.base_url() + ", model: rm, max_attempts: 1}";
    const std::vector<Json> rows = {{{"instruction", "Q"}, {"output", "GOOD"}},
                                    {{"instruction", "Q"}, {"output", "BAD"}}};
    struct Kind {
        std::string api, path;
    };
    const std::vector<Kind> kinds = {
        {"{kind: score}", "/v1/score"},
        {"{kind: classify}", "/classify"},
        {"{kind: generic, path: /custom/reward, body: {inputs: {question: '{{query}}', answer: 'A: {{document}}'}, "
         "model: '{{model}}'}, score: /outputs/0/reward}",
         "/custom/reward"},
    };
    size_t seen = 0;
    for (size_t k = 0; k < kinds.size(); ++k) {
        SCOPED_TRACE(kinds[k].api);
        auto out = run("http_kind" + std::to_string(k), llm,
                       "  - {name: rm, type: reward, config: {api: " + kinds[k].api + "}}\n", rows);
        ASSERT_EQ(out.size(), 2u);
        EXPECT_EQ(out[0]["reward"], 0.8);
        EXPECT_EQ(out[1]["reward"], 0.2);
        auto log = server.log();
        ASSERT_EQ(log.size(), seen + 2);
        const Json& e = log[seen];
        seen = log.size();
        EXPECT_EQ(e["path"], kinds[k].path);
        if (k == 0) EXPECT_EQ(e["body"]["text_1"], "Q");
        if (k == 1) {
            EXPECT_EQ(e["body"]["messages"][0], (Json{{"role", "user"}, {"content", "Q"}}));
            EXPECT_EQ(e["body"]["messages"][1]["role"], "assistant");
        }
        if (k == 2) {
            EXPECT_EQ(e["body"]["model"], "rm");
            EXPECT_EQ(e["body"]["inputs"]["question"], "Q");
            EXPECT_TRUE(e["body"]["inputs"]["answer"] == "A: GOOD" || e["body"]["inputs"]["answer"] == "A: BAD");
        }
    }
}

TEST_F(Reward, HttpFailuresAreRetriedAndAWrongScorePointerIsRejectedAtOnce) {
    FixtureServerProcess server({.faults = {{"fail_first_n", 1}}, .script = Json::array({score_rule("GOOD", 0.8)})});
    const std::string llm = "{backend: openai, base_url: " + server.base_url() + ", model: rm, max_attempts: 3}";
    auto out = run("http_retry", llm, "  - {name: rm, type: reward, config: {min_score: 0.6}}\n",
                   {{{"instruction", "Q"}, {"output", "GOOD"}}, {{"instruction", "Q"}, {"output", "meh"}}});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]["reward"], 0.8);
    auto rej = rejects();
    ASSERT_EQ(rej.size(), 1u);
    EXPECT_EQ(rej[0]["_reason"], "reward 0.5 < min_score 0.6");  // no rule: the fixture's 0.5
    EXPECT_EQ(server.log().size(), 4u);                          // a 500, then the answer, per pair

    auto none = run("http_pointer", llm,
                    "  - {name: rm, type: reward, config: {api: {kind: rerank, score: /results/0/nope}}}\n",
                    {{{"instruction", "Q2"}, {"output", "GOOD again"}}});
    EXPECT_TRUE(none.empty());
    rej = rejects();
    ASSERT_EQ(rej.size(), 1u);
    EXPECT_NE(rej[0]["_reason"].get<std::string>().find("no number at /results/0/nope"), std::string::npos)
        << rej[0]["_reason"];
    EXPECT_EQ(server.log().size(), 6u);  // the injected 500, then one answer: no retry of a wrong pointer
}
