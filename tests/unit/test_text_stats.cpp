// Unit tests of the text statistics behind quality_filter: exact values on small texts
// worked out by hand, and the language detector on paragraphs of known language.

#include "synthforge/text/text_stats.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace synthforge::text {
namespace {

std::vector<std::string_view> words_of(std::initializer_list<const char*> list) {
    std::vector<std::string_view> out;
    for (const char* w : list) out.emplace_back(w);
    return out;
}

TEST(TextStats, SplitWordsOnUnicodeWhitespaceKeepingPunctuation) {
    const std::string text =
        "  Hello,\tworld\xC2\xA0"
        "again\n\xE3\x80\x80"
        "end ";  // NBSP and ideographic space
    const auto words = split_words(text);
    ASSERT_EQ(words.size(), 4u);
    EXPECT_EQ(words[0], "Hello,");
    EXPECT_EQ(words[1], "world");
    EXPECT_EQ(words[2], "again");
    EXPECT_EQ(words[3], "end");
    EXPECT_TRUE(split_words(" \n\t").empty());
}

TEST(TextStats, DuplicateLinesCountEveryCopyAndIgnoreBlankLines) {
    // Non-blank trimmed lines: alpha beta alpha gamma beta delta. alpha and beta repeat,
    // so 4 of 6 lines are duplicates; characters 5+4+5+4 = 18 of 5+4+5+5+4+5 = 28.
    const auto s = duplicate_lines("alpha\nbeta\nalpha\n\n  gamma  \nbeta\r\ndelta\n");
    EXPECT_EQ(s.lines, 6u);
    EXPECT_EQ(s.duplicate_lines, 4u);
    EXPECT_EQ(s.chars, 28u);
    EXPECT_EQ(s.duplicate_chars, 18u);
    EXPECT_DOUBLE_EQ(s.line_fraction(), 4.0 / 6.0);
    EXPECT_DOUBLE_EQ(s.char_fraction(), 18.0 / 28.0);
}

TEST(TextStats, ParagraphsSeparatedByBlankLinesAreNotDuplicates) {
    const auto s = duplicate_lines("First paragraph.\n\nSecond one.\n\n\nThird.");
    EXPECT_EQ(s.lines, 3u);
    EXPECT_EQ(s.duplicate_lines, 0u);
    EXPECT_EQ(s.line_fraction(), 0.0);
    EXPECT_EQ(duplicate_lines("").line_fraction(), 0.0);
}

TEST(TextStats, DuplicateLineCharactersAreCodePoints) {
    // "été" is 3 characters in 5 bytes; "x" is 1.
    const auto s = duplicate_lines("été\nété\nx");
    EXPECT_EQ(s.chars, 7u);
    EXPECT_EQ(s.duplicate_chars, 6u);
}

TEST(TextStats, TopNgramCoversItsOccurrences) {
    // 2-grams: "a b" x3, "b a" x2, "b c" x1. "a b" at words 0, 2, 4 covers words 0..5.
    const auto top = top_ngram(words_of({"a", "b", "a", "b", "a", "b", "c"}), 2);
    EXPECT_EQ(top.ngram, "a b");
    EXPECT_EQ(top.count, 3u);
    EXPECT_DOUBLE_EQ(top.char_fraction, 6.0 / 7.0);
}

TEST(TextStats, TopNgramCountsOverlappingCharactersOnce) {
    // "x x" occurs 3 times in "x x x x"; its occurrences cover the 4 characters once each.
    const auto top = top_ngram(words_of({"x", "x", "x", "x"}), 2);
    EXPECT_EQ(top.count, 3u);
    EXPECT_DOUBLE_EQ(top.char_fraction, 1.0);
}

TEST(TextStats, TopNgramTiesGoToMoreCharactersThenEarliest) {
    // Every 2-gram but "yyyy a" occurs twice; "xx yyyy" covers the most characters:
    // 2 * (2 + 4) = 12 of 2 * (1 + 1 + 2 + 4) = 16.
    const auto longer = top_ngram(words_of({"a", "b", "xx", "yyyy", "a", "b", "xx", "yyyy"}), 2);
    EXPECT_EQ(longer.ngram, "xx yyyy");
    EXPECT_DOUBLE_EQ(longer.char_fraction, 0.75);
    // "the cat" and "dog ran" both occur twice covering 12 characters: the earlier wins.
    const auto earlier = top_ngram(words_of({"the", "cat", "sat", "dog", "ran", "the", "cat", "dog", "ran"}), 2);
    EXPECT_EQ(earlier.ngram, "the cat");
    EXPECT_DOUBLE_EQ(earlier.char_fraction, 12.0 / 27.0);
}

TEST(TextStats, TopNgramIsZeroWithoutRepetition) {
    const auto top = top_ngram(words_of({"one", "two", "three", "four"}), 2);
    EXPECT_EQ(top.count, 0u);
    EXPECT_EQ(top.char_fraction, 0.0);
    EXPECT_EQ(top.ngram, "");
    EXPECT_EQ(top_ngram(words_of({"one"}), 2).char_fraction, 0.0);  // too short for any 2-gram
}

TEST(TextStats, DuplicateNgramsIncludeTheFirstOccurrence) {
    // The 5-gram "one two three four five" occurs at words 0 and 6; no other 5-gram repeats.
    // Covered: both copies, 2 * 19 characters, of 19 + 3 ("six") + 19 + 5 ("seven") = 46.
    const auto words =
        words_of({"one", "two", "three", "four", "five", "six", "one", "two", "three", "four", "five", "seven"});
    EXPECT_DOUBLE_EQ(duplicate_ngram_char_fraction(words, 5), 38.0 / 46.0);
    EXPECT_EQ(duplicate_ngram_char_fraction(words, 6), 0.0);  // "... five six" vs "... five seven"
}

TEST(TextStats, DuplicateNgramsCountOverlapsOnce) {
    // A 6-word block three times: every 5-gram repeats and they overlap heavily, yet the
    // fraction is 1, not more.
    std::vector<std::string_view> words;
    for (int rep = 0; rep < 3; ++rep)
        for (const char* w : {"red", "green", "blue", "cyan", "pink", "gold"}) words.emplace_back(w);
    EXPECT_DOUBLE_EQ(duplicate_ngram_char_fraction(words, 5), 1.0);
    EXPECT_DOUBLE_EQ(duplicate_ngram_char_fraction(words, 10), 1.0);
}

TEST(TextStats, NgramWordsAreComparedExactly) {
    // Case and punctuation make different words, as Gopher's whitespace split does.
    EXPECT_EQ(top_ngram(words_of({"The", "end", "the", "end"}), 2).count, 0u);
    EXPECT_EQ(top_ngram(words_of({"the", "end.", "the", "end"}), 2).count, 0u);
}

TEST(TextStats, SymbolRatiosForHashAndEllipsis) {
    // Words: "#" "Title" "##" "Sub" "..." "end…" "and" "......" = 8.
    // '#': 3. Ellipses: "..." 1, "…" 1, "......" 2 = 4.
    const std::string text = "# Title\n## Sub ... end\xE2\x80\xA6 and ......";
    const auto s = symbol_stats(text, split_words(text).size());
    EXPECT_EQ(s.hashes, 3u);
    EXPECT_EQ(s.ellipses, 4u);
    EXPECT_DOUBLE_EQ(s.hash_ratio, 3.0 / 8.0);
    EXPECT_DOUBLE_EQ(s.ellipsis_ratio, 0.5);
    EXPECT_EQ(symbol_stats("", 0).hash_ratio, 0.0);
}

TEST(TextStats, AlphaWordsUseUnicodeLetters) {
    // Letters: hello, ñ, 日本, x1. Not: 123, ---, Arabic-Indic digits ١٢٣.
    const auto words =
        words_of({"hello", "123", "\xC3\xB1", "\xE6\x97\xA5\xE6\x9C\xAC", "---", "x1", "\xD9\xA1\xD9\xA2\xD9\xA3"});
    EXPECT_DOUBLE_EQ(alpha_word_fraction(words), 4.0 / 7.0);
    EXPECT_EQ(alpha_word_fraction({}), 0.0);
}

TEST(TextStats, NonPrintableCharacters) {
    EXPECT_DOUBLE_EQ(non_printable_fraction("ab\x01"
                                            "c\td\n"),
                     1.0 / 7.0);                                     // tab and newline are fine
    EXPECT_DOUBLE_EQ(non_printable_fraction("ab\xFF"), 1.0 / 3.0);   // an invalid byte
    EXPECT_DOUBLE_EQ(non_printable_fraction("a\xEF\xBF\xBD"), 0.5);  // U+FFFD
    EXPECT_DOUBLE_EQ(non_printable_fraction("x\xC2\x9B"), 0.5);      // C1 control U+009B
    EXPECT_DOUBLE_EQ(non_printable_fraction("x\x7F"), 0.5);          // DEL
    EXPECT_EQ(non_printable_fraction("Plain text, caf\xC3\xA9.\r\n"), 0.0);
    EXPECT_EQ(non_printable_fraction(""), 0.0);
}

TEST(TextStats, FoldingForPhraseMatching) {
    EXPECT_EQ(fold_for_matching("  I\xE2\x80\x99M   Sorry,\nBut I CAN\xE2\x80\x99T "), "i'm sorry, but i can't");
    EXPECT_EQ(fold_for_matching("\xE2\x80\x9CQuoted\xE2\x80\x9D"), "\"quoted\"");
    for (const auto& p : builtin_refusal_phrases()) EXPECT_EQ(fold_for_matching(p), p);
}

const char* kEnglish =
    "The committee met on Tuesday to discuss the budget for next year. After a long debate, the members "
    "agreed to increase funding for public libraries and to repair the roads in the northern district.";
const char* kFrench =
    "Le comité s'est réuni mardi pour discuter du budget de l'année prochaine. Après un long débat, les membres "
    "ont accepté d'augmenter le financement des bibliothèques publiques et de réparer les routes du nord.";
const char* kGerman =
    "Der Ausschuss traf sich am Dienstag, um den Haushalt für das nächste Jahr zu besprechen. Nach einer langen "
    "Debatte einigten sich die Mitglieder darauf, die Mittel für öffentliche Bibliotheken zu erhöhen.";

TEST(TextStats, DetectsLanguageOfParagraphs) {
    const auto en = detect_language(kEnglish);
    EXPECT_EQ(en.code, "en");
    EXPECT_GT(en.confidence, 0.9);
    EXPECT_TRUE(en.reliable);
    EXPECT_EQ(detect_language(kFrench).code, "fr");
    EXPECT_EQ(detect_language(kGerman).code, "de");
}

TEST(TextStats, ShortOrEmptyTextIsUndetermined) {
    const auto g = detect_language("Hi");
    EXPECT_EQ(g.code, "un");
    EXPECT_EQ(g.confidence, 0.0);
    EXPECT_EQ(detect_language("").code, "un");
    EXPECT_EQ(detect_language("12345 67890").code, "un");
}

TEST(TextStats, InvalidUtf8DoesNotHideTheLanguage) {
    std::string text = std::string(kGerman) + "\xFF\xFE" + kGerman;
    EXPECT_EQ(detect_language(text).code, "de");
}

TEST(TextStats, CanonicalLanguageCodes) {
    EXPECT_EQ(canonical_language_code("en"), "en");
    EXPECT_EQ(canonical_language_code("EN"), "en");
    EXPECT_EQ(canonical_language_code("zh-TW"), "zh-Hant");
    EXPECT_EQ(canonical_language_code("he"), "iw");
    EXPECT_EQ(canonical_language_code("un"), "un");
    EXPECT_EQ(canonical_language_code("xx"), "");
    EXPECT_EQ(canonical_language_code(""), "");
}

}  // namespace
}  // namespace synthforge::text
