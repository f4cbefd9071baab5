// The perplexity block on tiny in-process models. A model whose final norm is 0 gives every
// token the same logit, so its perplexity on any text is exactly the vocabulary size: a known
// answer. A random-weight model gives arbitrary values; with it the tests check the bounds,
// the columns, rejects and the cache, never what the numbers "mean".
#include "llm/tiny_model.h"
#include "synthforge/engine/executor.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>
#include <llama.h>
#include <unistd.h>

#include <algorithm>
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

class Perplexity : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        // ctest runs every test in its own process, in parallel: one folder per process.
        dir_ = fs::path(::testing::TempDir()) / ("perplexity_block_" + std::to_string(getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        llm::TinyModelOptions uniform;
        uniform.output_norm = 0;
        llm::write_tiny_model(dir_ / "uniform.gguf", uniform);
        llm::write_tiny_model(dir_ / "random.gguf", llm::TinyModelOptions{});
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    // One perplexity block (config in flow YAML) over `rows`; returns the output rows.
    std::vector<Json> run(const std::string& name, const std::string& model, const std::string& config,
                          const std::vector<Json>& rows) {
        fs::path d = dir_ / name;
        fs::create_directories(d);
        std::ofstream(d / "flow.yaml") << "version: 1\nllm: {backend: llama, model: " << (dir_ / model).string()
                                       << ", concurrency: 2, threads: 1, n_ctx: 1024}\nblocks:\n"
                                          "  - name: ppl\n    type: perplexity\n    config: "
                                       << config << "\n";
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
    Json metrics() const { return Json::parse(std::ifstream(last_ / "run" / "metadata.json"))["blocks"][0]["llm"]; }

    static inline fs::path dir_;
    fs::path last_;
};

int64_t vocab_size(const fs::path& model) {
    llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    llama_model* m = llama_model_load_from_file(model.c_str(), mp);
    const int64_t n = llama_vocab_n_tokens(llama_model_get_vocab(m));
    llama_model_free(m);
    return n;
}

TEST_F(Perplexity, AUniformModelScoresEveryTextAtTheVocabularySize) {
    const double v = static_cast<double>(vocab_size(dir_ / "uniform.gguf"));
    auto out = run("uniform", "uniform.gguf", "{text: output, details_column: ppl_details}",
                   {{{"output", "The cat sat on the mat."}},
                    {{"output", "Zebras quietly compute eigenvalues; 42 purple."}},
                    {{"output", "a a a a a a a a a a a a"}}});
    ASSERT_EQ(out.size(), 3u);
    for (const auto& r : out) {
        EXPECT_NEAR(r["perplexity"].get<double>(), v, 1e-3 * v) << r.dump();
        EXPECT_NEAR(r["ppl_details"]["mean_logprob"].get<double>(), -std::log(v), 1e-4);
        EXPECT_NEAR(r["ppl_details"]["min_logprob"].get<double>(), -std::log(v), 1e-4);
        EXPECT_GT(r["ppl_details"]["tokens"].get<int64_t>(), 1);
    }
}

TEST_F(Perplexity, BoundsRejectRowsWithTheirPerplexityAndReason) {
    std::vector<Json> rows;
    for (const char* t : {"Water boils at one hundred degrees Celsius at sea level.", "qz xv kk pp zz ll mm",
                          "The the the the the the the the.", "Paris is the capital of France.",
                          "Photosynthesis turns light into chemical energy in plants."})
        rows.push_back({{"output", t}});
    auto all = run("all", "random.gguf", "{}", rows);
    ASSERT_EQ(all.size(), rows.size());
    std::vector<double> ppl;
    for (const auto& r : all) ppl.push_back(r["perplexity"].get<double>());
    std::vector<double> sorted = ppl;
    std::sort(sorted.begin(), sorted.end());
    ASSERT_LT(sorted.front(), sorted.back());
    // Bounds between the observed values: exactly the rows outside them go.
    const double lo = (sorted[0] + sorted[1]) / 2, hi = (sorted[3] + sorted[4]) / 2;
    auto kept =
        run("bounded", "random.gguf", "{min: " + std::to_string(lo) + ", max: " + std::to_string(hi) + "}", rows);
    EXPECT_EQ(kept.size(), 3u);
    for (const auto& r : kept) {
        EXPECT_GE(r["perplexity"].get<double>(), lo);
        EXPECT_LE(r["perplexity"].get<double>(), hi);
    }
    auto rej = rejects();
    ASSERT_EQ(rej.size(), 2u);
    for (const auto& r : rej) {
        const std::string reason = r["_reason"];
        const double p = r["perplexity"].get<double>();
        EXPECT_EQ(reason.rfind("perplexity ", 0), 0u) << reason;
        EXPECT_NE(reason.find(p > hi ? "> max" : "< min"), std::string::npos) << reason;
        EXPECT_TRUE(p > hi || p < lo) << p;
        EXPECT_EQ(r["_rejected_by"], "ppl");
    }
    // The same texts score the same in a second run: the scores are deterministic.
    for (size_t i = 0; i < kept.size(); ++i)
        EXPECT_NE(std::find(ppl.begin(), ppl.end(), kept[i]["perplexity"].get<double>()), ppl.end());
}

TEST_F(Perplexity, ContextConditionsTheTextAndEmptyTextsAreRejected) {
    std::vector<Json> rows = {{{"instruction", "Name a colour."}, {"output", "Blue."}},
                              {{"instruction", "Say nothing."}, {"output", ""}}};
    auto with = run("context", "random.gguf", "{context: instruction, details_column: d}", rows);
    ASSERT_EQ(with.size(), 1u);
    auto rej = rejects();
    ASSERT_EQ(rej.size(), 1u);
    EXPECT_NE(rej[0]["_reason"].get<std::string>().find("empty"), std::string::npos);
    auto without = run("no_context", "random.gguf", "{details_column: d}", rows);
    ASSERT_EQ(without.size(), 1u);
    // Scored after a context, the first token has a prediction too.
    EXPECT_EQ(with[0]["d"]["tokens"].get<int64_t>(), without[0]["d"]["tokens"].get<int64_t>() + 1);
    EXPECT_NE(with[0]["perplexity"], without[0]["perplexity"]);
}

TEST_F(Perplexity, ScoringTheSameTextTwiceHitsTheCacheWhateverTheSeed) {
    // Two blocks score the same column; each block derives its own seeds, but scoring requests
    // carry fixed sampling, so the second block's requests are the first's, answered from the cache.
    fs::path d = dir_ / "cache";
    fs::create_directories(d);
    std::ofstream(d / "flow.yaml") << "version: 1\nllm: {backend: llama, model: " << (dir_ / "random.gguf").string()
                                   << ", concurrency: 2, threads: 1, n_ctx: 1024}\nblocks:\n"
                                      "  - {name: first, type: perplexity, config: {output: p1}}\n"
                                      "  - {name: second, type: perplexity, config: {output: p2}}\n";
    std::ofstream(d / "in.jsonl") << R"({"output": "one two three four"})"
                                     "\n"
                                     R"({"output": "five six seven"})"
                                     "\n";
    RunOptions o;
    o.inputs = {d / "in.jsonl"};
    o.run_dir = d / "run";
    o.output = d / "out.jsonl";
    run_flow(load_flow(d / "flow.yaml"), o);
    auto out = read_jsonl(d / "out.jsonl");
    ASSERT_EQ(out.size(), 2u);
    for (const auto& r : out) EXPECT_EQ(r["p1"], r["p2"]);
    Json blocks = Json::parse(std::ifstream(d / "run" / "metadata.json"))["blocks"];
    EXPECT_EQ(blocks[0]["llm"]["cached"], 0);
    EXPECT_EQ(blocks[1]["llm"]["cached"], 2);
}

TEST_F(Perplexity, TheOpenaiBackendIsRefusedAtLoadWithTheReason) {
    fs::path d = dir_ / "openai";
    fs::create_directories(d);
    std::ofstream(d / "flow.yaml") << "version: 1\nllm: {backend: openai, base_url: http://127.0.0.1:9/v1, model: m}\n"
                                      "blocks:\n  - name: ppl\n    type: perplexity\n    config: {}\n";
    std::ofstream(d / "in.jsonl") << R"({"output": "x"})"
                                     "\n";
    RunOptions o;
    o.inputs = {d / "in.jsonl"};
    o.run_dir = d / "run";
    o.output = d / "out.jsonl";
    try {
        run_flow(load_flow(d / "flow.yaml"), o);
        FAIL() << "ran";
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("backend: llama"), std::string::npos) << e.what();
    }
}

}  // namespace
