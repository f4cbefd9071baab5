// Unit tests of the diversity_sample block: every row is kept or rejected with a reason, the
// three strategies on planted topics (balanced shares from a 90/5/5 input, one row per topic
// before a second, uniform random), determinism per seed and round, the field as a column or
// a template, cluster_column, and the topic metrics.

#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace synthforge {
namespace {

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

struct Output {
    std::vector<Record> kept;
    std::vector<Record> rejected;
    Json metrics;
};

std::unique_ptr<Block> make(const Json& config, BlockEnv env = {}) {
    const BlockType* t = BlockRegistry::global().find("diversity_sample");
    if (!t) throw std::runtime_error("diversity_sample is not registered");
    return t->make("pick", config, env);
}

Output finish(Block& block, const std::vector<Record>& rows) {
    VectorSource source(rows);
    Emitter out(block.name());
    block.finish(source, out);
    return {std::move(out.rows()), std::move(out.rejected()), block.metrics()};
}

Output run(const Json& config, const std::vector<Record>& rows, BlockEnv env = {}) {
    auto block = make(config, env);
    EXPECT_TRUE(block->needs_all_rows());
    return finish(*block, rows);
}

std::string config_error(const Json& config) {
    try {
        make(config);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

// Rows on planted topics: eight words from the topic's vocabulary and four common words.
const std::vector<std::vector<std::string>> kTopics = {
    {"pasta", "sauce", "garlic", "onion", "simmer", "boil", "oven", "bake", "flour", "butter", "salt", "pepper",
     "recipe", "kitchen", "chop", "stir"},
    {"star", "galaxy", "planet", "orbit", "telescope", "nebula", "comet", "asteroid", "moon", "solar", "lunar",
     "eclipse", "cosmic", "gravity", "supernova", "quasar"},
    {"goal", "striker", "midfielder", "defender", "goalkeeper", "penalty", "referee", "offside", "tackle", "corner",
     "league", "match", "stadium", "coach", "transfer", "header"},
};
const std::vector<std::string> kCommon = {"the", "a", "and", "of", "to", "in", "is", "for"};

std::string topic_text(size_t topic, std::mt19937_64& gen) {
    std::string s;
    auto word = [&](const std::vector<std::string>& from) {
        if (!s.empty()) s += ' ';
        s += from[gen() % from.size()];
    };
    for (int i = 0; i < 8; ++i) word(kTopics[topic]);
    for (int i = 0; i < 4; ++i) word(kCommon);
    return s;
}

// counts[t] rows of topic t, spread evenly through the input; each row has id and topic.
std::vector<Record> topic_rows(const std::vector<size_t>& counts, uint64_t seed = 1) {
    std::mt19937_64 gen(seed);
    size_t total = 0;
    for (size_t c : counts) total += c;
    std::vector<Record> rows;
    std::vector<size_t> done(counts.size(), 0);
    for (size_t i = 0; i < total; ++i) {
        // The topic furthest behind its share goes next.
        size_t t = 0;
        double lag = -1;
        for (size_t j = 0; j < counts.size(); ++j) {
            const double l = static_cast<double>(counts[j]) * (i + 1) / total - static_cast<double>(done[j]);
            if (done[j] < counts[j] && l > lag) {
                lag = l;
                t = j;
            }
        }
        ++done[t];
        rows.push_back({{"id", i}, {"topic", t}, {"text", topic_text(t, gen)}});
    }
    return rows;
}

std::vector<int> ids(const std::vector<Record>& rows) {
    std::vector<int> out;
    for (const auto& r : rows) out.push_back(r.at("id").get<int>());
    return out;
}

std::map<int, size_t> topic_counts(const std::vector<Record>& rows) {
    std::map<int, size_t> out;
    for (const auto& r : rows) ++out[r.at("topic").get<int>()];
    return out;
}

// Every input row comes out exactly once, kept or rejected with a reason; kept rows in
// input order.
void expect_partition(const Output& out, size_t n) {
    std::vector<int> all = ids(out.kept);
    EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
    for (const auto& r : out.rejected) {
        ASSERT_TRUE(r.contains(kReasonColumn)) << r.dump();
        EXPECT_FALSE(r.at(kReasonColumn).get<std::string>().empty());
        if (r.contains("id")) all.push_back(r.at("id").get<int>());
    }
    std::sort(all.begin(), all.end());
    std::vector<int> expected(n);
    for (size_t i = 0; i < n; ++i) expected[i] = static_cast<int>(i);
    EXPECT_EQ(all, expected);
}

// ---------------------------------------------------------------------------------------------

TEST(DiversitySample, ClusterBalancedEvensOutA90_5_5Input) {
    const auto rows = topic_rows({900, 50, 50});
    for (uint64_t seed : {1, 2, 3}) {
        SCOPED_TRACE(seed);
        const Output out = run({{"k", 60}, {"field", "text"}, {"clusters", 3}, {"seed", seed}}, rows);
        ASSERT_EQ(out.kept.size(), 60u);
        expect_partition(out, rows.size());
        EXPECT_EQ(topic_counts(out.kept), (std::map<int, size_t>{{0, 20}, {1, 20}, {2, 20}}));
        // The report: three clusters (the topics), entropy from 0.569 bits up to log2 3.
        const Json& m = out.metrics;
        ASSERT_TRUE(m.is_object());
        EXPECT_EQ(m["strategy"], "cluster_balanced");
        EXPECT_EQ(m["clusters"], 3);
        std::vector<size_t> sizes = m["cluster_sizes"].get<std::vector<size_t>>();
        std::sort(sizes.begin(), sizes.end());
        EXPECT_EQ(sizes, (std::vector<size_t>{50, 50, 900}));
        EXPECT_EQ(m["kept_per_cluster"], Json({20, 20, 20}));
        EXPECT_NEAR(m["entropy_bits_before"].get<double>(), 0.5689955935892812, 1e-12);
        EXPECT_NEAR(m["entropy_bits_after"].get<double>(), std::log2(3.0), 1e-12);
        EXPECT_NEAR(m["entropy_bits_max"].get<double>(), std::log2(3.0), 1e-12);
        EXPECT_EQ(m["kept"], 60);
        EXPECT_EQ(m["rows"], 1000);
        EXPECT_EQ(m["cluster_terms"].size(), 3u);
    }
}

TEST(DiversitySample, ClusterBalancedRejectReasonNamesTheClusterAndItsShare) {
    const auto rows = topic_rows({900, 50, 50});
    const Output out = run({{"k", 60}, {"field", "text"}, {"clusters", 3}, {"seed", 1}}, rows);
    // Row 0 is in cluster 0 (clusters are numbered by first row); topic 0 has 900 rows.
    std::set<std::string> reasons;
    for (const auto& r : out.rejected) reasons.insert(r.at(kReasonColumn).get<std::string>());
    EXPECT_TRUE(
        reasons.count("not selected by diversity_sample (cluster_balanced: cluster 0 had 900 rows for 20 "
                      "places; 3 clusters, k=60 of 1000 rows)"))
        << *reasons.begin();
    EXPECT_EQ(reasons.size(), 3u);  // one reason per cluster
}

TEST(DiversitySample, SmallClustersGiveTheirUnusedPlacesToOthers) {
    // Topics of 40, 40 and 3 rows, k = 20: the small topic keeps its 3 rows and the two
    // others share the 17 places left, 9 and 8 (the place left over goes to a largest).
    const auto rows = topic_rows({40, 40, 3});
    const Output out = run({{"k", 20}, {"field", "text"}, {"clusters", 3}, {"seed", 5}}, rows);
    ASSERT_EQ(out.kept.size(), 20u);
    const auto counts = topic_counts(out.kept);
    EXPECT_EQ(counts.at(2), 3u);
    EXPECT_EQ(counts.at(0) + counts.at(1), 17u);
    EXPECT_LE(std::max(counts.at(0), counts.at(1)) - std::min(counts.at(0), counts.at(1)), 1u);
}

TEST(DiversitySample, MaxDiversityTakesOneOfEachTopicBeforeASecond) {
    const auto rows = topic_rows({900, 50, 50});
    for (uint64_t seed = 0; seed < 5; ++seed) {
        const Output out = run({{"k", 3}, {"field", "text"}, {"strategy", "max_diversity"}, {"seed", seed}}, rows);
        ASSERT_EQ(out.kept.size(), 3u);
        EXPECT_EQ(topic_counts(out.kept).size(), 3u) << "seed " << seed;
        expect_partition(out, rows.size());
        const std::string reason = out.rejected.at(0).at(kReasonColumn).get<std::string>();
        EXPECT_EQ(reason.rfind("not selected by diversity_sample (max_diversity: k=3 of 1000 rows; the nearest kept "
                               "row, row ",
                               0),
                  0u)
            << reason;
        EXPECT_EQ(out.metrics["strategy"], "max_diversity");
    }
    // With k = 30, every topic is well represented.
    const Output more = run({{"k", 30}, {"field", "text"}, {"strategy", "max_diversity"}, {"seed", 1}}, rows);
    for (const auto& [topic, n] : topic_counts(more.kept)) EXPECT_GE(n, 5u) << "topic " << topic;
}

TEST(DiversitySample, NearestKeptRowInTheReasonIsReal) {
    // Two identical texts: when only one is kept, the other names it at similarity 1.
    std::vector<Record> rows = {{{"id", 0}, {"text", "pasta sauce garlic"}},
                                {{"id", 1}, {"text", "star galaxy planet"}},
                                {{"id", 2}, {"text", "pasta sauce garlic"}}};
    const Output out = run({{"k", 2}, {"field", "text"}, {"strategy", "max_diversity"}, {"seed", 3}}, rows);
    ASSERT_EQ(out.kept.size(), 2u);
    ASSERT_EQ(out.rejected.size(), 1u);
    const int dropped = out.rejected[0].at("id").get<int>();
    EXPECT_TRUE(dropped == 0 || dropped == 2);
    EXPECT_EQ(out.rejected[0].at(kReasonColumn),
              "not selected by diversity_sample (max_diversity: k=2 of 3 rows; the nearest kept row, row " +
                  std::to_string(2 - dropped + 1) + ", has cosine similarity 1.000)");
}

TEST(DiversitySample, RandomIsUniformAndDeterministic) {
    const auto rows = topic_rows({6, 2, 2});
    std::vector<int> hits(10, 0);
    for (uint64_t seed = 0; seed < 2000; ++seed)
        for (int i : ids(run({{"k", 3}, {"field", "text"}, {"strategy", "random"}, {"seed", seed}}, rows).kept))
            ++hits[i];
    // Each row is expected 600 times (sd ~20).
    for (int i = 0; i < 10; ++i) {
        EXPECT_GT(hits[i], 600 - 90) << "row " << i;
        EXPECT_LT(hits[i], 600 + 90) << "row " << i;
    }
    const auto big = topic_rows({300, 100, 100});
    const Json cfg = {{"k", 50}, {"field", "text"}, {"strategy", "random"}, {"seed", 9}};
    const Output a = run(cfg, big);
    EXPECT_EQ(ids(a.kept), ids(run(cfg, big).kept));
    Json other = cfg;
    other["seed"] = 10;
    EXPECT_NE(ids(a.kept), ids(run(other, big).kept));
    expect_partition(a, big.size());
    EXPECT_EQ(a.rejected.at(0).at(kReasonColumn), "not selected by diversity_sample (random: k=50 of 500 rows)");
    // Still reports the topics it did not balance.
    EXPECT_EQ(a.metrics["strategy"], "random");
    EXPECT_EQ(a.metrics["kept"], 50);
}

TEST(DiversitySample, SameSeedSameSelectionAcrossBlocksAndRepeatedFinish) {
    // finish() runs again on resume: it must choose the same rows, with the same reasons.
    const auto rows = topic_rows({200, 60, 40}, 4);
    for (const char* strategy : {"cluster_balanced", "max_diversity", "random"}) {
        SCOPED_TRACE(strategy);
        const Json cfg = {{"k", 40}, {"field", "text"}, {"strategy", strategy}, {"seed", 77}};
        auto block = make(cfg);
        const Output first = finish(*block, rows);
        const Output again = finish(*block, rows);
        const Output fresh = run(cfg, rows);
        EXPECT_EQ(ids(first.kept), ids(again.kept));
        EXPECT_EQ(ids(first.kept), ids(fresh.kept));
        ASSERT_EQ(first.rejected.size(), fresh.rejected.size());
        for (size_t i = 0; i < first.rejected.size(); ++i) EXPECT_EQ(first.rejected[i], fresh.rejected[i]);
        EXPECT_EQ(first.metrics, fresh.metrics);
    }
}

TEST(DiversitySample, SeedDefaultsToTheRunSeedAndRoundsDrawAfresh) {
    const auto rows = topic_rows({200, 60, 40}, 4);
    const Json cfg = {{"k", 40}, {"field", "text"}, {"strategy", "random"}};
    BlockEnv env;
    env.seed = 77;
    Json with_seed = cfg;
    with_seed["seed"] = 77;
    EXPECT_EQ(ids(run(cfg, rows, env).kept), ids(run(with_seed, rows).kept));
    uint64_t round = 2;
    env.round = &round;
    EXPECT_NE(ids(run(cfg, rows, env).kept), ids(run(with_seed, rows).kept));
}

TEST(DiversitySample, RowsWithoutTheFieldAreRejectedWithTheReason) {
    std::vector<Record> rows = topic_rows({10, 10, 10});
    rows.push_back({{"id", 30}, {"other", "x"}});
    rows.push_back({{"id", 31}, {"text", 5}});
    const Output out = run({{"k", 5}, {"field", "text"}, {"seed", 1}}, rows);
    EXPECT_EQ(out.kept.size(), 5u);
    expect_partition(out, rows.size());
    std::map<int, std::string> reason;
    for (const auto& r : out.rejected) reason[r.at("id").get<int>()] = r.at(kReasonColumn).get<std::string>();
    EXPECT_EQ(reason.at(30), "missing column 'text'");
    EXPECT_EQ(reason.at(31), "column 'text' is not a string (got number)");
    EXPECT_EQ(out.metrics["rows_without_text"], 2);
    EXPECT_EQ(out.metrics["rows"], 30);
}

TEST(DiversitySample, FieldMayBeATemplate) {
    // The topic words live in two columns; the template joins them.
    std::vector<Record> rows;
    for (const auto& r : topic_rows({30, 30, 30})) {
        const std::string text = r.at("text").get<std::string>();
        const size_t cut = text.find(' ', text.size() / 2);
        rows.push_back({{"id", r["id"]}, {"topic", r["topic"]}, {"a", text.substr(0, cut)}, {"b", text.substr(cut)}});
    }
    rows.push_back({{"id", 90}, {"a", "only a"}});
    const Output out = run({{"k", 9}, {"field", "{{ a }} {{ b }}"}, {"clusters", 3}, {"seed", 2}}, rows);
    ASSERT_EQ(out.kept.size(), 9u);
    EXPECT_EQ(topic_counts(out.kept), (std::map<int, size_t>{{0, 3}, {1, 3}, {2, 3}}));
    expect_partition(out, rows.size());
    bool found = false;
    for (const auto& r : out.rejected)
        if (r.at("id") == 90) {
            found = true;
            EXPECT_NE(r.at(kReasonColumn).get<std::string>().find("b"), std::string::npos);
        }
    EXPECT_TRUE(found);
}

TEST(DiversitySample, ClusterColumnTagsKeptRowsByTopic) {
    const auto rows = topic_rows({60, 30, 30});
    const Output out =
        run({{"k", 12}, {"field", "text"}, {"clusters", 3}, {"seed", 1}, {"cluster_column", "cluster"}}, rows);
    ASSERT_EQ(out.kept.size(), 12u);
    std::map<int, std::set<int>> clusters_of_topic;
    for (const auto& r : out.kept) clusters_of_topic[r.at("topic").get<int>()].insert(r.at("cluster").get<int>());
    ASSERT_EQ(clusters_of_topic.size(), 3u);
    std::set<int> all;
    for (const auto& [t, cs] : clusters_of_topic) {
        EXPECT_EQ(cs.size(), 1u);
        all.insert(*cs.begin());
    }
    EXPECT_EQ(all, (std::set<int>{0, 1, 2}));
    EXPECT_EQ(*clusters_of_topic[rows[0].at("topic").get<int>()].begin(), 0);  // row 0's cluster is 0
    for (const auto& r : out.rejected) EXPECT_FALSE(r.contains("cluster"));
}

TEST(DiversitySample, KAtLeastRowsKeepsEverythingAndZeroKeepsNothing) {
    const auto rows = topic_rows({5, 5, 5});
    const Output all = run({{"k", 100}, {"field", "text"}, {"seed", 1}}, rows);
    EXPECT_EQ(ids(all.kept).size(), 15u);
    EXPECT_TRUE(all.rejected.empty());
    EXPECT_NEAR(all.metrics["entropy_bits_before"].get<double>(), all.metrics["entropy_bits_after"].get<double>(),
                1e-12);
    const Output none = run({{"k", 0}, {"field", "text"}, {"seed", 1}}, rows);
    EXPECT_TRUE(none.kept.empty());
    EXPECT_EQ(none.rejected.size(), 15u);
    const Output empty = run({{"k", 3}, {"field", "text"}, {"seed", 1}}, {});
    EXPECT_TRUE(empty.kept.empty());
    EXPECT_TRUE(empty.rejected.empty());
}

TEST(DiversitySample, TextsWithoutWordsAreStillRows) {
    std::vector<Record> rows = topic_rows({10, 10, 10});
    rows.push_back({{"id", 30}, {"text", ""}});
    rows.push_back({{"id", 31}, {"text", "!!!"}});
    for (const char* strategy : {"cluster_balanced", "max_diversity", "random"}) {
        const Output out = run({{"k", 6}, {"field", "text"}, {"strategy", strategy}, {"seed", 1}}, rows);
        EXPECT_EQ(out.kept.size(), 6u) << strategy;
        expect_partition(out, rows.size());
    }
}

TEST(DiversitySample, ConfigErrorsAndBarrier) {
    EXPECT_NE(config_error({{"k", -1}, {"field", "text"}}), "");
    EXPECT_NE(config_error({{"k", 3}, {"field", "text"}, {"strategy", "best"}}), "");
    EXPECT_NE(config_error({{"k", 3}, {"field", "{{ unclosed"}}), "");
    EXPECT_NE(config_error({{"k", 3}, {"field", "text"}, {"seed", "x"}}), "");
    EXPECT_EQ(config_error({{"k", 3}, {"field", "text"}, {"seed", -5}}), "");
    auto block = make({{"k", 1}, {"field", "text"}});
    Emitter out("b");
    EXPECT_ANY_THROW(block->process({}, out));
    EXPECT_TRUE(block->metrics().is_null());  // nothing to report before finish()
}

// Embeddings instead of text: rows around three orthogonal directions (90/5/5), each a unit
// axis plus a little seeded noise, as an embed block would give for three topics.
std::vector<Record> vector_rows() {
    std::mt19937_64 gen(5);
    std::vector<Record> rows;
    for (int i = 0; i < 100; ++i) {
        const int topic = i < 90 ? 0 : i < 95 ? 1 : 2;
        std::vector<double> v(8);
        for (double& x : v) x = static_cast<double>(gen() % 1000) / 1e5;  // noise < 0.01
        v[topic] += 1;
        rows.push_back({{"id", i}, {"topic", topic}, {"embedding", v}});
    }
    return rows;
}

TEST(DiversitySample, VectorColumnBalancesAndSpreadsOverEmbeddings) {
    const auto rows = vector_rows();
    auto balanced =
        run({{"k", 9}, {"vector_column", "embedding"}, {"clusters", 3}, {"strategy", "cluster_balanced"}}, rows);
    std::map<int, int> per_topic;
    for (const auto& r : balanced.kept) ++per_topic[r["topic"].get<int>()];
    EXPECT_EQ(per_topic, (std::map<int, int>{{0, 3}, {1, 3}, {2, 3}}));
    EXPECT_EQ(balanced.kept.size() + balanced.rejected.size(), rows.size());
    EXPECT_EQ(balanced.metrics["vocabulary"], 0);

    auto spread = run({{"k", 3}, {"vector_column", "embedding"}, {"strategy", "max_diversity"}}, rows);
    std::set<int> topics;
    for (const auto& r : spread.kept) topics.insert(r["topic"].get<int>());
    EXPECT_EQ(topics.size(), 3u);
}

TEST(DiversitySample, VectorColumnRejectsRowsWithoutAUsableVector) {
    std::vector<Record> rows = {
        {{"embedding", {1, 0}}}, {{"embedding", {1, 0, 0}}}, {{"x", 1}}, {{"embedding", {0, 0}}}};
    auto out = run({{"k", 1}, {"vector_column", "embedding"}}, rows);
    ASSERT_EQ(out.kept.size(), 1u);
    ASSERT_EQ(out.rejected.size(), 3u);
    EXPECT_EQ(out.rejected[0].at(kReasonColumn), "column 'embedding' has 3 dimensions, the rows before it 2");
    EXPECT_NE(out.rejected[1].at(kReasonColumn).get<std::string>().find("missing column 'embedding'"),
              std::string::npos);
    EXPECT_EQ(out.rejected[2].at(kReasonColumn), "column 'embedding' is a zero or non-finite vector");
    EXPECT_NE(config_error({{"k", 1}, {"field", "text"}, {"vector_column", "embedding"}}).find("one of them"),
              std::string::npos);
    EXPECT_NE(config_error({{"k", 1}}).find("one of them"), std::string::npos);
}

}  // namespace
}  // namespace synthforge
