// Unit tests of the diversity metrics: distinct-n and entropy on hand-computed sets, first
// words, self-BLEU and mean pairwise ROUGE-L against constants computed by nltk and the
// rouge_score-equivalent reference (bench/reference/self_bleu_reference.py), the homogeneity
// flags, and the seeded sample (pinned positions, uniformity, determinism).

#include "synthforge/text/diversity.h"

#include "synthforge/text/rouge.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace {

using namespace synthforge::text;
using Texts = std::vector<std::string_view>;

std::vector<std::string> metric_names(const DiversityMetrics& m) {
    std::vector<std::string> out;
    for (const auto& f : m.flags) out.push_back(f.metric);
    return out;
}

// Texts of 3 .. max_words words drawn from a small vocabulary (a fixed LCG, so fixed texts).
std::vector<std::string> generated_texts(size_t count, size_t max_words = 11) {
    static const char* kWords[] = {"write", "a",        "short", "poem",   "about", "the",   "sea",   "explain",
                                   "how",   "rainbows", "form",  "list",   "three", "tips",  "for",   "sleep",
                                   "story", "robot",    "who",   "paints", "cat",   "night", "quick", "brown"};
    std::vector<std::string> out;
    uint64_t x = 12345;
    for (size_t i = 0; i < count; ++i) {
        std::string t;
        const size_t len = 3 + (i * 7919) % (max_words - 2);
        for (size_t w = 0; w < len; ++w) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            if (w) t += ' ';
            t += kWords[(x >> 33) % (sizeof kWords / sizeof kWords[0])];
        }
        out.push_back(t);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// distinct-n, entropy, counts

TEST(DiversityNgrams, OneTextOfFourWords) {
    const auto m = diversity_metrics(Texts{"a b c d"});
    EXPECT_EQ(m.texts, 1u);
    EXPECT_EQ(m.empty_texts, 0u);
    EXPECT_EQ(m.tokens, 4u);
    EXPECT_EQ(m.vocabulary, 4u);
    EXPECT_EQ(m.distinct_1, 1.0);
    EXPECT_EQ(m.distinct_2, 1.0);
    EXPECT_EQ(m.distinct_3, 1.0);
    EXPECT_EQ(m.entropy_1, 2.0);  // 4 equally frequent unigrams
    EXPECT_DOUBLE_EQ(m.entropy_2, std::log2(3.0));
    EXPECT_EQ(m.entropy_3, 1.0);  // "a b c", "b c d"
    // One text: nothing to compare it with.
    EXPECT_EQ(m.self_bleu_sample, 0u);
    EXPECT_EQ(m.self_bleu, 0.0);
    EXPECT_EQ(m.rougel_pairs, 0u);
    EXPECT_EQ(m.mean_pairwise_rougel, 0.0);
}

TEST(DiversityNgrams, RepeatedWords) {
    // Unigrams a:3 b:3. Bigrams "a a", "a b", "b b", "a b": 3 distinct of 4, p = 1/4, 1/2, 1/4.
    // Trigrams "a a b", "a b b".
    const auto m = diversity_metrics(Texts{"a a b b", "a b"});
    EXPECT_EQ(m.tokens, 6u);
    EXPECT_EQ(m.vocabulary, 2u);
    EXPECT_DOUBLE_EQ(m.distinct_1, 2.0 / 6.0);
    EXPECT_EQ(m.distinct_2, 0.75);
    EXPECT_EQ(m.distinct_3, 1.0);
    EXPECT_EQ(m.entropy_1, 1.0);
    EXPECT_EQ(m.entropy_2, 1.5);
    EXPECT_EQ(m.entropy_3, 1.0);
}

TEST(DiversityNgrams, NgramsDoNotCrossTexts) {
    const auto m = diversity_metrics(Texts{"a b", "c d"});
    EXPECT_EQ(m.distinct_2, 1.0);  // "a b", "c d"; no "b c"
    EXPECT_EQ(m.entropy_2, 1.0);
    EXPECT_EQ(m.distinct_3, 0.0);  // no trigram at all: 0, not 0 / 0
    EXPECT_EQ(m.entropy_3, 0.0);
    EXPECT_EQ(m.self_bleu, 0.0);  // no shared word: nltk returns 0
    EXPECT_EQ(m.mean_pairwise_rougel, 0.0);
}

TEST(DiversityNgrams, CaseAndPunctuationDoNotMatter) {
    const auto a = diversity_metrics(Texts{"Hello, WORLD! Hello again.", "hello-world"});
    const auto b = diversity_metrics(Texts{"hello world hello again", "hello world"});
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.vocabulary, 3u);
    EXPECT_EQ(a.distinct_2, b.distinct_2);
    EXPECT_EQ(a.entropy_1, b.entropy_1);
    EXPECT_EQ(a.self_bleu, b.self_bleu);
}

TEST(DiversityNgrams, EmptyInputAndTextsWithoutTokens) {
    const auto none = diversity_metrics(Texts{});
    EXPECT_EQ(none.texts, 0u);
    EXPECT_EQ(none.tokens, 0u);
    EXPECT_EQ(none.distinct_1, 0.0);
    EXPECT_EQ(none.entropy_1, 0.0);
    EXPECT_EQ(none.self_bleu_sample, 0u);
    EXPECT_TRUE(none.first_words.empty());
    EXPECT_TRUE(none.flags.empty());

    const auto blank = diversity_metrics(Texts{"", "  !!! ", "\xE2\x80\x94"});
    EXPECT_EQ(blank.texts, 3u);
    EXPECT_EQ(blank.empty_texts, 3u);
    EXPECT_EQ(blank.tokens, 0u);
    EXPECT_EQ(blank.vocabulary, 0u);
    EXPECT_EQ(blank.distinct_2, 0.0);
    EXPECT_FALSE(std::isnan(blank.entropy_2));
    EXPECT_EQ(blank.self_bleu_sample, 0u);
    EXPECT_EQ(blank.distinct_first_words, 0u);
    EXPECT_TRUE(blank.flags.empty());

    // Texts without tokens take no part: the rest is scored as if they were not there.
    const auto mixed = diversity_metrics(Texts{"", "a b c d", "...", "a b c d e f", ""});
    const auto clean = diversity_metrics(Texts{"a b c d", "a b c d e f"});
    EXPECT_EQ(mixed.texts, 5u);
    EXPECT_EQ(mixed.empty_texts, 3u);
    EXPECT_EQ(mixed.self_bleu_sample, 2u);
    EXPECT_EQ(mixed.self_bleu, clean.self_bleu);
    EXPECT_EQ(mixed.mean_pairwise_rougel, clean.mean_pairwise_rougel);
    EXPECT_EQ(mixed.first_words[0].share, 1.0);
}

// ---------------------------------------------------------------------------------------------
// First words

TEST(DiversityFirstWords, CountsSharesAndOrder) {
    const Texts texts{
        "Write a poem.", "write a story", "Explain gravity", "Write", "", "explain  quantum physics", "?!"};
    DiversityOptions o;
    const auto m = diversity_metrics(texts, o);
    // 5 texts have tokens: "write a" x2, then count 1 in word order.
    ASSERT_EQ(m.first_words.size(), 4u);
    EXPECT_EQ(m.distinct_first_words, 4u);
    EXPECT_EQ(m.first_words[0].words, "write a");
    EXPECT_EQ(m.first_words[0].count, 2u);
    EXPECT_EQ(m.first_words[0].share, 0.4);
    EXPECT_EQ(m.first_words[1].words, "explain gravity");
    EXPECT_EQ(m.first_words[2].words, "explain quantum");
    EXPECT_EQ(m.first_words[3].words, "write");  // a one-token text uses what it has
    EXPECT_EQ(m.first_words[3].count, 1u);
    EXPECT_EQ(m.first_words[3].share, 0.2);

    o.first_words = 1;
    o.top_first_words = 1;
    const auto one = diversity_metrics(texts, o);
    EXPECT_EQ(one.distinct_first_words, 2u);
    ASSERT_EQ(one.first_words.size(), 1u);  // truncated to the top entry
    EXPECT_EQ(one.first_words[0].words, "write");
    EXPECT_EQ(one.first_words[0].count, 3u);
    EXPECT_EQ(one.first_words[0].share, 0.6);

    o.first_words = 0;  // disabled
    const auto off = diversity_metrics(texts, o);
    EXPECT_TRUE(off.first_words.empty());
    EXPECT_EQ(off.distinct_first_words, 0u);
}

// ---------------------------------------------------------------------------------------------
// Self-BLEU and mean pairwise ROUGE-L against the references

TEST(DiversitySelfBleu, HandComputedBrevityPenaltyAndPrecisions) {
    // "a b c d" against "a b c d e f": every precision 1, BP exp(1 - 6/4).
    // "a b c d e f" against "a b c d": p = 4/6, 3/5, 2/4, 1/3, BP 1, BLEU (1/15)^(1/4).
    const auto m = diversity_metrics(Texts{"a b c d", "a b c d e f"});
    EXPECT_EQ(m.self_bleu_sample, 2u);
    EXPECT_NEAR(m.self_bleu, (std::exp(-0.5) + std::pow(1.0 / 15.0, 0.25)) / 2, 1e-15);
    EXPECT_EQ(m.rougel_pairs, 1u);
    EXPECT_DOUBLE_EQ(m.mean_pairwise_rougel, 0.8);  // LCS 4: p 4/6, r 1
}

// The sets of bench/reference/self_bleu_reference.py (CASES) and the values it prints with
// `/usr/bin/python3 bench/reference/self_bleu_reference.py cases` (nltk 3.8, Debian's
// python3-nltk). For a set `texts` the self-BLEU constant is
//
//   from nltk.translate.bleu_score import sentence_bleu, SmoothingFunction
//   import re
//   def tok(s): return [t for t in re.sub(r"[^a-z0-9]+", " ", s.lower()).split()]
//   toks = [t for t in map(tok, texts) if t]
//   sm = SmoothingFunction().method1
//   scores = [sentence_bleu(toks[:i] + toks[i+1:], h, smoothing_function=sm) for i, h in enumerate(toks)]
//   print(repr(sum(scores) / len(scores)))
//
// and the ROUGE-L constant the mean of rouge_reference.rouge_l_f1 over all pairs i < j.
struct Reference {
    const char* name;
    std::vector<std::string_view> texts;
    double self_bleu;
    double mean_rougel;
};

const std::vector<Reference>& references() {
    static const std::vector<Reference> cases = {
        {"kIdentical", Texts(3, "The quick brown fox jumps over the lazy dog."), 1.0, 1.0},
        {"kDisjoint", {"alpha beta gamma delta", "one two three four", "red green blue yellow"}, 0.0, 0.0},
        {"kOneSharedWord",
         {"alpha beta gamma delta the", "one two three four the five", "red green the blue yellow"},
         0.04942727407624683,
         0.18787878787878787},
        // Shorter than 4 words: missing orders count as 0.1 / 1, as in nltk.
        {"kShort", {"hello world", "Hello there!", "world peace now", "hi"}, 0.11024618894319109, 0.15},
        // "a b c d e" is 2 words from both others: nltk takes the shorter, so no brevity penalty.
        {"kLengthTie", {"a b c", "a b c d e", "a b c d e f g"}, 0.6345012720144877, 0.7277777777777777},
        {"kClipping",
         {"the the the the the the the", "The cat is on the mat.", "There is a cat on the mat."},
         0.14280854670791718,
         0.3553113553113552},
        {"kRealistic",
         {"Write a short poem about the ocean at night.", "Write a short story about a robot who learns to paint.",
          "Explain how photosynthesis works in simple terms.",
          "Explain the difference between a virus and a bacterium.", "List five tips for improving sleep quality.",
          "Give me a recipe for a quick vegetarian dinner.",
          "Summarize the plot of Romeo and Juliet in three sentences.", "Write a haiku about autumn leaves.",
          "What are the main causes of the French Revolution?", "Translate 'good morning, how are you?' into Spanish."},
         0.05600921695013622,
         0.08069372778351107},
    };
    return cases;
}

const Texts kHomogeneous = {
    "Write a short story about a cat who learns to fly.",   "Write a short story about a dog who learns to swim.",
    "Write a short story about a cat who learns to sing.",  "Write a short story about a bird who learns to dance.",
    "Write a short story about a dog who learns to paint.", "Write a short story about a fish who learns to fly.",
    "Write a short story about a cat who learns to cook.",  "Write a short story about a mouse who learns to swim.",
};
// self_bleu_reference.py: kHomogeneous self_bleu=0.8338207745233268 mean_rougel=0.8376623376623371
constexpr double kHomogeneousSelfBleu = 0.8338207745233268;
constexpr double kHomogeneousRougeL = 0.8376623376623371;

const Texts kDiverse = {
    "Explain why the sky looks blue during the day.",    "List three uses of baking soda around the house.",
    "Translate 'thank you very much' into Japanese.",    "How do vaccines train the immune system?",
    "Compose a limerick about a forgetful wizard.",      "Which planets have rings, and what are they made of?",
    "Suggest a name for a bakery that sells only pies.", "Summarize the causes of inflation in two sentences.",
};
// self_bleu_reference.py: kDiverse self_bleu=0.025505818702130957 mean_rougel=0.04219310531230036
constexpr double kDiverseSelfBleu = 0.025505818702130957;
constexpr double kDiverseRougeL = 0.04219310531230036;

// The same operations as nltk in the same order (down to math.fsum): on one libm the values
// agree to the last bit; the tolerance leaves room for another libm's log and exp.
constexpr double kNltkTolerance = 1e-12;

TEST(DiversitySelfBleu, MatchesNltk) {
    for (const auto& c : references()) {
        SCOPED_TRACE(c.name);
        const auto m = diversity_metrics(c.texts);
        EXPECT_EQ(m.self_bleu_sample, c.texts.size());
        EXPECT_NEAR(m.self_bleu, c.self_bleu, kNltkTolerance);
        EXPECT_EQ(m.rougel_pairs, c.texts.size() * (c.texts.size() - 1) / 2);
        EXPECT_NEAR(m.mean_pairwise_rougel, c.mean_rougel, kNltkTolerance);
    }
    const auto h = diversity_metrics(kHomogeneous);
    EXPECT_NEAR(h.self_bleu, kHomogeneousSelfBleu, kNltkTolerance);
    EXPECT_NEAR(h.mean_pairwise_rougel, kHomogeneousRougeL, kNltkTolerance);
    const auto d = diversity_metrics(kDiverse);
    EXPECT_NEAR(d.self_bleu, kDiverseSelfBleu, kNltkTolerance);
    EXPECT_NEAR(d.mean_pairwise_rougel, kDiverseRougeL, kNltkTolerance);
}

TEST(DiversitySelfBleu, IdenticalTextsScoreOneDisjointZero) {
    EXPECT_EQ(diversity_metrics(references()[0].texts).self_bleu, 1.0);
    EXPECT_EQ(diversity_metrics(references()[1].texts).self_bleu, 0.0);
    // Identical two-word texts: both orders that exist match fully, the two missing ones
    // count 0.1 each (method1), so not 1 but (1 * 1 * 0.1 * 0.1)^(1/4).
    EXPECT_EQ(diversity_metrics(Texts{"hi there", "Hi, there!"}).self_bleu, std::exp(0.25 * 2 * std::log(0.1)));
}

TEST(DiversityRougeL, EqualsMeanOfRougeLF1OverPairs) {
    // Lengths around and beyond 64 words, where the bit-parallel LCS needs several words.
    const auto owned = generated_texts(12, 150);
    const Texts texts(owned.begin(), owned.end());
    double sum = 0;
    size_t pairs = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
        for (size_t j = i + 1; j < texts.size(); ++j, ++pairs) sum += rouge_l_f1(texts[i], texts[j]);
    }
    const auto m = diversity_metrics(texts);
    EXPECT_EQ(m.rougel_pairs, pairs);
    EXPECT_EQ(m.mean_pairwise_rougel, sum / static_cast<double>(pairs));
}

// ---------------------------------------------------------------------------------------------
// Flags

TEST(DiversityFlags, HomogeneousSetRaisesEveryFlag) {
    const auto m = diversity_metrics(kHomogeneous);
    // 8 texts x 10 bigrams; distinct: 5 shared + "a X" x5 + "X who" x5 + 2 shared + "to Y" x6.
    EXPECT_DOUBLE_EQ(m.distinct_2, 23.0 / 80.0);
    ASSERT_EQ(m.first_words.size(), 1u);
    EXPECT_EQ(m.first_words[0].words, "write a");
    EXPECT_EQ(m.first_words[0].share, 1.0);
    EXPECT_EQ(metric_names(m),
              (std::vector<std::string>{"distinct_2", "self_bleu", "mean_pairwise_rougel", "first_words"}));
    EXPECT_EQ(m.flags[0].message,
              "distinct-2 is 0.29 (< 0.30): the texts reuse the same phrases; raise the temperature or diversify "
              "the seeds");
    EXPECT_NE(m.flags[1].message.find("self-BLEU is 0.83 (> 0.50) over 8 sampled texts"), std::string::npos);
    EXPECT_NE(m.flags[2].message.find("mean pairwise ROUGE-L is 0.84 (> 0.50)"), std::string::npos);
    EXPECT_NE(m.flags[3].message.find("100% of the texts begin with \"write a\" (> 20%)"), std::string::npos);
}

TEST(DiversityFlags, DiverseSetRaisesNone) {
    const auto m = diversity_metrics(kDiverse);
    EXPECT_GT(m.distinct_2, 0.9);
    EXPECT_EQ(m.distinct_first_words, kDiverse.size());
    EXPECT_TRUE(m.flags.empty()) << m.flags[0].message;
}

TEST(DiversityFlags, ThresholdsComeFromOptions) {
    DiversityOptions o;
    o.min_distinct_2 = 0.2;
    o.max_self_bleu = 0.9;
    o.max_mean_rougel = 0.9;
    o.max_top_first_share = 1.0;
    EXPECT_TRUE(diversity_metrics(kHomogeneous, o).flags.empty());
    o.min_distinct_2 = 1.1;  // every bigram of kDiverse is distinct (1.0), still below this
    o.max_self_bleu = 0.01;
    EXPECT_EQ(metric_names(diversity_metrics(kDiverse, o)), (std::vector<std::string>{"distinct_2", "self_bleu"}));
}

TEST(DiversityFlags, OpeningsMustRepeatToBeFlagged) {
    // Each of 3 texts has a share of 1/3 > 0.2, but no opening is shared.
    EXPECT_TRUE(diversity_metrics(Texts{"write a poem", "explain gravity now", "list five fruits"}).flags.empty());
}

// ---------------------------------------------------------------------------------------------
// The seeded sample

TEST(DiversityMetricsSample, PinnedPositions) {
    // `self_bleu_reference.py sample N K SEED`, an independent implementation with Python
    // integers: the same positions on every machine and standard library.
    EXPECT_EQ(diversity_sample_positions(10, 3, 0), (std::vector<size_t>{0, 3, 7}));
    EXPECT_EQ(diversity_sample_positions(1000, 5, 42), (std::vector<size_t>{38, 159, 278, 343, 738}));
    EXPECT_EQ(diversity_sample_positions(5, 2, 7), (std::vector<size_t>{0, 1}));
    EXPECT_EQ(diversity_sample_positions(4, 10, 1), (std::vector<size_t>{0, 1, 2, 3}));
    EXPECT_EQ(diversity_sample_positions(4, 4, 1), (std::vector<size_t>{0, 1, 2, 3}));
    EXPECT_TRUE(diversity_sample_positions(0, 5, 1).empty());
    EXPECT_TRUE(diversity_sample_positions(5, 0, 1).empty());
}

TEST(DiversityMetricsSample, DistinctAscendingAndUniform) {
    constexpr size_t kN = 10, kK = 3, kSeeds = 30000;
    std::vector<size_t> hits(kN, 0);
    for (uint64_t seed = 0; seed < kSeeds; ++seed) {
        const auto s = diversity_sample_positions(kN, kK, seed);
        ASSERT_EQ(s.size(), kK);
        for (size_t i = 0; i < s.size(); ++i) {
            ASSERT_LT(s[i], kN);
            if (i > 0) {
                ASSERT_LT(s[i - 1], s[i]);
            }
            ++hits[s[i]];
        }
        ASSERT_EQ(s, diversity_sample_positions(kN, kK, seed));
    }
    // Each position is drawn with probability 3/10: 9000 expected, standard deviation ~79.
    for (size_t h : hits) EXPECT_NEAR(static_cast<double>(h), 9000.0, 400.0);
}

TEST(DiversityMetricsSample, SameSeedSameResultAndSampleIsThePublishedOne) {
    const auto owned = generated_texts(40);
    const Texts texts(owned.begin(), owned.end());
    DiversityOptions o;
    o.sample_size = 10;
    o.seed = 5;
    const auto a = diversity_metrics(texts, o);
    const auto b = diversity_metrics(texts, o);
    EXPECT_EQ(a.self_bleu_sample, 10u);
    EXPECT_EQ(a.rougel_pairs, 45u);
    EXPECT_EQ(a.self_bleu, b.self_bleu);
    EXPECT_EQ(a.mean_pairwise_rougel, b.mean_pairwise_rougel);

    // The sample is diversity_sample_positions(40, 10, 5): scoring exactly those texts gives the same.
    Texts subset;
    for (size_t i : diversity_sample_positions(texts.size(), 10, 5)) subset.push_back(texts[i]);
    o.sample_size = 500;
    const auto sub = diversity_metrics(subset, o);
    EXPECT_EQ(a.self_bleu, sub.self_bleu);
    EXPECT_EQ(a.mean_pairwise_rougel, sub.mean_pairwise_rougel);

    // Whole-set metrics do not depend on the sample.
    o.sample_size = 10;
    o.seed = 6;
    const auto c = diversity_metrics(texts, o);
    EXPECT_NE(diversity_sample_positions(40, 10, 5), diversity_sample_positions(40, 10, 6));
    EXPECT_NE(a.self_bleu, c.self_bleu);
    EXPECT_EQ(a.distinct_2, c.distinct_2);
    EXPECT_EQ(a.entropy_3, c.entropy_3);
}

TEST(DiversityMetricsSample, SampleAtLeastTheSetUsesEveryText) {
    const auto owned = generated_texts(40);
    const Texts texts(owned.begin(), owned.end());
    DiversityOptions o;
    o.sample_size = 40;
    const auto all = diversity_metrics(texts, o);
    EXPECT_EQ(all.self_bleu_sample, 40u);
    EXPECT_EQ(all.rougel_pairs, 780u);
    o.sample_size = std::numeric_limits<size_t>::max();
    o.seed = 99;  // the seed does not matter then
    const auto more = diversity_metrics(texts, o);
    EXPECT_EQ(more.self_bleu_sample, 40u);
    EXPECT_EQ(all.self_bleu, more.self_bleu);
    EXPECT_EQ(all.mean_pairwise_rougel, more.mean_pairwise_rougel);
}

}  // namespace
