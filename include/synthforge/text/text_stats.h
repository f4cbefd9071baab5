#pragma once
// Heuristic text statistics for quality filtering, following the definitions of the
// Gopher/MassiveText rules (Rae et al. 2021, appendix A) where one exists.
// Pure functions on UTF-8 text: no JSON, no I/O.
//
// Conventions shared by every function here:
// - A character is a Unicode code point; each invalid UTF-8 sequence counts as one.
// - A word is a maximal run of non-whitespace characters (Unicode White_Space), taken
//   as it is: no lowercasing, punctuation stays attached (as in `text.split()`).
// - Fractions are in [0, 1] and are 0 when their denominator is 0.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace synthforge::text {

// The words of `text` in order (views into `text`).
std::vector<std::string_view> split_words(std::string_view text);

struct DuplicateLineStats {
    size_t lines = 0;            // non-blank lines, after trimming surrounding whitespace
    size_t duplicate_lines = 0;  // lines whose trimmed text appears more than once; every copy counts
    size_t chars = 0;            // characters of all non-blank trimmed lines
    size_t duplicate_chars = 0;  // characters of the duplicate lines (every copy)
    double line_fraction() const;
    double char_fraction() const;
};
// Gopher: "the fraction [of lines] that are duplicates, and the fraction of characters
// contained within those duplicates". Blank lines are ignored, so paragraphs separated
// by empty lines are not duplicates of each other.
DuplicateLineStats duplicate_lines(std::string_view text);

struct TopNgram {
    double char_fraction = 0.0;  // characters covered by its occurrences / characters of all words
    size_t count = 0;            // occurrences (0 when no n-gram occurs twice)
    std::string ngram;           // its words joined by one space ("" when none)
};
// Gopher: "the fraction of characters contained within the most frequently-occurring
// n-gram" (used for n = 2, 3, 4). Characters are those of the words (whitespace is not
// counted); a character inside two overlapping occurrences counts once, so the value
// never exceeds 1. Only an n-gram occurring at least twice is "repeated": a text whose
// n-grams are all distinct scores 0. Ties on count go to the n-gram covering more
// characters, then to the one that occurs first.
TopNgram top_ngram(const std::vector<std::string_view>& words, size_t n);

// Gopher: "the fraction of characters contained within all duplicate n-grams, taking
// care not to count characters that occur in overlapping n-grams more than once" (used
// for n = 5..10): every word covered by some occurrence of an n-gram that occurs at
// least twice (the first occurrence included) contributes its characters once.
double duplicate_ngram_char_fraction(const std::vector<std::string_view>& words, size_t n);

struct SymbolStats {
    size_t hashes = 0;      // '#' characters
    size_t ellipses = 0;    // "..." (counted without overlap, so "......" is 2) plus U+2026 '…'
    double hash_ratio = 0;  // hashes / words
    double ellipsis_ratio = 0;
};
// Gopher's symbol-to-word ratios, one for the hash symbol and one for the ellipsis.
SymbolStats symbol_stats(std::string_view text, size_t words);

// Gopher: the fraction of words that contain at least one alphabetic character
// (a Unicode letter, general category L*, as Python's str.isalpha).
double alpha_word_fraction(const std::vector<std::string_view>& words);

// The fraction of characters that are not printable: C0 and C1 control characters other
// than tab, line feed and carriage return; DEL; U+FFFD and invalid UTF-8 (broken
// decoding); the noncharacters U+FFFE and U+FFFF.
double non_printable_fraction(std::string_view text);

// Folds text for phrase matching: ASCII letters lowercased, typographic apostrophes and
// quotes (U+2018/2019, U+201C/201D) made ASCII, runs of whitespace one space, ends trimmed.
std::string fold_for_matching(std::string_view text);

// Refusal and assistant-boilerplate phrases, already folded; used when a filter asks for
// refusal detection without giving its own list.
const std::vector<std::string>& builtin_refusal_phrases();

// The language of `text` according to CLD2 (plain text, no hints, no best-effort guess).
struct LanguageGuess {
    std::string code = "un";  // CLD2's code (ISO 639-1 where one exists, e.g. "en", "zh-Hant"); "un": undetermined
    double confidence = 0.0;  // share of the text's letters CLD2 attributes to that language, 0..1 (0 for "un")
    bool reliable = false;    // CLD2's own verdict (short or mixed texts are unreliable)
};
LanguageGuess detect_language(std::string_view text);

// CLD2's code for a language given as an ISO 639-1 code or a BCP 47 tag ("en", "DE",
// "zh-TW" -> "zh-Hant", "he" -> "iw"), or "" when CLD2 does not know it. "un" stands for
// undetermined text.
std::string canonical_language_code(std::string_view name);

}  // namespace synthforge::text
