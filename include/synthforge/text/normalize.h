#pragma once
// Text normalisation and counting on UTF-8 text. Pure functions: no JSON, no I/O.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace synthforge::text {

struct NormalizeOptions {
    bool lowercase = true;            // ASCII and Latin-1 supplement letters folded to lower case
    bool collapse_whitespace = true;  // runs of whitespace become one space; ends trimmed
    bool strip_punctuation = false;   // ASCII punctuation and common Unicode quotes/dashes removed
};

std::string normalize(std::string_view text, const NormalizeOptions& options);

// The Unicode White_Space property: what separates words for count_words.
bool is_unicode_space(char32_t cp);
// Words are maximal runs of non-whitespace characters (Unicode whitespace included).
// Counting stops at `limit`: the result is min(words, limit).
size_t count_words(std::string_view text, size_t limit = SIZE_MAX);
// Unicode code points (not bytes), counting up to `limit`.
size_t count_chars(std::string_view text, size_t limit = SIZE_MAX);
// True when `text` is valid UTF-8.
bool is_valid_utf8(std::string_view text);
// Replaces invalid UTF-8 sequences by U+FFFD.
std::string sanitize_utf8(std::string_view text);

}  // namespace synthforge::text
