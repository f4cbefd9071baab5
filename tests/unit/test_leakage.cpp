// Leakage checks against private/seed records: the longest shared token run (suffix
// automaton, checked against brute force), and the leakage block's figures, bounds and
// canaries on planted copies.
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"
#include "synthforge/text/common_run.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace fs = std::filesystem;
using namespace synthforge;
using text::CommonRunIndex;

namespace {

size_t brute_longest(const std::vector<std::vector<uint32_t>>& items, const std::vector<uint32_t>& q) {
    size_t best = 0;
    for (const auto& it : items)
        for (size_t i = 0; i < q.size(); ++i)
            for (size_t j = 0; j < it.size(); ++j) {
                size_t k = 0;
                while (i + k < q.size() && j + k < it.size() && q[i + k] == it[j + k]) ++k;
                best = std::max(best, k);
            }
    return best;
}

TEST(CommonRun, FindsTheLongestSharedRunAndItsItem) {
    CommonRunIndex idx;
    idx.add({1, 2, 3, 4, 5});
    idx.add({6, 7, 8});
    auto m = idx.longest({9, 2, 3, 4, 10});
    EXPECT_EQ(m.length, 3u);
    EXPECT_EQ(m.item, 0u);
    m = idx.longest({0, 6, 7, 8, 0});
    EXPECT_EQ(m.length, 3u);
    EXPECT_EQ(m.item, 1u);
    // A run may not continue from one item into the next: 5 then 6 is not shared.
    EXPECT_EQ(idx.longest({4, 5, 6, 7}).length, 2u);
    EXPECT_EQ(idx.longest({42, 43}).length, 0u);
    EXPECT_EQ(idx.longest({42}).item, CommonRunIndex::npos);
}

TEST(CommonRun, AgreesWithBruteForceOnRandomSequences) {
    std::mt19937_64 rng(3);
    for (int round = 0; round < 50; ++round) {
        CommonRunIndex idx;
        std::vector<std::vector<uint32_t>> items;
        for (int i = 0; i < 5; ++i) {
            std::vector<uint32_t> it(rng() % 30);
            for (auto& t : it) t = static_cast<uint32_t>(rng() % 4);  // few symbols: many repeats
            items.push_back(it);
            idx.add(it);
        }
        std::vector<uint32_t> q(rng() % 40);
        for (auto& t : q) t = static_cast<uint32_t>(rng() % 4);
        const auto m = idx.longest(q);
        ASSERT_EQ(m.length, brute_longest(items, q)) << "round " << round;
        if (m.length > 0) {
            ASSERT_LT(m.item, items.size());
            EXPECT_EQ(brute_longest({items[m.item]}, q), m.length) << "the item named does not hold the run";
        }
    }
}

class Leakage : public ::testing::Test {
  protected:
    void SetUp() override {
        // ctest runs every test in its own process, in parallel: one folder per process.
        dir_ = fs::path(::testing::TempDir()) / ("leakage_block_" + std::to_string(getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        std::ofstream(dir_ / "private.jsonl")
            << R"({"text": "Patient Jane Roe was admitted on the third of May with a fractured left wrist after a cycling accident near the harbour."})"
               "\n"
            << R"({"text": "The quarterly revenue of the northern branch fell by twelve percent because two large clients moved their contracts abroad."})"
               "\n";
        std::ofstream(dir_ / "canaries.txt") << "zq-canary-7781\n";
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    std::unique_ptr<Block> make(Json config) {
        config["reference"] = "private.jsonl";
        BlockEnv env;
        env.flow_dir = dir_;
        return BlockRegistry::global().find("leakage")->make("leak", config, env);
    }
    fs::path dir_;
};

struct Fed {
    std::vector<Record> kept, rejected;
};
Fed feed(Block& b, std::vector<Record> rows) {
    Emitter out(b.name());
    b.process(std::move(rows), out);
    return {std::move(out.rows()), std::move(out.rejected())};
}

const char* kCopy =
    "Patient Jane Roe was admitted on the third of May with a fractured left wrist after a cycling accident near the "
    "harbour.";
const char* kLifted =
    "Our summary: the quarterly revenue of the northern branch fell by twelve percent, which worried the board.";
const char* kFresh = "Bake the bread at two hundred degrees until the crust sounds hollow when tapped.";

TEST_F(Leakage, MeasuresCopiesLiftedSentencesAndFreshText) {
    auto b = make(Json::object());
    auto r = feed(*b, {{{"output", kCopy}}, {{"output", kLifted}}, {{"output", kFresh}}});
    ASSERT_EQ(r.kept.size(), 3u);  // no bounds: measure only
    const Json& copy = r.kept[0]["leakage"];
    EXPECT_DOUBLE_EQ(copy["rougel"].get<double>(), 1.0);
    EXPECT_EQ(copy["rougel_row"], 1);
    EXPECT_EQ(copy["common_run"], 22);  // every token of the record
    EXPECT_DOUBLE_EQ(copy["jaccard"].get<double>(), 1.0);
    EXPECT_EQ(copy["jaccard_row"], 1);
    const Json& lifted = r.kept[1]["leakage"];
    EXPECT_EQ(lifted["common_run"], 11);  // "the quarterly revenue ... twelve percent"
    EXPECT_EQ(lifted["common_run_row"], 2);
    EXPECT_EQ(lifted["rougel_row"], 2);
    const Json& fresh = r.kept[2]["leakage"];
    EXPECT_LE(fresh["common_run"].get<int>(), 2);
    EXPECT_LT(fresh["rougel"].get<double>(), 0.2);
    EXPECT_TRUE(fresh["jaccard_row"].is_null());
}

TEST_F(Leakage, BoundsAndCanariesRejectWithReasons) {
    auto b = make({{"max_rougel", 0.8}, {"max_common_run", 8}, {"canaries", "canaries.txt"}});
    auto r = feed(*b, {{{"output", kCopy}},
                       {{"output", kLifted}},
                       {{"output", kFresh}},
                       {{"output", std::string("Notes mention zq-canary-7781 in passing.")}}});
    ASSERT_EQ(r.kept.size(), 1u);
    EXPECT_EQ(r.kept[0]["output"], kFresh);
    ASSERT_EQ(r.rejected.size(), 3u);
    EXPECT_EQ(r.rejected[0].at(kReasonColumn), "ROUGE-L F1 1.000 with reference record 1 (> 0.8)");
    EXPECT_EQ(r.rejected[1].at(kReasonColumn), "shares a run of 11 tokens with reference record 2 (>= 8)");
    EXPECT_EQ(r.rejected[2].at(kReasonColumn), "canary leaked: zq-canary-7781");
    EXPECT_EQ(b->metrics()["canaries_leaked"], 1);
    EXPECT_EQ(b->metrics()["reference_records"], 2);
}

TEST_F(Leakage, ConfigErrorsNameTheProblem) {
    BlockEnv env;
    env.flow_dir = dir_;
    try {
        BlockRegistry::global().find("leakage")->make("leak", {{"reference", "missing.jsonl"}}, env);
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("config.reference: no such file"), std::string::npos) << e.what();
    }
}

}  // namespace
