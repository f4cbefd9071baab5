// Unit tests of TF-IDF vectors and what diversity sampling builds on them: cosine and
// centroids against hand-computed values, scikit-learn's TF-IDF weighting, spherical k-means
// on planted topics, farthest-point selection, and their determinism.

#include "synthforge/text/tfidf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace synthforge::text {
namespace {

// ---------------------------------------------------------------------------------------------
// Texts on three planted topics: eight topic words and four shared filler words each, so
// rows of a topic share vocabulary with each other and only filler with other topics.

const std::vector<std::vector<std::string>> kTopicWords = {
    {"pasta", "sauce",  "garlic", "onion",  "simmer", "boil",    "oven",    "bake",
     "flour", "butter", "salt",   "pepper", "recipe", "kitchen", "chop",    "stir",
     "roast", "dough",  "knead",  "basil",  "tomato", "olive",   "skillet", "broth"},
    {"star",   "galaxy",   "planet",  "orbit",   "telescope", "nebula",  "comet",     "asteroid",
     "moon",   "solar",    "lunar",   "eclipse", "cosmic",    "gravity", "supernova", "quasar",
     "photon", "spectrum", "jupiter", "saturn",  "mars",      "crater",  "meteor",    "constellation"},
    {"goal",    "striker", "midfielder", "defender", "goalkeeper", "penalty", "referee",  "offside",
     "tackle",  "corner",  "league",     "match",    "stadium",    "coach",   "transfer", "header",
     "dribble", "pass",    "kickoff",    "season",   "fans",       "pitch",   "trophy",   "derby"},
};
const std::vector<std::string> kFiller = {"the",    "a",    "and",  "with",  "of",   "to",   "in",    "is",  "was",
                                          "really", "very", "some", "today", "this", "that", "about", "for", "on"};

std::string topic_text(size_t topic, std::mt19937_64& gen) {
    std::string s;
    auto word = [&](const std::vector<std::string>& from) {
        if (!s.empty()) s += ' ';
        s += from[gen() % from.size()];
    };
    for (int i = 0; i < 8; ++i) word(kTopicWords[topic]);
    for (int i = 0; i < 4; ++i) word(kFiller);
    return s;
}

// Rows of `counts[t]` texts on topic t, interleaved so no topic sits in one block; the
// topic of each row goes to *topics.
SparseMatrix topic_rows(const std::vector<size_t>& counts, std::vector<size_t>* topics, uint64_t seed = 1) {
    std::mt19937_64 gen(seed);
    TfidfVectorizer v;
    std::vector<size_t> left = counts;
    topics->clear();
    for (size_t done = 0; std::any_of(left.begin(), left.end(), [](size_t n) { return n > 0; }); ++done) {
        const size_t t = done % counts.size();
        if (left[t] == 0) continue;
        --left[t];
        v.add(topic_text(t, gen));
        topics->push_back(t);
    }
    return v.fit_transform();
}

// True when the clustering and the planted topics are the same partition.
bool same_partition(const std::vector<uint32_t>& clusters, const std::vector<size_t>& topics) {
    std::map<uint32_t, size_t> topic_of;
    std::map<size_t, uint32_t> cluster_of;
    for (size_t i = 0; i < topics.size(); ++i) {
        auto [a, new_a] = topic_of.emplace(clusters[i], topics[i]);
        auto [b, new_b] = cluster_of.emplace(topics[i], clusters[i]);
        if (a->second != topics[i] || b->second != clusters[i]) return false;
    }
    return true;
}

SparseVector sv(std::vector<uint32_t> ids, std::vector<double> values) {
    return {std::move(ids), std::move(values)};
}

// ---------------------------------------------------------------------------------------------
// Vectors

TEST(Tfidf, CosineOfHandComputedVectors) {
    // a = (1, 0, 2), b = (2, 1, 2): a.b = 6, |a| = sqrt 5, |b| = 3, cos = 2 / sqrt 5.
    const SparseVector a = sv({0, 2}, {1, 2}), b = sv({0, 1, 2}, {2, 1, 2});
    EXPECT_DOUBLE_EQ(dot(a, b), 6.0);
    EXPECT_DOUBLE_EQ(norm(a), std::sqrt(5.0));
    EXPECT_NEAR(cosine(a, b), 2.0 / std::sqrt(5.0), 1e-15);
    EXPECT_NEAR(cosine(b, a), cosine(a, b), 1e-15);
    EXPECT_NEAR(cosine(a, a), 1.0, 1e-15);
    // Orthogonal and zero vectors.
    EXPECT_EQ(cosine(sv({0}, {3}), sv({1}, {4})), 0.0);
    EXPECT_EQ(cosine(a, SparseVector{}), 0.0);
    // Sparse against dense, and dense against dense.
    const std::vector<double> dense = {2, 1, 2};
    EXPECT_DOUBLE_EQ(dot(a, dense), 6.0);
    EXPECT_NEAR(cosine(std::vector<double>{1, 0, 2}, dense), 2.0 / std::sqrt(5.0), 1e-15);
    EXPECT_EQ(cosine(std::vector<double>{0, 0, 0}, dense), 0.0);
}

TEST(Tfidf, MatrixRowsAndMean) {
    SparseMatrix m(3);
    m.append(sv({0, 2}, {1, 2}));
    m.append(SparseVector{});
    m.append(sv({1}, {4}));
    ASSERT_EQ(m.rows(), 3u);
    EXPECT_EQ(m.nonzeros(), 3u);
    EXPECT_TRUE(m.row(1).empty());
    EXPECT_EQ(m.row(2).ids[0], 1u);
    EXPECT_EQ(mean_vector(m), (std::vector<double>{1.0 / 3, 4.0 / 3, 2.0 / 3}));
    EXPECT_EQ(mean_vector(m, 0, 1), (std::vector<double>{1, 0, 2}));
    EXPECT_EQ(mean_vector(m, 2, 2), (std::vector<double>{0, 0, 0}));
    EXPECT_ANY_THROW(m.append(sv({2, 1}, {1, 1})));  // not ascending
    EXPECT_ANY_THROW(m.append(sv({3}, {1})));        // out of range
}

TEST(Tfidf, WeightsAreScikitLearnsSmoothIdfL2) {
    // idf = ln((1 + N) / (1 + df)) + 1 with N = 3: the 1, cat/sat 1.2876820724517808,
    // dog/ran 1.6931471805599454; each row scaled to length 1 (computed in Python from
    // the formula; TfidfVectorizer(smooth_idf=True, norm="l2") gives the same).
    TfidfVectorizer v;
    EXPECT_EQ(v.add("The cat sat."), 0u);
    EXPECT_EQ(v.add("the dog SAT"), 1u);
    EXPECT_EQ(v.add("the cat, ran"), 2u);
    const SparseMatrix m = v.fit_transform();
    ASSERT_EQ(v.dimensions(), 5u);
    // Ids by document frequency, then alphabetically.
    const std::vector<std::string> terms = {"the", "cat", "sat", "dog", "ran"};
    for (uint32_t i = 0; i < 5; ++i) EXPECT_EQ(v.term(i), terms[i]);
    EXPECT_DOUBLE_EQ(v.idf(0), 1.0);
    EXPECT_NEAR(v.idf(1), 1.2876820724517808, 1e-15);
    EXPECT_NEAR(v.idf(3), 1.6931471805599454, 1e-15);
    auto weight = [&](size_t row, uint32_t id) {
        const SparseView r = m.row(row);
        for (size_t j = 0; j < r.size(); ++j)
            if (r.ids[j] == id) return r.values[j];
        return 0.0;
    };
    EXPECT_NEAR(weight(0, 0), 0.48133416873660545, 1e-15);
    EXPECT_NEAR(weight(0, 1), 0.6198053799406072, 1e-15);
    EXPECT_NEAR(weight(0, 2), 0.6198053799406072, 1e-15);
    EXPECT_NEAR(weight(1, 0), 0.4254405389711991, 1e-15);
    EXPECT_NEAR(weight(1, 3), 0.7203334490549893, 1e-15);
    EXPECT_NEAR(weight(1, 2), 0.5478321549274363, 1e-15);
    EXPECT_NEAR(weight(2, 4), 0.7203334490549893, 1e-15);
    for (size_t r = 0; r < 3; ++r) EXPECT_NEAR(norm(m.row(r)), 1.0, 1e-15);

    // A new text under the fitted model: counts matter, unknown words do not.
    // "cat cat dog": (2 * 1.28768, 1.69315) / norm = (0.83559, 0.54935).
    const SparseVector t = v.transform("cat cat dog unknown");
    ASSERT_EQ(t.ids, (std::vector<uint32_t>{1, 3}));
    EXPECT_NEAR(t.values[0], 0.8355915419449176, 1e-15);
    EXPECT_NEAR(t.values[1], 0.5493512310263033, 1e-15);
    EXPECT_TRUE(v.transform("nothing known").ids.empty());
}

TEST(Tfidf, MaxFeaturesKeepsTheMostWidespreadTermsAndMinDfDropsRare) {
    TfidfVectorizer v({.max_features = 2});
    v.add("the cat sat");
    v.add("the dog sat");
    v.add("the cat ran");
    const SparseMatrix m = v.fit_transform();
    ASSERT_EQ(v.dimensions(), 2u);
    EXPECT_EQ(v.term(0), "the");
    EXPECT_EQ(v.term(1), "cat");     // df 2 like "sat", alphabetically first
    EXPECT_EQ(m.row(1).size(), 1u);  // "the" only

    TfidfVectorizer w({.min_df = 2});
    w.add("alpha beta");
    w.add("alpha gamma");
    w.fit_transform();
    ASSERT_EQ(w.dimensions(), 1u);
    EXPECT_EQ(w.term(0), "alpha");
}

TEST(Tfidf, TextsWithoutWordsGetZeroRows) {
    TfidfVectorizer v;
    v.add("");
    v.add("... !!!");
    v.add("words here");
    const SparseMatrix m = v.fit_transform();
    ASSERT_EQ(m.rows(), 3u);
    EXPECT_TRUE(m.row(0).empty());
    EXPECT_TRUE(m.row(1).empty());
    EXPECT_EQ(m.row(2).size(), 2u);
    EXPECT_ANY_THROW(TfidfVectorizer().transform("x"));  // before fit
}

TEST(Tfidf, SublinearTf) {
    TfidfVectorizer v({.sublinear_tf = true});
    v.add("a a a a b");
    const SparseMatrix m = v.fit_transform();
    // Both idf 1; tf 1 + ln 4 and 1.
    const double a = 1 + std::log(4.0), n = std::sqrt(a * a + 1);
    EXPECT_NEAR(m.row(0).values[0], a / n, 1e-15);
}

TEST(Tfidf, EntropyOfCounts) {
    EXPECT_DOUBLE_EQ(count_entropy_bits(std::vector<size_t>{5, 5}), 1.0);
    EXPECT_DOUBLE_EQ(count_entropy_bits(std::vector<size_t>{1, 1, 1, 1}), 2.0);
    EXPECT_DOUBLE_EQ(count_entropy_bits(std::vector<size_t>{7, 0}), 0.0);
    EXPECT_DOUBLE_EQ(count_entropy_bits(std::vector<size_t>{}), 0.0);
    // 90/5/5: -(0.9 log2 0.9 + 2 * 0.05 log2 0.05) = 0.5689955935892812
    EXPECT_NEAR(count_entropy_bits(std::vector<size_t>{90, 5, 5}), 0.5689955935892812, 1e-15);
}

// ---------------------------------------------------------------------------------------------
// Spherical k-means

TEST(KMeans, RecoversThreePlantedTopicsForEverySeed) {
    std::vector<size_t> topics;
    const SparseMatrix m = topic_rows({40, 40, 40}, &topics);
    for (uint64_t seed = 0; seed < 20; ++seed) {
        SCOPED_TRACE(seed);
        const KMeansResult r = spherical_kmeans(m, {.clusters = 3, .seed = seed});
        ASSERT_EQ(r.assignment.size(), m.rows());
        EXPECT_TRUE(same_partition(r.assignment, topics));
        EXPECT_EQ(r.sizes, (std::vector<size_t>{40, 40, 40}));
        EXPECT_TRUE(r.converged);
        EXPECT_EQ(r.assignment[0], 0u);  // numbered by first row
        EXPECT_GT(r.mean_similarity, 0.3);
        for (const auto& c : r.centroids)
            EXPECT_NEAR(std::sqrt(std::inner_product(c.begin(), c.end(), c.begin(), 0.0)), 1.0, 1e-12);
    }
}

TEST(KMeans, FarthestFirstSeedingAndFittingOnASample) {
    std::vector<size_t> topics;
    const SparseMatrix m = topic_rows({100, 100, 100}, &topics);
    for (uint64_t seed = 0; seed < 10; ++seed) {
        SCOPED_TRACE(seed);
        const KMeansResult ff =
            spherical_kmeans(m, {.clusters = 3, .seed = seed, .seeding = KMeansSeeding::farthest_first});
        EXPECT_TRUE(same_partition(ff.assignment, topics));
        // Fitted on 150 rows, then every row assigned: still the topics.
        const KMeansResult sampled =
            spherical_kmeans(m, {.clusters = 3, .seed = seed, .seeding = KMeansSeeding::farthest_first, .sample = 150});
        ASSERT_EQ(sampled.assignment.size(), m.rows());
        EXPECT_TRUE(same_partition(sampled.assignment, topics));
        EXPECT_EQ(sampled.sizes, (std::vector<size_t>{100, 100, 100}));
    }
}

TEST(KMeans, ToleranceStopsEarly) {
    std::vector<size_t> topics;
    const SparseMatrix m = topic_rows({50, 50, 50}, &topics);
    const KMeansResult exact = spherical_kmeans(m, {.clusters = 12, .seed = 4});
    const KMeansResult loose = spherical_kmeans(m, {.clusters = 12, .seed = 4, .tolerance = 0.5});
    EXPECT_TRUE(exact.converged);
    EXPECT_TRUE(loose.converged);
    EXPECT_EQ(loose.iterations, 2u);  // the first iteration moves every row
    EXPECT_LE(loose.iterations, exact.iterations);
}

TEST(KMeans, SameSeedSameResult) {
    std::vector<size_t> topics;
    const SparseMatrix m = topic_rows({50, 30, 20}, &topics);
    const KMeansResult a = spherical_kmeans(m, {.clusters = 7, .seed = 42});
    const KMeansResult b = spherical_kmeans(m, {.clusters = 7, .seed = 42});
    EXPECT_EQ(a.assignment, b.assignment);
    EXPECT_EQ(a.centroids, b.centroids);
    EXPECT_EQ(a.iterations, b.iterations);
    EXPECT_EQ(a.mean_similarity, b.mean_similarity);
    // With more clusters than topics, topics split but clusters never mix topics.
    for (size_t c = 0; c < a.sizes.size(); ++c) {
        std::set<size_t> in;
        for (size_t i = 0; i < topics.size(); ++i)
            if (a.assignment[i] == c) in.insert(topics[i]);
        EXPECT_EQ(in.size(), 1u) << "cluster " << c;
        EXPECT_GT(a.sizes[c], 0u);
    }
}

TEST(KMeans, EdgeCases) {
    EXPECT_TRUE(spherical_kmeans(SparseMatrix(3), {.clusters = 2}).assignment.empty());
    EXPECT_ANY_THROW(spherical_kmeans(
        [] {
            SparseMatrix m(1);
            m.append(sv({0}, {1}));
            return m;
        }(),
        {.clusters = 0}));

    // More clusters than rows: one row each.
    SparseMatrix two(2);
    two.append(sv({0}, {1}));
    two.append(sv({1}, {1}));
    KMeansResult r = spherical_kmeans(two, {.clusters = 5});
    EXPECT_EQ(r.sizes, (std::vector<size_t>{1, 1}));
    EXPECT_EQ(r.assignment, (std::vector<uint32_t>{0, 1}));

    // Duplicates: three distinct rows give three clusters, whatever was asked.
    SparseMatrix dup(3);
    for (int i = 0; i < 3; ++i) dup.append(sv({0}, {1}));
    dup.append(sv({1}, {1}));
    dup.append(sv({2}, {1}));
    for (auto seeding : {KMeansSeeding::kmeans_plus_plus, KMeansSeeding::farthest_first}) {
        r = spherical_kmeans(dup, {.clusters = 4, .seed = 3, .seeding = seeding});
        EXPECT_EQ(r.sizes, (std::vector<size_t>{3, 1, 1}));
        EXPECT_EQ(r.assignment, (std::vector<uint32_t>{0, 0, 0, 1, 2}));
    }

    // All-zero rows: one cluster of them all.
    SparseMatrix zeros(4);
    for (int i = 0; i < 5; ++i) zeros.append(SparseVector{});
    r = spherical_kmeans(zeros, {.clusters = 3});
    EXPECT_EQ(r.sizes, (std::vector<size_t>{5}));

    // Zero rows among others are never seeds and never split off on their own.
    SparseMatrix mixed(2);
    mixed.append(SparseVector{});
    for (int i = 0; i < 3; ++i) mixed.append(sv({0}, {1}));
    for (int i = 0; i < 3; ++i) mixed.append(sv({1}, {1}));
    r = spherical_kmeans(mixed, {.clusters = 2, .seed = 9});
    EXPECT_NE(r.assignment[1], r.assignment[4]);
    EXPECT_EQ(r.sizes[0] + r.sizes[1], 7u);
}

// ---------------------------------------------------------------------------------------------
// Topics

TEST(Topics, RecoversImbalancedTopicsWherePlainKMeansSplitsTheLargeOne) {
    // 90/5/5: k-means' objective itself prefers two halves of the large topic plus the two
    // small ones together; cluster_topics() finds the three topics for every seed.
    std::vector<size_t> topics;
    const SparseMatrix m = topic_rows({900, 50, 50}, &topics);
    int plain_found = 0;
    for (uint64_t seed = 0; seed < 10; ++seed) {
        SCOPED_TRACE(seed);
        const KMeansResult r = cluster_topics(m, {.clusters = 3, .seed = seed});
        EXPECT_TRUE(same_partition(r.assignment, topics));
        EXPECT_EQ(r.sizes, (std::vector<size_t>{900, 50, 50}));
        EXPECT_EQ(r.merged_from, 6u);
        plain_found += same_partition(spherical_kmeans(m, {.clusters = 3, .seed = seed}).assignment, topics);
    }
    EXPECT_LT(plain_found, 5);  // why cluster_topics exists
}

TEST(Topics, OutliersDoNotTakeATopicsPlace) {
    // Five rows of unique words: farthest-first seeds land on them first; they must end
    // up inside topics, not as clusters of their own.
    std::mt19937_64 gen(3);
    TfidfVectorizer v;
    std::vector<size_t> topics;
    for (size_t i = 0; i < 600; ++i) {
        const size_t t = i % 12 == 0 ? 1 : i % 12 == 6 ? 2 : 0;  // 500 / 50 / 50
        v.add(topic_text(t, gen));
        topics.push_back(t);
        if (i % 120 == 60) {
            v.add("zz" + std::to_string(i) + " qq" + std::to_string(i) + " xx" + std::to_string(i));
            topics.push_back(99);
        }
    }
    const SparseMatrix m = v.fit_transform();
    for (uint64_t seed = 0; seed < 10; ++seed) {
        const KMeansResult r = cluster_topics(m, {.clusters = 3, .seed = seed});
        ASSERT_EQ(r.sizes.size(), 3u);
        std::vector<uint32_t> a;
        std::vector<size_t> t;
        for (size_t i = 0; i < topics.size(); ++i)
            if (topics[i] != 99) {
                a.push_back(r.assignment[i]);
                t.push_back(topics[i]);
            }
        EXPECT_TRUE(same_partition(a, t)) << "seed " << seed;
    }
}

TEST(Topics, FewRowsOrBalancedTopics) {
    std::vector<size_t> topics;
    const SparseMatrix m = topic_rows({30, 30, 30}, &topics);
    const KMeansResult r = cluster_topics(m, {.clusters = 3, .seed = 1});
    EXPECT_TRUE(same_partition(r.assignment, topics));
    EXPECT_EQ(cluster_topics(m, {.clusters = 3, .seed = 1}).assignment, r.assignment);  // deterministic
    // More clusters than rows: no merging, one row each.
    SparseMatrix two(2);
    two.append(sv({0}, {1}));
    two.append(sv({1}, {1}));
    const KMeansResult t = cluster_topics(two, {.clusters = 4});
    EXPECT_EQ(t.sizes, (std::vector<size_t>{1, 1}));
    EXPECT_EQ(t.merged_from, 0u);
    EXPECT_TRUE(cluster_topics(SparseMatrix(2), {.clusters = 4}).sizes.empty());
}

// ---------------------------------------------------------------------------------------------
// Farthest points

TEST(FarthestPoints, OneFromEachTopicBeforeASecondFromAny) {
    std::vector<size_t> topics;
    const SparseMatrix m = topic_rows({90, 5, 5}, &topics);
    for (size_t first : {size_t{0}, size_t{1}, size_t{2}, size_t{57}, size_t{99}}) {
        const FarthestPoints fp = farthest_points(m, 3, first);
        ASSERT_EQ(fp.order.size(), 3u);
        EXPECT_EQ(fp.order[0], first);
        std::set<size_t> seen;
        for (size_t i : fp.order) seen.insert(topics[i]);
        EXPECT_EQ(seen.size(), 3u) << "first " << first;
    }
}

TEST(FarthestPoints, NearestIsTheMostSimilarChosenRow) {
    std::vector<size_t> topics;
    const SparseMatrix m = topic_rows({20, 20, 20}, &topics, 7);
    const FarthestPoints fp = farthest_points(m, 10, 5);
    ASSERT_EQ(fp.order.size(), 10u);
    EXPECT_EQ(std::set<size_t>(fp.order.begin(), fp.order.end()).size(), 10u);
    for (size_t i = 0; i < m.rows(); ++i) {
        double best = -1;
        for (size_t c : fp.order) best = std::max(best, c == i ? 1.0 : cosine(m.row(i), m.row(c)));
        EXPECT_NEAR(fp.nearest_similarity[i], best, 1e-12) << i;
        EXPECT_NEAR(i == fp.nearest[i] ? 1.0 : cosine(m.row(i), m.row(fp.nearest[i])), best, 1e-12);
    }
    // Max-min: every later pick was at least as far from the chosen set as any row left over.
    double left_max_distance = 0;
    for (size_t i = 0; i < m.rows(); ++i)
        if (fp.nearest[i] != i) left_max_distance = std::max(left_max_distance, 1 - fp.nearest_similarity[i]);
    double last_pick_distance = 2;
    {
        // Distance of the last pick when it was chosen: to the nine before it.
        const size_t last = fp.order.back();
        double s = -1;
        for (size_t j = 0; j + 1 < fp.order.size(); ++j) s = std::max(s, cosine(m.row(last), m.row(fp.order[j])));
        last_pick_distance = 1 - s;
    }
    EXPECT_GE(last_pick_distance + 1e-12, left_max_distance);
    // Deterministic, and k >= rows takes all.
    EXPECT_EQ(farthest_points(m, 10, 5).order, fp.order);
    EXPECT_EQ(farthest_points(m, 1000, 5).order.size(), m.rows());
    EXPECT_TRUE(farthest_points(m, 0, 5).order.empty());
    EXPECT_ANY_THROW(farthest_points(m, 3, m.rows()));
}

TEST(FarthestPoints, ZeroRowsCountOnceAndDuplicatesLast) {
    SparseMatrix m(2);
    m.append(sv({0}, {1}));    // 0
    m.append(SparseVector{});  // 1
    m.append(sv({0}, {1}));    // 2: duplicate of 0
    m.append(SparseVector{});  // 3: zero like 1
    m.append(sv({1}, {1}));    // 4
    const FarthestPoints fp = farthest_points(m, 5, 0);
    // From 0: rows 1, 3 (zero) and 4 are at distance 1; the lowest index first. Once a zero
    // row is chosen the other is at distance 0, like the duplicate.
    EXPECT_EQ(fp.order, (std::vector<size_t>{0, 1, 4, 2, 3}));
    const FarthestPoints three = farthest_points(m, 3, 0);
    EXPECT_EQ(three.nearest[2], 0u);
    EXPECT_EQ(three.nearest[3], 1u);
    EXPECT_DOUBLE_EQ(three.nearest_similarity[3], 1.0);
}

}  // namespace
}  // namespace synthforge::text
