// Unit tests of the quality_filter block: each rule on texts where the right answer is
// known, the exact reasons, the scores column and configuration errors. The block is
// built through the registry with a partial config, as `synthforge dedup` and plugins
// may do; the factory fills in the schema's defaults.

#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace synthforge {
namespace {

struct Verdict {
    bool kept = false;
    std::string reason;  // "" when kept
    Record row;          // the row as it left the block
};

std::unique_ptr<Block> quality_filter(Json config) {
    if (!config.contains("column")) config["column"] = "text";
    return BlockRegistry::global().find("quality_filter")->make("qf", config, BlockEnv{});
}

Verdict judge(const Json& config, const Json& text) {
    auto block = quality_filter(config);
    Emitter out(block->name());
    block->process({Record{{"id", 1}, {"text", text}}}, out);
    Verdict v;
    if (!out.rows().empty()) {
        v.kept = true;
        v.row = out.rows().front();
    } else {
        v.row = out.rejected().at(0);
        v.reason = v.row.at(kReasonColumn).get<std::string>();
    }
    return v;
}

std::string reason(const Json& config, const Json& text) {
    return judge(config, text).reason;
}

std::string config_error(const Json& config) {
    try {
        quality_filter(config);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

std::string lines(std::initializer_list<std::string> ls) {
    std::string out;
    for (const auto& l : ls) out += l + "\n";
    return out;
}

const char* kEnglish =
    "Bread rises because yeast feeds on the sugars in the flour and releases carbon dioxide. The gas is "
    "trapped by the gluten network, so the dough swells, and baking sets the structure.";
const char* kFrench =
    "Le pain lève parce que la levure se nourrit des sucres de la farine et libère du gaz carbonique. Ce gaz "
    "reste prisonnier du réseau de gluten, la pâte gonfle, puis la cuisson fixe sa structure.";
const char* kGerman =
    "Brot geht auf, weil die Hefe den Zucker im Mehl verwertet und dabei Kohlendioxid freisetzt. Das Gas wird "
    "vom Klebergerüst festgehalten, der Teig wächst, und beim Backen wird seine Struktur fest.";

TEST(QualityFilter, SchemaDescribesEveryOptionWithADefault) {
    const BlockType* t = BlockRegistry::global().find("quality_filter");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->config_schema.at("additionalProperties"), false);
    for (const auto& [name, prop] : t->config_schema.at("properties").items()) {
        SCOPED_TRACE(name);
        EXPECT_TRUE(prop.contains("description"));
        EXPECT_TRUE(name == "column" || prop.contains("default"));
    }
}

TEST(QualityFilter, NothingIsCheckedUnlessConfigured) {
    for (const char* text : {"", "#### ...", "As an AI language model, I cannot.", "x\x01y"}) {
        auto v = judge(Json::object(), text);
        EXPECT_TRUE(v.kept) << text << ": " << v.reason;
    }
}

TEST(QualityFilter, MissingOrNonStringColumnIsRejected) {
    auto block = quality_filter({{"min_words", 1}});
    Emitter out(block->name());
    block->process({Record{{"other", "x"}}, Record{{"text", 3}}}, out);
    ASSERT_EQ(out.rejected().size(), 2u);
    EXPECT_EQ(out.rejected()[0].at(kReasonColumn), "missing column 'text'");
    EXPECT_EQ(out.rejected()[1].at(kReasonColumn), "column 'text' is not a string (got number)");
}

TEST(QualityFilter, LengthLimitsInCharactersAndWords) {
    EXPECT_EQ(reason({{"min_chars", 5}}, "caf\xC3\xA9"), "chars: 4 (min 5)");  // 4 code points, 5 bytes
    EXPECT_EQ(reason({{"max_chars", 3}}, "caf\xC3\xA9"), "chars: 4 (max 3)");
    EXPECT_TRUE(judge({{"min_chars", 4}, {"max_chars", 4}}, "caf\xC3\xA9").kept);
    EXPECT_EQ(reason({{"min_words", 3}}, "two words"), "words: 2 (min 3)");
    EXPECT_EQ(reason({{"max_words", 1}}, "two words"), "words: 2 (max 1)");
    EXPECT_TRUE(judge({{"min_words", 2}, {"max_words", 2}}, " two\n words ").kept);
}

TEST(QualityFilter, DuplicateLinesWithGopherThreshold) {
    // 11 distinct lines and one line 9 times: 9 of 20 lines are duplicates.
    std::string text;
    for (int i = 0; i < 11; ++i) text += "distinct line number " + std::to_string(i) + "\n";
    for (int i = 0; i < 9; ++i) text += "subscribe to our newsletter\n";
    EXPECT_EQ(reason({{"max_duplicate_line_fraction", true}}, text), "duplicate lines: 45% of lines (max 30%)");
    EXPECT_TRUE(judge({{"max_duplicate_line_fraction", 0.5}}, text).kept);
}

TEST(QualityFilter, DuplicateLineFractionAtTheLimitPasses) {
    // 3 copies among 10 lines is exactly 0.30: Gopher rejects only above it.
    std::string text = lines({"a1", "a2", "a3", "a4", "a5", "a6", "a7", "same", "same", "same"});
    EXPECT_TRUE(judge({{"max_duplicate_line_fraction", true}}, text).kept);
    text += "same\n";  // 4 of 11
    EXPECT_EQ(reason({{"max_duplicate_line_fraction", true}}, text), "duplicate lines: 36% of lines (max 30%)");
}

TEST(QualityFilter, DuplicateLineCharacters) {
    // One long line twice (2 * 40 characters) and three short ones (3 * 5): 80 / 95.
    const std::string long_line(40, 'x');
    const std::string text = lines({long_line, "abcde", long_line, "fghij", "klmno"});
    EXPECT_EQ(reason({{"max_duplicate_line_char_fraction", true}}, text),
              "duplicate lines: 84% of characters (max 20%)");
}

TEST(QualityFilter, TopNgramNamesTheNgram) {
    // "buy now" 4 times covers 24 of the words' 41 characters (58.5%).
    const std::string text = "buy now buy now buy now buy now and save money today";
    EXPECT_EQ(reason({{"max_top_ngram_char_fraction", true}}, text),
              "top 2-gram \"buy now\" (4 times): 59% of characters (max 20%)");
    // Only the listed n are checked: no 4-gram repeats four times, but 4-grams do repeat.
    EXPECT_EQ(reason({{"max_top_ngram_char_fraction", {{"4", 0.5}}}}, text),
              "top 4-gram \"buy now buy now\" (3 times): 59% of characters (max 50%)");
    EXPECT_TRUE(judge({{"max_top_ngram_char_fraction", 0.7}}, text).kept);
}

TEST(QualityFilter, DuplicateNgrams) {
    // An 8-word sentence (33 characters) twice, then 4 words (16): every 5-gram inside the
    // sentence repeats, so both copies are covered, 66 of 82 characters (80.5%).
    const std::string s = "the quick brown fox jumps over lazy dogs";
    const std::string text = s + " " + s + " then they went home";
    EXPECT_EQ(reason({{"max_duplicate_ngram_char_fraction", true}}, text),
              "duplicate 5-grams: 80% of characters (max 15%)");
    // With only n = 9 checked, no 9-gram repeats (the sentence has 8 words).
    EXPECT_TRUE(judge({{"max_duplicate_ngram_char_fraction", {{"9", 0.1}}}}, text).kept);
}

TEST(QualityFilter, SymbolToWordRatios) {
    EXPECT_EQ(reason({{"max_symbol_word_ratio", true}}, "# Heading\nsome text under it here"),
              "symbols: 0.14 '#' per word (max 0.1)");
    EXPECT_EQ(reason({{"max_symbol_word_ratio", true}}, "well... I mean\xE2\x80\xA6 maybe so"),
              "symbols: 0.40 ellipses per word (max 0.1)");
    EXPECT_TRUE(judge({{"max_symbol_word_ratio", true}}, "A sentence with exactly one # among ten words here.").kept);
}

TEST(QualityFilter, WordsWithLetters) {
    EXPECT_EQ(reason({{"min_alpha_word_fraction", true}}, "1 2 3 4 five"),
              "words with a letter: 20% of words (min 80%)");
    EXPECT_EQ(reason({{"min_alpha_word_fraction", true}}, "   "), "words with a letter: no words (min 80%)");
    EXPECT_TRUE(judge({{"min_alpha_word_fraction", true}}, "Il y a 3 pommes et 2 poires sur la table").kept);
}

TEST(QualityFilter, BuiltInRefusalsAreCaseInsensitive) {
    const Json on = {{"refusals", true}};
    EXPECT_EQ(reason(on, "As an AI Language Model, I have no opinions."),
              "refusal phrase: \"as an ai language model\"");
    EXPECT_EQ(reason(on, "I\xE2\x80\x99m sorry, but I can\xE2\x80\x99t help with that request."),
              "refusal phrase: \"i'm sorry, but i can't\"");
    EXPECT_EQ(reason(on, "Unfortunately I cannot\n   fulfill this."), "refusal phrase: \"i cannot fulfill\"");
    EXPECT_TRUE(judge(on, "The language model was trained on books. I cannot wait to read it.").kept);
}

TEST(QualityFilter, RefusalListReplacesTheBuiltInOne) {
    const Json custom = {{"refusals", {"Lorem Ipsum"}}};
    EXPECT_EQ(reason(custom, "lorem ipsum dolor sit amet"), "refusal phrase: \"lorem ipsum\"");
    EXPECT_TRUE(judge(custom, "As an AI language model, I cannot do that.").kept);
}

TEST(QualityFilter, NonPrintableCharacters) {
    EXPECT_EQ(reason({{"max_non_printable_fraction", true}}, "abc\x01"),
              "non-printable characters: 25% of characters (max 0%)");
    EXPECT_TRUE(judge({{"max_non_printable_fraction", true}}, "tabs\tand\nnewlines\r\n").kept);
    EXPECT_TRUE(judge({{"max_non_printable_fraction", 0.3}}, "abc\x01").kept);
}

TEST(QualityFilter, LanguagesRejectFrenchAndGermanForEnglish) {
    const Json en = {{"languages", {"en"}}};
    EXPECT_TRUE(judge(en, kEnglish).kept);
    EXPECT_EQ(reason(en, kFrench), "language: detected fr (allowed: en)");
    EXPECT_EQ(reason(en, kGerman), "language: detected de (allowed: en)");
    EXPECT_TRUE(judge({{"languages", {"en", "de"}}}, kGerman).kept);
}

TEST(QualityFilter, UndeterminedLanguageNeedsUn) {
    EXPECT_EQ(reason({{"languages", {"en"}}}, "Hi"), "language: undetermined (allowed: en)");
    EXPECT_TRUE(judge({{"languages", {"en", "un"}}}, "Hi").kept);
}

TEST(QualityFilter, LanguageConfidence) {
    // Two English sentences and three French ones: English is detected for part of it only.
    const std::string mixed = std::string(kEnglish) + " " + kFrench + " " + kFrench;
    const Verdict v =
        judge({{"languages", {"en", "fr"}}, {"min_language_confidence", 0.9}, {"scores_column", "q"}}, mixed);
    ASSERT_FALSE(v.kept);
    const double confidence = v.row.at("q").at("language_confidence").get<double>();
    EXPECT_LT(confidence, 0.9);
    EXPECT_NE(v.reason.find("covers"), std::string::npos) << v.reason;
    EXPECT_NE(v.reason.find("(min 90%)"), std::string::npos) << v.reason;
}

TEST(QualityFilter, ScoresColumnHoldsEveryConfiguredMetric) {
    const Json config = {{"min_words", 2},
                         {"max_duplicate_line_fraction", true},
                         {"max_symbol_word_ratio", true},
                         {"refusals", true},
                         {"scores_column", "quality"}};
    const Verdict kept = judge(config, "first line\nsecond line\nfirst line");
    ASSERT_FALSE(kept.kept);  // two of three lines are copies
    EXPECT_EQ(kept.reason, "duplicate lines: 67% of lines (max 30%)");
    const Json expected = {{"words", 6},
                           {"refusal", nullptr},
                           {"hash_word_ratio", 0.0},
                           {"ellipsis_word_ratio", 0.0},
                           {"duplicate_line_fraction", 0.6667},
                           {"duplicate_line_char_fraction", 0.6452}};  // 2 * 10 of 10 + 11 + 10 characters
    EXPECT_EQ(kept.row.at("quality"), expected) << kept.row.at("quality").dump();
    // Kept rows carry the same object.
    const Verdict ok = judge(config, "first line\nsecond line");
    ASSERT_TRUE(ok.kept) << ok.reason;
    EXPECT_EQ(ok.row.at("quality").at("duplicate_line_fraction"), 0.0);
    EXPECT_EQ(ok.row.at("quality").at("words"), 4);
}

TEST(QualityFilter, RejectedRowsGetScoresOfLaterChecksToo) {
    const Json config = {{"min_words", 6}, {"refusals", true}, {"scores_column", "quality"}};
    const Verdict v = judge(config, "As an AI language model");
    ASSERT_FALSE(v.kept);
    EXPECT_EQ(v.reason, "words: 5 (min 6)");
    EXPECT_EQ(v.row.at("quality").at("refusal"), "as an ai language model");
}

TEST(QualityFilter, FirstFailedCheckIsReported) {
    const Json config = {{"min_words", 3}, {"refusals", true}, {"languages", {"en"}}};
    EXPECT_EQ(reason(config, "I cannot fulfill"), "refusal phrase: \"i cannot fulfill\"");
    EXPECT_EQ(reason(config, "Hi"), "words: 1 (min 3)");
}

TEST(QualityFilter, ConfigErrorsNameTheField) {
    EXPECT_EQ(config_error({{"languages", {"en", "xx"}}}),
              "config.languages[1]: unknown language code 'xx' (use ISO 639 codes such as en, de, zh)");
    EXPECT_EQ(config_error({{"refusals", {"ok", "  "}}}),
              "config.refusals[1]: a phrase must have non-space characters");
    EXPECT_EQ(config_error({{"scores_column", "text"}}),
              "config.scores_column: must differ from config.column ('text')");
    EXPECT_EQ(config_error({{"languages", {"EN", "zh-TW"}}}), "");
}

}  // namespace
}  // namespace synthforge
