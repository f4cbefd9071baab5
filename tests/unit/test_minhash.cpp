// Unit tests of MinHash dedup: shingling, exact Jaccard, the signature's statistics, the
// LSH parameter search, the index on planted near-duplicates, and the dedup_minhash block
// (reasons, resume from state deltas, configuration errors).

#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"
#include "synthforge/text/minhash.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace synthforge {
namespace {

using text::jaccard;
using text::MinHashIndex;
using text::shingle_hashes;
using text::ShingleKind;

std::string numbered_words(int first, int count, const std::string& prefix = "w") {
    std::string out;
    for (int i = first; i < first + count; ++i) out += (out.empty() ? "" : " ") + prefix + std::to_string(i);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Shingles and Jaccard

TEST(MinHashShingles, WordsIgnoreCaseAndPunctuation) {
    EXPECT_EQ(shingle_hashes("Hello, World! How are you?", ShingleKind::word, 2),
              shingle_hashes("hello world how are you", ShingleKind::word, 2));
    EXPECT_EQ(shingle_hashes("\xE2\x80\x9CQuoted\xE2\x80\x9D \xE2\x80\x94 text", ShingleKind::word, 2),
              shingle_hashes("quoted text", ShingleKind::word, 2));
    EXPECT_NE(shingle_hashes("hello world", ShingleKind::word, 2), shingle_hashes("world hello", ShingleKind::word, 2));
}

TEST(MinHashShingles, SetsAreDistinctAndSorted) {
    // 2-shingles of "a b a b": (a b), (b a), (a b): two distinct.
    const auto s = shingle_hashes("a b a b", ShingleKind::word, 2);
    EXPECT_EQ(s.size(), 2u);
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
    EXPECT_EQ(shingle_hashes(numbered_words(0, 10), ShingleKind::word, 5).size(), 6u);
}

TEST(MinHashShingles, ShortAndEmptyTexts) {
    // Fewer words than n: one shingle of them all, so short texts still compare.
    EXPECT_EQ(shingle_hashes("two words", ShingleKind::word, 5).size(), 1u);
    EXPECT_NE(shingle_hashes("two words", ShingleKind::word, 5), shingle_hashes("two other", ShingleKind::word, 5));
    EXPECT_TRUE(shingle_hashes("", ShingleKind::word, 5).empty());
    EXPECT_TRUE(shingle_hashes(" ... !!! ", ShingleKind::word, 5).empty());
    EXPECT_EQ(shingle_hashes("ab", ShingleKind::character, 5).size(), 1u);
    EXPECT_TRUE(shingle_hashes(" \n", ShingleKind::character, 5).empty());
}

TEST(MinHashShingles, CharactersAreCodePointsOfCollapsedLowercasedText) {
    EXPECT_EQ(shingle_hashes("abcd", ShingleKind::character, 3).size(), 2u);
    EXPECT_EQ(shingle_hashes("AB\n\n c", ShingleKind::character, 2), shingle_hashes("ab c", ShingleKind::character, 2));
    EXPECT_EQ(shingle_hashes("ab c", ShingleKind::character, 2).size(), 3u);               // "ab" "b " " c"
    EXPECT_EQ(shingle_hashes("\xC3\xA9t\xC3\xA9", ShingleKind::character, 2).size(), 2u);  // "ét" "té"
}

TEST(MinHashShingles, ZeroLengthIsRefused) {
    EXPECT_THROW(shingle_hashes("a", ShingleKind::word, 0), std::invalid_argument);
}

TEST(MinHashJaccard, ExactOnSets) {
    EXPECT_DOUBLE_EQ(jaccard({1, 2, 3, 4}, {3, 4, 5}), 2.0 / 5.0);
    EXPECT_DOUBLE_EQ(jaccard({1, 2}, {1, 2}), 1.0);
    EXPECT_DOUBLE_EQ(jaccard({}, {}), 1.0);
    EXPECT_DOUBLE_EQ(jaccard({}, {7}), 0.0);
    EXPECT_DOUBLE_EQ(jaccard({1}, {2}), 0.0);
}

TEST(MinHashJaccard, OneChangedWordOfTenWordText) {
    // 10 words give 6 word 5-shingles; changing the last word changes only the last one:
    // 5 shared of 7 distinct.
    const std::string a = numbered_words(0, 10);
    const std::string b = numbered_words(0, 9) + " other";
    EXPECT_DOUBLE_EQ(jaccard(shingle_hashes(a, ShingleKind::word, 5), shingle_hashes(b, ShingleKind::word, 5)),
                     5.0 / 7.0);
}

// ---------------------------------------------------------------------------------------------
// Signatures

TEST(MinHashSignature, EmptyAndIdenticalSets) {
    const text::MinHasher h(100, 1);
    EXPECT_EQ(h.num_perm(), 100u);
    const auto empty = h.signature(std::vector<uint32_t>{});
    ASSERT_EQ(empty.size(), 100u);
    for (uint32_t v : empty) EXPECT_EQ(v, UINT32_MAX);
    const std::vector<uint32_t> s = {5, 9, 1000, 77777};
    EXPECT_EQ(h.signature(s), h.signature(s));
    EXPECT_NE(h.signature(s), text::MinHasher(100, 2).signature(s));  // the seed matters
}

// Two random sets of `size` with exactly round(j * union) common elements.
std::pair<std::vector<uint32_t>, std::vector<uint32_t>> sets_with_jaccard(std::mt19937_64& rng, size_t size, double j) {
    // |A| = |B| = size and |A ∩ B| = c give J = c / (2 size - c), so c = 2 size j / (1 + j).
    const auto common = static_cast<size_t>(std::lround(2.0 * size * j / (1.0 + j)));
    std::set<uint32_t> used;
    auto fresh = [&] {
        for (;;) {
            const auto v = static_cast<uint32_t>(rng());
            if (used.insert(v).second) return v;
        }
    };
    std::vector<uint32_t> a, b;
    for (size_t i = 0; i < common; ++i) {
        const uint32_t v = fresh();
        a.push_back(v);
        b.push_back(v);
    }
    for (size_t i = common; i < size; ++i) a.push_back(fresh());
    for (size_t i = common; i < size; ++i) b.push_back(fresh());
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    return {a, b};
}

// The share of equal signature positions estimates J without bias, and the positions are
// independent enough that the estimate's variance is the binomial J(1 - J) / k. Correlated
// hash functions (all a_j equal, say) would give the right mean with a far larger variance.
TEST(MinHashSignature, EstimatesJaccardWithBinomialVariance) {
    const size_t k = 128;
    const text::MinHasher h(k, 7);
    std::mt19937_64 rng(42);
    for (double target : {0.3, 0.5, 0.8, 0.9}) {
        SCOPED_TRACE(target);
        const int pairs = 300;
        double sum = 0, sum_sq = 0, true_sum = 0;
        for (int p = 0; p < pairs; ++p) {
            auto [a, b] = sets_with_jaccard(rng, 200, target);
            const auto sa = h.signature(a), sb = h.signature(b);
            size_t equal = 0;
            for (size_t i = 0; i < k; ++i) equal += sa[i] == sb[i] ? 1 : 0;
            const double estimate = static_cast<double>(equal) / k;
            const double j = jaccard(a, b);
            true_sum += j;
            sum += estimate - j;
            sum_sq += (estimate - j) * (estimate - j);
        }
        const double jm = true_sum / pairs;
        const double expected_var = jm * (1 - jm) / k;
        const double bias = sum / pairs;
        const double var = sum_sq / pairs;
        EXPECT_LT(std::abs(bias), 5 * std::sqrt(expected_var / pairs)) << "bias " << bias;
        EXPECT_GT(var, 0.6 * expected_var) << "variance " << var << " vs " << expected_var;
        EXPECT_LT(var, 1.5 * expected_var) << "variance " << var << " vs " << expected_var;
    }
}

// ---------------------------------------------------------------------------------------------
// LSH parameters

TEST(MinHashLsh, EqualWeightsGiveDatasketchsChoice) {
    // datasketch's MinHashLSH(threshold=0.8, num_perm=128) uses 9 bands of 13 rows
    // (its hashranges end at 117; ekzhu/datasketch issue #209).
    const auto p = text::optimal_lsh_params(0.8, 128, 0.5, 0.5);
    EXPECT_EQ(p.bands, 9u);
    EXPECT_EQ(p.rows, 13u);
}

TEST(MinHashLsh, WeightingFalseNegativesLowersTheCurve) {
    const auto p = text::optimal_lsh_params(0.8, 128, 0.1, 0.9);
    EXPECT_EQ(p.bands, 14u);
    EXPECT_EQ(p.rows, 9u);
    EXPECT_GT(text::lsh_candidate_probability(0.9, p.bands, p.rows), 0.99);
    EXPECT_LT(text::lsh_candidate_probability(0.3, p.bands, p.rows), 0.001);
}

TEST(MinHashLsh, ProbabilitiesAndAreas) {
    EXPECT_DOUBLE_EQ(text::lsh_candidate_probability(1.0, 9, 13), 1.0);
    EXPECT_DOUBLE_EQ(text::lsh_candidate_probability(0.0, 9, 13), 0.0);
    // One band of one row: P(s) = s, so the areas are t^2/2 and (1-t)^2/2.
    EXPECT_NEAR(text::lsh_false_positive_area(0.8, 1, 1), 0.32, 1e-12);
    EXPECT_NEAR(text::lsh_false_negative_area(0.8, 1, 1), 0.02, 1e-12);
    for (double t : {0.3, 0.5, 0.7, 0.9, 0.95}) {
        const auto p = text::optimal_lsh_params(t, 256, 0.5, 0.5);
        EXPECT_GE(p.bands, 1u);
        EXPECT_LE(p.bands * p.rows, 256u);
    }
}

// ---------------------------------------------------------------------------------------------
// Index

// A document of `words` words drawn from a 5000-word vocabulary.
std::string random_doc(std::mt19937_64& rng, int words) {
    std::string out;
    for (int i = 0; i < words; ++i) out += (i ? " " : "") + ("v" + std::to_string(rng() % 5000));
    return out;
}

// The document with words [at, at + count) replaced by words outside the vocabulary.
std::string edited(const std::string& doc, int at, int count, int tag) {
    std::vector<std::string> w;
    size_t start = 0;
    for (size_t sp; (sp = doc.find(' ', start)) != std::string::npos; start = sp + 1)
        w.push_back(doc.substr(start, sp - start));
    w.push_back(doc.substr(start));
    for (int i = at; i < at + count; ++i) w[i] = "edit" + std::to_string(tag) + "x" + std::to_string(i);
    std::string out;
    for (const auto& x : w) out += (out.empty() ? "" : " ") + x;
    return out;
}

TEST(MinHashIndexTest, FindsPlantedNearDuplicatesWithoutFalseMerges) {
    const text::MinHasher h(128, 1);
    MinHashIndex index(h, text::optimal_lsh_params(0.8, 128, 0.1, 0.9), 0.8);
    std::mt19937_64 rng(3);
    std::vector<std::string> docs;
    std::vector<std::vector<uint32_t>> originals;
    for (int i = 0; i < 2000; ++i) {
        docs.push_back(random_doc(rng, 150));
        originals.push_back(shingle_hashes(docs.back(), ShingleKind::word, 5));
        const auto m = index.query_or_add(originals.back());
        ASSERT_EQ(m.item, MinHashIndex::npos) << "random document " << i << " merged";
    }
    EXPECT_EQ(index.size(), 2000u);
    // Near-duplicates: one word changed (J = 141/151 ~ 0.93), then two adjacent words
    // (J = 140/152 ~ 0.92). Hard negatives: 12 words changed apart (J < 0.6).
    std::mt19937_64 pick(5);
    for (int i = 0; i < 300; ++i) {
        const size_t target = pick() % 2000;
        const std::string& doc = docs[target];
        if (i % 10 == 0) {
            std::string neg = doc;
            for (int e = 0; e < 12; ++e) neg = edited(neg, 5 + e * 12, 1, i);
            const auto s = shingle_hashes(neg, ShingleKind::word, 5);
            ASSERT_LT(jaccard(s, originals[target]), 0.6);
            EXPECT_EQ(index.query(s).item, MinHashIndex::npos);
            continue;
        }
        const auto s = shingle_hashes(edited(doc, static_cast<int>(pick() % 140), 1 + i % 2, i), ShingleKind::word, 5);
        const double j = jaccard(s, originals[target]);
        ASSERT_GE(j, 0.9);
        const auto m = index.query(s);
        EXPECT_EQ(m.item, target) << "near-duplicate " << i << " with J " << j;
        EXPECT_DOUBLE_EQ(m.jaccard, j);
    }
    EXPECT_EQ(index.stats().verified, 270u);  // only the planted pairs reached the threshold
}

TEST(MinHashIndexTest, CandidatesBelowTheThresholdAreNotMatches) {
    // One row per band: nearly every pair sharing a minimum becomes a candidate, and the
    // exact Jaccard check must still turn down those under the threshold.
    const text::MinHasher h(64, 1);
    MinHashIndex index(h, {64, 1}, 0.8);
    const auto a = shingle_hashes(numbered_words(0, 40), ShingleKind::word, 5);  // 36 shingles
    const auto b = shingle_hashes(numbered_words(0, 30) + " " + numbered_words(0, 10, "z"), ShingleKind::word, 5);
    ASSERT_LT(jaccard(a, b), 0.8);
    index.add(a);
    const auto m = index.query(b);
    EXPECT_EQ(m.item, MinHashIndex::npos);
    EXPECT_EQ(index.stats().candidates, 1u);
    EXPECT_EQ(index.stats().verified, 0u);
}

TEST(MinHashIndexTest, BestMatchWinsAndTiesGoToTheEarliest) {
    const text::MinHasher h(128, 1);
    MinHashIndex index(h, {32, 4}, 0.5);
    const auto base = shingle_hashes(numbered_words(0, 60), ShingleKind::word, 5);
    const auto near = shingle_hashes(numbered_words(0, 59) + " x", ShingleKind::word, 5);
    EXPECT_EQ(index.add(near), 0u);
    EXPECT_EQ(index.add(base), 1u);
    EXPECT_EQ(index.add(base), 2u);
    const auto m = index.query(base);
    EXPECT_EQ(m.item, 1u);  // identical to items 1 and 2; item 0 is only near
    EXPECT_DOUBLE_EQ(m.jaccard, 1.0);
}

TEST(MinHashIndexTest, BadParametersAreRefused) {
    const text::MinHasher h(16, 1);
    EXPECT_THROW(MinHashIndex(h, {5, 4}, 0.8), std::invalid_argument);
    EXPECT_THROW(MinHashIndex(h, {0, 4}, 0.8), std::invalid_argument);
    EXPECT_THROW(text::MinHasher(0, 1), std::invalid_argument);
}

TEST(MinHashIndexTest, GrowsPastItsInitialTable) {
    const text::MinHasher h(64, 1);
    MinHashIndex index(h, {16, 4}, 0.9);
    for (int i = 0; i < 3000; ++i)
        ASSERT_EQ(index.query_or_add(shingle_hashes(numbered_words(i * 10, 10), ShingleKind::word, 3)).item,
                  MinHashIndex::npos);
    for (int i = 0; i < 3000; i += 97)
        EXPECT_EQ(index.query(shingle_hashes(numbered_words(i * 10, 10), ShingleKind::word, 3)).item,
                  static_cast<size_t>(i));
}

// ---------------------------------------------------------------------------------------------
// Block

std::unique_ptr<Block> minhash_block(Json config) {
    if (!config.contains("column")) config["column"] = "text";
    return BlockRegistry::global().find("dedup_minhash")->make("mh", config, BlockEnv{});
}

struct Fed {
    std::vector<Record> kept, rejected;
};

Fed feed(Block& b, std::vector<Record> rows) {
    Emitter out(b.name());
    b.process(std::move(rows), out);
    return {std::move(out.rows()), std::move(out.rejected())};
}

std::vector<Record> corpus(int n) {
    // Every fifth row repeats an earlier one with its last word changed.
    std::mt19937_64 rng(9);
    std::vector<std::string> docs;
    std::vector<Record> rows;
    for (int i = 0; i < n; ++i) {
        std::string doc = i % 5 == 4 ? edited(docs[rng() % docs.size()], 99, 1, i) : random_doc(rng, 100);
        docs.push_back(doc);
        rows.push_back({{"i", i}, {"text", doc}});
    }
    return rows;
}

TEST(DedupMinHashBlock, RejectsNearDuplicateNamingTheKeptRow) {
    auto b = minhash_block({{"shingle", "char"}, {"ngram", 3}});
    auto r = feed(*b, {{{"text", "hello world"}},
                       {{"text", "something else entirely"}},
                       {{"text", "Hello world!"}},
                       {{"other", 1}},
                       {{"text", 5}}});
    ASSERT_EQ(r.kept.size(), 2u);
    ASSERT_EQ(r.rejected.size(), 3u);
    // "hello world" has 9 character 3-shingles, "hello world!" the same 9 and "ld!": J = 0.9.
    EXPECT_EQ(r.rejected[0].at(kReasonColumn), "near-duplicate of row 1 on text: Jaccard 0.900 (>= 0.8)");
    EXPECT_EQ(r.rejected[1].at(kReasonColumn), "missing column 'text'");
    EXPECT_EQ(r.rejected[2].at(kReasonColumn), "column 'text' is not a string (got number)");
}

TEST(DedupMinHashBlock, ThresholdDecides) {
    // J = 5/7 ~ 0.714 between these two (see OneChangedWordOfTenWordText).
    const std::vector<Record> rows = {{{"text", numbered_words(0, 10)}}, {{"text", numbered_words(0, 9) + " other"}}};
    // One row per band makes the pair a candidate for sure; the threshold alone decides.
    EXPECT_EQ(feed(*minhash_block({{"threshold", 0.7}, {"bands", 128}, {"rows", 1}}), rows).kept.size(), 1u);
    EXPECT_EQ(feed(*minhash_block({{"threshold", 0.72}, {"bands", 128}, {"rows", 1}}), rows).kept.size(), 2u);
}

TEST(DedupMinHashBlock, StateDeltasRestoreTheSameDecisions) {
    const auto rows = corpus(400);
    auto whole = minhash_block(Json::object());
    const Fed expected = feed(*whole, rows);
    ASSERT_EQ(expected.rejected.size(), 80u);

    auto first = minhash_block(Json::object());
    std::vector<std::string> deltas;
    feed(*first, {rows.begin(), rows.begin() + 150});
    deltas.push_back(first->take_state_delta());
    feed(*first, {rows.begin() + 150, rows.begin() + 230});
    deltas.push_back(first->take_state_delta());
    EXPECT_EQ(first->take_state_delta(), "");  // nothing new

    auto resumed = minhash_block(Json::object());
    resumed->restore_state(deltas);
    const Fed rest = feed(*resumed, {rows.begin() + 230, rows.end()});
    std::vector<Record> want_kept, want_rejected;
    for (const auto& r : expected.kept)
        if (r.at("i").get<int>() >= 230) want_kept.push_back(r);
    for (const auto& r : expected.rejected)
        if (r.at("i").get<int>() >= 230) want_rejected.push_back(r);
    EXPECT_EQ(rest.kept, want_kept);
    EXPECT_EQ(rest.rejected, want_rejected);  // same reasons: same ordinals and Jaccard

    // Deltas taken after a restore continue the sequence: replaying all of them rejects every row.
    deltas.push_back(resumed->take_state_delta());
    auto again = minhash_block(Json::object());
    again->restore_state(deltas);
    EXPECT_TRUE(feed(*again, rows).kept.empty());
}

TEST(DedupMinHashBlock, CorruptStateIsRunError) {
    auto b = minhash_block(Json::object());
    feed(*b, {{{"text", "one two three four five six"}}, {{"text", "seven eight nine ten eleven"}}});
    const std::string delta = b->take_state_delta();
    auto fresh = minhash_block(Json::object());
    EXPECT_THROW(fresh->restore_state({delta.substr(0, delta.size() - 2)}), RunError);
    EXPECT_THROW(fresh->restore_state({std::string("\x09\x01\x00", 3)}), RunError);
    EXPECT_NO_THROW(fresh->restore_state({delta}));
}

TEST(DedupMinHashBlock, ConfigErrorsNameTheField) {
    auto error = [](const Json& config) -> std::string {
        try {
            minhash_block(config);
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_EQ(error({{"bands", 4}}), "config.rows: set bands and rows together, or neither to have them chosen");
    EXPECT_EQ(error({{"bands", 20}, {"rows", 10}}), "config.bands: bands * rows = 200 exceeds num_perm (128)");
    EXPECT_EQ(error({{"false_positive_weight", 0}, {"false_negative_weight", 0}}),
              "config.false_negative_weight: the two weights cannot both be 0");
    EXPECT_EQ(error({{"bands", 16}, {"rows", 8}}), "");
}

}  // namespace
}  // namespace synthforge
