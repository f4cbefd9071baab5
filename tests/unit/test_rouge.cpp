#include "synthforge/text/rouge.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace synthforge::text;

size_t dp_lcs(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
    std::vector<size_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
    for (size_t i = 1; i <= a.size(); ++i) {
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

double brute_f1(const std::vector<uint32_t>& target, const std::vector<uint32_t>& prediction) {
    return rouge_l_f1_from_lcs(dp_lcs(target, prediction), target.size(), prediction.size());
}

std::string words(size_t count, auto&& word_at) {
    std::string s;
    for (size_t i = 0; i < count; ++i) {
        if (i) s += ' ';
        s += word_at(i);
    }
    return s;
}

TEST(RougeTokenize, MatchesRougeScoreRules) {
    using V = std::vector<std::string>;
    EXPECT_EQ(rouge_tokenize("Hello, World! It's 2nd-order."), (V{"hello", "world", "it", "s", "2nd", "order"}));
    EXPECT_EQ(rouge_tokenize(""), V{});
    EXPECT_EQ(rouge_tokenize(" \t\n "), V{});
    EXPECT_EQ(rouge_tokenize("café naïve"), (V{"caf", "na", "ve"}));  // non-ASCII letters separate
    EXPECT_EQ(rouge_tokenize("日本語 abc"), V{"abc"});
    // Python lower(): U+0130 -> "i" + U+0307 (a separator), U+212A KELVIN SIGN -> "k".
    EXPECT_EQ(rouge_tokenize("xİy"), (V{"xi", "y"}));
    EXPECT_EQ(rouge_tokenize("\u212Aelvin"), V{"kelvin"});
    EXPECT_EQ(rouge_tokenize("a\xFF\xC4"
                             "b"),
              (V{"a", "b"}));  // broken UTF-8 bytes separate
}

TEST(RougeLcs, SmallCases) {
    EXPECT_EQ(lcs_length({}, {}), 0u);
    EXPECT_EQ(lcs_length({1, 2, 3}, {}), 0u);
    EXPECT_EQ(lcs_length({1, 2, 3}, {1, 2, 3}), 3u);
    EXPECT_EQ(lcs_length({1, 2, 3, 4}, {2, 4}), 2u);
    EXPECT_EQ(lcs_length({1, 2, 1, 2, 1, 2}, {2, 1, 2, 1}), 4u);
    EXPECT_EQ(lcs_length({5, 6}, {7, 8}), 0u);
}

// Expected values were produced by running bench/reference/rouge_reference.py (`pairs` mode) on
// exactly these texts; they are the doubles Python prints with repr, hard-coded here.
TEST(RougeF1, MatchesPythonReferenceTable) {
    const std::string long_a = words(90, [](size_t i) { return "w" + std::to_string(i % 37); });
    const std::string long_b = words(80, [](size_t i) { return "w" + std::to_string((i * 7) % 37); });
    const char* names_a[] = {"alpha", "beta", "gamma", "delta", "eps"};
    const char* names_b[] = {"beta", "alpha", "delta", "gamma", "eps"};
    const std::string vlong_a = words(230, [&](size_t i) { return names_a[i % 5] + std::to_string(i % 11); });
    const std::string vlong_b = words(260, [&](size_t i) { return names_b[i % 5] + std::to_string(i % 13); });
    struct Case {
        std::string target, prediction;
        double f1;
    };
    const std::vector<Case> cases = {
        {"Write a poem about the sea.", "Write a short poem about the ocean!", 0.7692307692307692},
        {"Hello, World!", "hello world", 1.0},
        {"HELLO world", "hello WORLD", 1.0},
        {"the the the cat", "the cat the the", 0.75},
        {"a b a b a b", "b a b a", 0.8},
        {"Give 3 examples of 2nd-order ODEs", "give three examples of 2nd order odes", 0.8571428571428571},
        {"Explain the café's menu", "explain the cafe s menu", 0.8000000000000002},
        {"naïve résumé über", "na ve r sum ber", 1.0},
        {"日本語のテキスト", "日本語", 0.0},
        {"İstanbul trip", "i stanbul trip", 1.0},
        {"\u212Aelvin scale", "kelvin scale", 1.0},
        {"", "anything", 0.0},
        {"", "", 0.0},
        {"   \t  ", "some words", 0.0},
        {"!!! ??? ...", "!!!", 0.0},
        {"Identical sentence here.", "Identical sentence here.", 1.0},
        {"apples oranges pears", "cars trucks boats", 0.0},
        {"x", "x", 1.0},
        {"one two three four five six seven", "seven six five four three two one", 0.14285714285714285},
        {"data-driven e-mail o'clock", "data driven e mail o clock", 1.0},
        {"tabs\tand\nnewlines", "tabs and newlines", 1.0},
        {long_a, long_b, 0.19999999999999996},
        {vlong_a, vlong_b, 0.2612244897959184},
        {long_a, vlong_a, 0.0},
    };
    for (const auto& c : cases) {
        EXPECT_DOUBLE_EQ(rouge_l_f1(c.target, c.prediction), c.f1) << c.target << " | " << c.prediction;
        // Bit-identical, not just close: threshold decisions depend on the last ulp.
        EXPECT_EQ(rouge_l_f1(c.target, c.prediction), c.f1) << c.target << " | " << c.prediction;
        EXPECT_EQ(rouge_l_f1(c.prediction, c.target), c.f1) << "symmetric: " << c.target;
    }
}

TEST(RougeLcs, BitParallelEqualsDynamicProgramming) {
    std::mt19937 rng(12345);
    for (int iter = 0; iter < 4000; ++iter) {
        const size_t max_len = iter % 4 == 0 ? 300 : (iter % 4 == 1 ? 130 : 40);
        const uint32_t alphabet = 1 + rng() % (iter % 3 == 0 ? 3 : 40);
        std::vector<uint32_t> a(rng() % (max_len + 1)), b(rng() % (max_len + 1));
        for (auto& x : a) x = rng() % alphabet;
        for (auto& x : b) x = rng() % alphabet;
        if (iter % 7 == 0 && !a.empty()) {  // a near-copy: long LCS, carries across words
            b = a;
            for (int e = 0; e < 3 && !b.empty(); ++e) b.erase(b.begin() + rng() % b.size());
        }
        ASSERT_EQ(lcs_length(a, b), dp_lcs(a, b)) << "iter " << iter << " |a|=" << a.size() << " |b|=" << b.size();
        ASSERT_EQ(lcs_length(b, a), dp_lcs(a, b));
    }
    // Exact word boundaries of the multi-word bitvectors.
    for (size_t n : {63u, 64u, 65u, 127u, 128u, 129u, 192u, 257u}) {
        std::vector<uint32_t> a(n), b(n);
        for (size_t i = 0; i < n; ++i) a[i] = b[i] = static_cast<uint32_t>(i % 5);
        EXPECT_EQ(lcs_length(a, b), n);
        b.pop_back();
        EXPECT_EQ(lcs_length(a, b), dp_lcs(a, b));
    }
}

// Random pools of word-id sentences with planted near-duplicates (edited copies of earlier items).
std::vector<std::vector<uint32_t>> random_sentences(std::mt19937& rng, size_t count, uint32_t vocab, size_t max_len) {
    std::vector<std::vector<uint32_t>> out;
    // Zipf-ish: small ids are common, like stop words.
    auto word = [&] {
        return static_cast<uint32_t>(std::min<double>(vocab - 1, std::pow(rng() % 10000 / 10000.0, 3) * vocab));
    };
    for (size_t i = 0; i < count; ++i) {
        std::vector<uint32_t> s;
        if (!out.empty() && rng() % 4 == 0) {
            s = out[rng() % out.size()];
            const int edits = static_cast<int>(rng() % 4);
            for (int e = 0; e < edits; ++e) {
                const auto kind = rng() % 3;
                if (kind == 0 && !s.empty())
                    s.erase(s.begin() + rng() % s.size());
                else if (kind == 1)
                    s.insert(s.begin() + rng() % (s.size() + 1), word());
                else if (!s.empty())
                    s[rng() % s.size()] = word();
            }
        } else {
            s.resize(rng() % (max_len + 1));
            for (auto& x : s) x = word();
        }
        out.push_back(std::move(s));
    }
    return out;
}

TEST(RougeIndex, AnyAboveEqualsBruteForce) {
    std::mt19937 rng(777);
    for (double threshold : {0.5, 0.7, 0.9, 0.0, 1.0}) {
        for (int round = 0; round < 3; ++round) {
            const size_t max_len = round == 2 ? 140 : 30;  // round 2 exercises multi-word candidates
            const auto sentences = random_sentences(rng, round == 2 ? 250 : 700, 60 + 200 * round, max_len);
            RougeLIndex index;
            std::vector<std::vector<uint32_t>> pool;
            for (const auto& s : sentences) {
                size_t which = RougeLIndex::npos;
                const bool got = index.any_above(s, threshold, &which);
                bool expect = false;
                for (const auto& p : pool) expect = expect || brute_f1(p, s) > threshold;
                ASSERT_EQ(got, expect) << "threshold " << threshold << " pool " << pool.size();
                if (got) {
                    ASSERT_LT(which, pool.size());
                    EXPECT_GT(brute_f1(pool[which], s), threshold);
                } else {
                    EXPECT_EQ(which, RougeLIndex::npos);
                }
                // Self-Instruct: keep when nothing is above; every third dropped item is kept anyway
                // so the pool also holds near-duplicates of its own items.
                if (!got || pool.size() % 3 == 0) {
                    index.add(s);
                    pool.push_back(s);
                }
            }
        }
    }
}

TEST(RougeIndex, MaxF1EqualsBruteForce) {
    std::mt19937 rng(4242);
    const auto sentences = random_sentences(rng, 600, 150, 40);
    RougeLIndex index;
    std::vector<std::vector<uint32_t>> pool;
    for (const auto& s : sentences) {
        const auto best = index.max_f1(s);
        double expect = 0;
        size_t expect_item = RougeLIndex::npos;
        for (size_t i = 0; i < pool.size(); ++i) {
            const double f = brute_f1(pool[i], s);
            if (f > 0 && (expect_item == RougeLIndex::npos || f > expect)) {
                expect = f;
                expect_item = i;
            }
        }
        ASSERT_EQ(best.f1, expect);
        ASSERT_EQ(best.item, expect_item);
        index.add(s);
        pool.push_back(s);
    }
}

TEST(RougeIndex, EdgeThresholdsAndEmpty) {
    RougeLIndex index;
    EXPECT_FALSE(index.any_above({1, 2}, 0.5));
    index.add({1, 2, 3});
    index.add({});
    EXPECT_FALSE(index.any_above({}, 0.0));      // F1 with an empty candidate is 0
    EXPECT_FALSE(index.any_above({9, 8}, 0.0));  // disjoint: F1 0 is not > 0
    EXPECT_TRUE(index.any_above({3, 9}, 0.0));
    EXPECT_FALSE(index.any_above({1, 2, 3}, 1.0));  // nothing exceeds 1
    EXPECT_TRUE(index.any_above({9}, -0.1));
    EXPECT_EQ(index.max_f1({7}).item, RougeLIndex::npos);
    EXPECT_EQ(index.max_f1({1, 2, 3}).f1, 1.0);
}

// The C++ filter and the Python reference agree on every keep/drop decision.
TEST(RougeIndex, FilterMatchesPythonReference) {
    std::string data_dir = SYNTHFORGE_TEST_DATA;  // "<repo>/tests/data"
    const std::string source_dir = data_dir.substr(0, data_dir.rfind("/tests/data"));
    const std::string script = source_dir + "/bench/reference/rouge_reference.py";
    ASSERT_TRUE(std::filesystem::exists(script)) << script;

    static const char* kWords[] = {
        "write", "a",        "the",  "poem",      "about",     "explain",    "how",    "to",       "list",
        "five",  "reasons",  "why",  "summarize", "following", "article",    "in",     "one",      "sentence",
        "give",  "examples", "of",   "Python",    "function",  "that",       "sorts",  "numbers",  "describe",
        "your",  "favorite", "city", "translate", "into",      "French",     "is",     "it",       "good",
        "idea",  "compare",  "and",  "contrast",  "two",       "approaches", "for",    "learning", "café",
        "naïve", "3",        "2nd",  "e-mail",    "don't",     "C++",        "user's", "question", "answer"};
    constexpr size_t kNumWords = sizeof(kWords) / sizeof(kWords[0]);
    std::mt19937 rng(99);
    std::vector<std::string> texts;
    for (size_t i = 0; i < 300; ++i) {
        std::string t;
        if (!texts.empty() && rng() % 5 == 0) {  // near-duplicate: a prior text with a word changed/appended
            t = texts[rng() % texts.size()];
            if (rng() % 2)
                t += " " + std::string(kWords[rng() % kNumWords]);
            else if (auto sp = t.find(' '); sp != std::string::npos)
                t = std::string(kWords[rng() % kNumWords]) + t.substr(sp);
            if (rng() % 3 == 0) t += "?";
        } else {
            const size_t n = 3 + rng() % 20;
            for (size_t w = 0; w < n; ++w) t += (w ? " " : "") + std::string(kWords[rng() % kNumWords]);
            t += ".";
        }
        texts.push_back(t);
    }
    const auto dir = std::filesystem::temp_directory_path() / ("synthforge_rouge_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto file = dir / "instructions.txt";
    {
        std::ofstream out(file);
        for (const auto& t : texts) out << t << '\n';
    }
    for (double threshold : {0.7, 0.5}) {
        const std::string cmd =
            "python3 '" + script + "' filter '" + file.string() + "' --threshold " + std::to_string(threshold);
        FILE* pipe = ::popen(cmd.c_str(), "r");
        ASSERT_NE(pipe, nullptr);
        std::vector<std::string> expected;
        char line[64];
        while (std::fgets(line, sizeof(line), pipe)) expected.emplace_back(std::string(line).substr(0, 4));
        ASSERT_EQ(::pclose(pipe), 0) << cmd;
        ASSERT_EQ(expected.size(), texts.size());

        TokenVocab vocab;
        RougeLIndex index;
        size_t drops = 0;
        for (size_t i = 0; i < texts.size(); ++i) {
            auto tokens = vocab.encode(texts[i]);
            const bool drop = index.any_above(tokens, threshold);
            if (!drop) index.add(std::move(tokens));
            drops += drop;
            ASSERT_EQ(drop ? "drop" : "keep", expected[i]) << "line " << i + 1 << ": " << texts[i];
        }
        EXPECT_GT(drops, 10u);  // the planted near-duplicates are really exercised
    }
    std::filesystem::remove_all(dir);
}

}  // namespace
