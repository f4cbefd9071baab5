#include "synthforge/text/normalize.h"

#include <gtest/gtest.h>

namespace {

using namespace synthforge::text;

TEST(Normalize, CountsWordsSplitOnUnicodeWhitespace) {
    EXPECT_EQ(count_words(""), 0u);
    EXPECT_EQ(count_words("   \t\n "), 0u);
    EXPECT_EQ(count_words("one two  three"), 3u);
    EXPECT_EQ(count_words("no\u00A0break"), 2u);               // NO-BREAK SPACE
    EXPECT_EQ(count_words("em\u2003space\u200Athin"), 3u);     // EM SPACE, HAIR SPACE
    EXPECT_EQ(count_words("\u3000全角\u3000空白\u3000"), 2u);  // IDEOGRAPHIC SPACE
    EXPECT_EQ(count_words("line\u2028sep"), 2u);
    EXPECT_EQ(count_words("zero\u200Bwidth"), 1u);  // U+200B is not whitespace
}

TEST(Normalize, CountsCodePointsNotBytes) {
    EXPECT_EQ(count_chars("abc"), 3u);
    EXPECT_EQ(count_chars("héllo"), 5u);
    EXPECT_EQ(count_chars("日本語"), 3u);
    EXPECT_EQ(count_chars("😀x"), 2u);
    EXPECT_EQ(count_chars("a\xFF"
                          "b"),
              3u);  // a broken byte counts as the one U+FFFD it becomes
}

TEST(Normalize, LowercasesAsciiAndLatin1) {
    NormalizeOptions o;
    o.collapse_whitespace = false;
    EXPECT_EQ(normalize("HeLLo WORLD", o), "hello world");
    EXPECT_EQ(normalize("ÀÉÎÕÜ ÇÑ Þ", o), "àéîõü çñ þ");
    EXPECT_EQ(normalize("2×3 ß", o), "2×3 ß");  // × and ß have no lower-case mapping here
    o.lowercase = false;
    EXPECT_EQ(normalize("ÀB", o), "ÀB");
}

TEST(Normalize, CollapsesAndTrimsWhitespace) {
    NormalizeOptions o;
    o.lowercase = false;
    EXPECT_EQ(normalize("  a \t\n b\u00A0\u3000c  ", o), "a b c");
    EXPECT_EQ(normalize("", o), "");
    EXPECT_EQ(normalize(" \u2003 ", o), "");
    o.collapse_whitespace = false;
    EXPECT_EQ(normalize("  a  b ", o), "  a  b ");
}

TEST(Normalize, StripsAsciiAndUnicodePunctuation) {
    NormalizeOptions o;
    o.strip_punctuation = true;
    EXPECT_EQ(normalize("Hello, World!", o), "hello world");
    EXPECT_EQ(normalize("\u201CSmart\u201D \u2018quotes\u2019 \u2014 and\u2026 dashes\u2013", o),
              "smart quotes and dashes");
    EXPECT_EQ(normalize("a - b", o), "a b");  // no double space where punctuation stood alone
    EXPECT_EQ(normalize("«¿Qué?»", o), "qué");
    o.strip_punctuation = false;
    EXPECT_EQ(normalize("Hello, World!", o), "hello, world!");
}

TEST(Normalize, ValidatesUtf8) {
    EXPECT_TRUE(is_valid_utf8(""));
    EXPECT_TRUE(is_valid_utf8("plain ascii"));
    EXPECT_TRUE(is_valid_utf8("日本語 😀 é"));
    EXPECT_FALSE(is_valid_utf8("\xC3"));              // truncated
    EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
    EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
    EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
    EXPECT_FALSE(is_valid_utf8("ok\xFFok"));
}

TEST(Normalize, SanitizesUtf8ByMaximalSubparts) {
    EXPECT_EQ(sanitize_utf8("fine é"), "fine é");
    EXPECT_EQ(sanitize_utf8("a\xFF"
                            "b"),
              "a\uFFFD"
              "b");
    // A truncated 3-byte sequence is one replacement, not two.
    EXPECT_EQ(sanitize_utf8("a\xE2\x82"
                            "b"),
              "a\uFFFD"
              "b");
    EXPECT_EQ(sanitize_utf8("\xC0\xAF"), "\uFFFD\uFFFD");
    EXPECT_EQ(sanitize_utf8("end\xF0\x9F\x98"), "end\uFFFD");
    EXPECT_TRUE(is_valid_utf8(sanitize_utf8("\xED\xA0\x80\xF8\x80")));
}

TEST(Normalize, NormalizeReplacesInvalidUtf8) {
    const std::string out = normalize("A\xFFZ", {});
    EXPECT_EQ(out, "a\uFFFDz");
    EXPECT_TRUE(is_valid_utf8(out));
}

}  // namespace

TEST(NormalizeLimits, CountingStopsAtTheLimit) {
    EXPECT_EQ(synthforge::text::count_words("one two three four", 2), 2u);
    EXPECT_EQ(synthforge::text::count_words("one two", 5), 2u);
    EXPECT_EQ(synthforge::text::count_chars("h\xC3\xA9llo w\xC3\xB6rld", 4), 4u);
    EXPECT_EQ(synthforge::text::count_chars("h\xC3\xA9llo", 99), 5u);
}
