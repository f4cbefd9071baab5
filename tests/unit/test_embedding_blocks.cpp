// `embed` on a tiny in-process model and `dedup_embedding` on vectors whose cosines are known.
// The tiny model's vectors mean nothing semantically; tests on it check mechanics (shape,
// normalisation, identical texts, caching), while the dedup decisions are checked on
// hand-made vectors.
#include "llm/tiny_model.h"
#include "synthforge/engine/executor.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>

namespace fs = std::filesystem;
using namespace synthforge;

namespace {

std::unique_ptr<Block> dedup(Json config = Json::object()) {
    return BlockRegistry::global().find("dedup_embedding")->make("semantic", config, BlockEnv{});
}

struct Fed {
    std::vector<Record> kept, rejected;
};

Fed feed(Block& b, std::vector<Record> rows) {
    Emitter out(b.name());
    b.process(std::move(rows), out);
    return {std::move(out.rows()), std::move(out.rejected())};
}

Record row(int id, std::vector<double> v) {
    return {{"id", id}, {"embedding", v}};
}

TEST(DedupEmbedding, RejectsRowsAtOrAboveTheCosineThresholdNamingTheKeptRow) {
    auto b = dedup({{"threshold", 0.9}});
    // cos(r1, r2) = 0.99 / sqrt(0.99^2 + 0.1^2) ~ 0.9949; r3 is orthogonal to r1; r4 is r1
    // scaled (cosine 1: length does not matter); r5 has cos 0.8 with r1 and 0.6 with r3.
    auto r = feed(
        *b, {row(1, {1, 0, 0}), row(2, {0.99, 0.1, 0}), row(3, {0, 1, 0}), row(4, {3, 0, 0}), row(5, {0.8, 0.6, 0})});
    ASSERT_EQ(r.kept.size(), 3u);
    EXPECT_EQ(r.kept[0]["id"], 1);
    EXPECT_EQ(r.kept[1]["id"], 3);
    EXPECT_EQ(r.kept[2]["id"], 5);
    ASSERT_EQ(r.rejected.size(), 2u);
    EXPECT_EQ(r.rejected[0].at(kReasonColumn), "semantic near-duplicate of row 1 on embedding: cosine 0.9949 (>= 0.9)");
    EXPECT_EQ(r.rejected[1].at(kReasonColumn), "semantic near-duplicate of row 1 on embedding: cosine 1.0000 (>= 0.9)");
}

TEST(DedupEmbedding, RowsWithoutAUsableVectorAreRejectedWithTheReason) {
    auto b = dedup();
    auto r = feed(*b, {row(1, {1, 0}),
                       {{"id", 2}},
                       row(3, {1, 0, 0}),
                       {{"id", 4}, {"embedding", "x"}},
                       row(5, {0, 0}),
                       {{"id", 6}, {"embedding", {1, "a"}}}});
    ASSERT_EQ(r.kept.size(), 1u);
    ASSERT_EQ(r.rejected.size(), 5u);
    EXPECT_NE(r.rejected[0].at(kReasonColumn).get<std::string>().find("missing column 'embedding'"), std::string::npos);
    EXPECT_EQ(r.rejected[1].at(kReasonColumn), "column 'embedding' has 3 dimensions, the rows before it 2");
    EXPECT_EQ(r.rejected[2].at(kReasonColumn), "column 'embedding' is not a non-empty array of numbers");
    EXPECT_EQ(r.rejected[3].at(kReasonColumn), "column 'embedding' is a zero or non-finite vector");
    EXPECT_EQ(r.rejected[4].at(kReasonColumn), "column 'embedding' holds a string among its numbers");
}

TEST(DedupEmbedding, StateDeltasRestoreTheSameDecisions) {
    std::vector<Record> rows;
    for (int i = 0; i < 60; ++i) {
        // 20 orthogonal directions, each three times; the copies lean slightly off.
        std::vector<double> v(20, 0.0);
        v[i % 20] = 1;
        v[(i + 1) % 20] = 0.001 * (i / 20);
        rows.push_back(row(i, v));
    }
    const Fed whole = feed(*dedup(), rows);
    EXPECT_EQ(whole.kept.size(), 20u);

    auto first = dedup();
    std::vector<std::string> deltas;
    feed(*first, {rows.begin(), rows.begin() + 25});
    deltas.push_back(first->take_state_delta());
    EXPECT_EQ(first->take_state_delta(), "");
    auto resumed = dedup();
    resumed->restore_state(deltas);
    const Fed rest = feed(*resumed, {rows.begin() + 25, rows.end()});
    EXPECT_EQ(rest.rejected.size(), 40u - 5u);  // rows 25..59 hold 35 copies
    for (size_t i = 0; i < rest.rejected.size(); ++i)
        EXPECT_EQ(rest.rejected[i].at(kReasonColumn),
                  whole.rejected[whole.rejected.size() - rest.rejected.size() + i].at(kReasonColumn));
    EXPECT_THROW(dedup()->restore_state({deltas[0].substr(0, deltas[0].size() - 3)}), RunError);
}

class EmbedBlock : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        // ctest runs every test in its own process, in parallel: one folder per process.
        dir_ = fs::path(::testing::TempDir()) / ("embed_block_" + std::to_string(getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        llm::write_tiny_model(dir_ / "tiny.gguf", llm::TinyModelOptions{});
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    static inline fs::path dir_;
};

TEST_F(EmbedBlock, EmbedsNormalisedVectorsAndDedupDropsIdenticalTexts) {
    std::ofstream(dir_ / "flow.yaml") << "version: 1\nblocks:\n"
                                         "  - name: vec\n    type: embed\n    config: {llm: {backend: llama, model: "
                                      << (dir_ / "tiny.gguf").string()
                                      << ", embeddings: true, concurrency: 2, threads: 1, n_ctx: 512}}\n"
                                         "  - {name: semantic, type: dedup_embedding, config: {threshold: 0.999}}\n";
    std::ofstream(dir_ / "in.jsonl") << R"({"text": "The cat sat on the mat."})"
                                        "\n"
                                     << R"({"text": "Rivers run to the sea."})"
                                        "\n"
                                     << R"({"text": "The cat sat on the mat."})"
                                        "\n"
                                     << R"({"text": ""})"
                                        "\n";
    RunOptions o;
    o.inputs = {dir_ / "in.jsonl"};
    o.run_dir = dir_ / "run";
    o.output = dir_ / "out.jsonl";
    run_flow(load_flow(dir_ / "flow.yaml"), o);
    std::vector<Json> out, rej;
    std::ifstream in(dir_ / "out.jsonl");
    for (std::string l; std::getline(in, l);) out.push_back(Json::parse(l));
    std::ifstream rin(dir_ / "run" / "rejects.jsonl");
    for (std::string l; std::getline(rin, l);) rej.push_back(Json::parse(l));
    ASSERT_EQ(out.size(), 2u);
    for (const auto& r : out) {
        ASSERT_EQ(r["embedding"].size(), 64u);
        double norm = 0;
        for (const auto& x : r["embedding"]) norm += x.get<double>() * x.get<double>();
        EXPECT_NEAR(norm, 1.0, 1e-4);
    }
    ASSERT_EQ(rej.size(), 2u);
    EXPECT_EQ(rej[0]["_reason"], "embed: the text is empty");
    EXPECT_EQ(rej[1]["_rejected_by"], "semantic");
    EXPECT_NE(rej[1]["_reason"].get<std::string>().find("of row 1"), std::string::npos) << rej[1].dump();
}

TEST_F(EmbedBlock, AGenerationModelIsRefusedAtLoad) {
    std::ofstream(dir_ / "bad.yaml") << "version: 1\nllm: {backend: llama, model: m.gguf}\nblocks:\n"
                                        "  - {name: vec, type: embed, config: {}}\n";
    std::ofstream(dir_ / "one.jsonl") << R"({"text": "x"})"
                                         "\n";
    RunOptions o;
    o.inputs = {dir_ / "one.jsonl"};
    o.run_dir = dir_ / "bad_run";
    o.output = dir_ / "bad.jsonl";
    try {
        run_flow(load_flow(dir_ / "bad.yaml"), o);
        FAIL() << "ran";
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("embeddings: true"), std::string::npos) << e.what();
    }
}

}  // namespace
