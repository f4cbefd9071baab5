// Unit tests of the `chunk` block (markdown sections, size cuts, overlap, rejects) and
// of the `document` text unit that feeds it whole files. Expected chunks are written
// out in full: a chunk must be an exact slice of its input.

#include "synthforge/data/reader.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace synthforge {
namespace {

struct Output {
    std::vector<Record> kept;
    std::vector<Record> rejected;
};

// Every option written out, as the engine passes them after filling the schema defaults.
Json config(Json overrides = Json::object()) {
    Json c = {{"column", "text"},
              {"output", "chunk"},
              {"index_column", "chunk_index"},
              {"heading_column", "heading"},
              {"format", "auto"},
              {"max_words", 300},
              {"overlap_words", 0},
              {"keep_column", false}};
    for (auto& [k, v] : overrides.items()) c[k] = v;
    return c;
}

std::unique_ptr<Block> make_chunk(const Json& c) {
    const BlockType* t = BlockRegistry::global().find("chunk");
    if (!t) throw std::runtime_error("block type 'chunk' is not registered");
    return t->make("chunks", c, BlockEnv{});
}

Output run(const Json& c, std::vector<Record> rows) {
    auto block = make_chunk(c);
    Emitter out(block->name());
    block->process(std::move(rows), out);
    return {std::move(out.rows()), std::move(out.rejected())};
}

// (chunk, heading) of each kept row, checking chunk_index counts 0, 1, 2... per document.
using Chunks = std::vector<std::pair<std::string, std::string>>;
Chunks chunks_of(const std::string& text, Json overrides = Json::object()) {
    auto out = run(config(std::move(overrides)), {{{"text", text}}});
    EXPECT_TRUE(out.rejected.empty()) << (out.rejected.empty() ? "" : out.rejected[0].dump());
    Chunks got;
    for (size_t i = 0; i < out.kept.size(); ++i) {
        EXPECT_EQ(out.kept[i].at("chunk_index"), i);
        got.emplace_back(out.kept[i].at("chunk").get<std::string>(), out.kept[i].at("heading").get<std::string>());
    }
    return got;
}

std::vector<std::string> texts_of(const std::string& text, Json overrides) {
    std::vector<std::string> got;
    for (auto& [chunk, heading] : chunks_of(text, std::move(overrides))) got.push_back(chunk);
    return got;
}

std::string config_error(const Json& c) {
    try {
        make_chunk(c);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

// --- markdown sections ---------------------------------------------------------------

TEST(Chunk, MarkdownSectionsCarryTheirHeadingPath) {
    const std::string doc =
        "# Tides\n"
        "\n"
        "Tides are the rise and fall of the sea.\n"
        "\n"
        "## Causes\n"
        "\n"
        "The Moon pulls the water.\n"
        "\n"
        "### Spring tides\n"
        "Sun and Moon align.\n"
        "\n"
        "## Tables\n"
        "\n"
        "Tables list the times.\n";
    EXPECT_EQ(chunks_of(doc), (Chunks{{"Tides are the rise and fall of the sea.", "Tides"},
                                      {"The Moon pulls the water.", "Tides > Causes"},
                                      {"Sun and Moon align.", "Tides > Causes > Spring tides"},
                                      {"Tables list the times.", "Tides > Tables"}}));
}

TEST(Chunk, TextBeforeTheFirstHeadingHasNoHeadingAndEmptySectionsAreSkipped) {
    const std::string doc =
        "Read me first.\n"
        "# Guide\n"
        "## Install\n"
        "### Linux ###\n"
        "Run make.\n"
        "# Other #\n";
    EXPECT_EQ(chunks_of(doc), (Chunks{{"Read me first.", ""}, {"Run make.", "Guide > Install > Linux"}}));
}

TEST(Chunk, OnlyRealHeadingsCount) {
    // "#tag" lacks the space, seven '#' are too many, four spaces of indent make code,
    // and '#' inside a fenced block is a shell comment.
    const std::string doc =
        "# Setup\n"
        "#tag line\n"
        "####### seven\n"
        "    # indented\n"
        "```sh\n"
        "# install\n"
        "make\n"
        "```\n";
    EXPECT_EQ(chunks_of(doc),
              (Chunks{{"#tag line\n####### seven\n    # indented\n```sh\n# install\nmake\n```", "Setup"}}));
}

TEST(Chunk, SetextHeadingsAndFrontMatter) {
    const std::string doc =
        "---\n"
        "title: Tides\n"
        "---\n"
        "Tides\n"
        "=====\n"
        "\n"
        "Water moves.\n"
        "\n"
        "Causes\n"
        "------\n"
        "The Moon.\n"
        "\n"
        "- a list item\n"
        "---\n";
    // The front matter is metadata, not text; "---" under a list item is a rule, not a heading.
    EXPECT_EQ(chunks_of(doc),
              (Chunks{{"Water moves.", "Tides"}, {"The Moon.\n\n- a list item\n---", "Tides > Causes"}}));
}

TEST(Chunk, FormatTextIgnoresHeadings) {
    EXPECT_EQ(chunks_of("# Title\n\nBody text.", {{"format", "text"}}), (Chunks{{"# Title\n\nBody text.", ""}}));
}

TEST(Chunk, LongSectionsSplitUnderTheirHeadingAndIndexRunsOnAcrossSections) {
    const std::string doc =
        "# A\n"
        "One two three. Four five six.\n"
        "# B\n"
        "Seven eight.\n";
    EXPECT_EQ(chunks_of(doc, {{"max_words", 4}}),
              (Chunks{{"One two three.", "A"}, {"Four five six.", "A"}, {"Seven eight.", "B"}}));
}

// --- size cuts -------------------------------------------------------------------------

TEST(Chunk, PlainTextPacksWholeParagraphs) {
    const std::string text = "one two three.\n\nfour five six seven.\n\neight nine.";
    // The first paragraph cannot share a chunk with the second (3 + 4 > 6); the second and
    // third fit together.
    EXPECT_EQ(texts_of(text, {{"max_words", 6}}),
              (std::vector<std::string>{"one two three.", "four five six seven.\n\neight nine."}));
    EXPECT_EQ(texts_of(text, {{"max_words", 9}}), (std::vector<std::string>{text}));
}

TEST(Chunk, AParagraphTooLongIsCutAtSentencesThenLines) {
    EXPECT_EQ(texts_of("Alpha beta gamma. Delta epsilon zeta eta. Theta iota.", {{"max_words", 8}}),
              (std::vector<std::string>{"Alpha beta gamma. Delta epsilon zeta eta.", "Theta iota."}));
    // A list without sentence ends: cut where a line starts.
    EXPECT_EQ(texts_of("- apples\n- pears\n- plums\n- figs", {{"max_words", 4}}),
              (std::vector<std::string>{"- apples\n- pears", "- plums\n- figs"}));
}

TEST(Chunk, AnItemNumberIsNotASentenceEnd) {
    // After "now." is a sentence end; after "1." (a list item's number) is not, so the
    // number stays with its item.
    EXPECT_EQ(texts_of("Intro text here now.\n1. Mix flour and water.\n2. Bake it.", {{"max_words", 8}}),
              (std::vector<std::string>{"Intro text here now.", "1. Mix flour and water.\n2. Bake it."}));
}

TEST(Chunk, NoBoundaryMeansACutBetweenWordsNeverInsideOne) {
    EXPECT_EQ(texts_of("a bb ccc dddd eeeee", {{"max_words", 3}}),
              (std::vector<std::string>{"a bb ccc", "dddd eeeee"}));
    // No-break and ideographic spaces separate words as in count_words.
    EXPECT_EQ(texts_of("un\u00A0deux trois\u3000quatre", {{"max_words", 2}}),
              (std::vector<std::string>{"un\u00A0deux", "trois\u3000quatre"}));
}

TEST(Chunk, ABoundaryTooEarlyIsPassedOverToKeepChunksHalfFull) {
    // The sentence end after "a." would leave a 1-word chunk (max 6): cut at the word limit.
    EXPECT_EQ(texts_of("a. b c d e f g h", {{"max_words", 6}}), (std::vector<std::string>{"a. b c d e f", "g h"}));
}

TEST(Chunk, OverlapRepeatsTheEndOfThePreviousChunkFromASentenceStart) {
    const std::string text = "Alpha beta gamma delta. Epsilon zeta. Eta theta iota kappa lambda mu nu.";
    // Chunk 2 goes back 3 words but starts at "Epsilon", where a sentence starts inside them;
    // chunk 3 has no sentence start in its overlap and repeats exactly 3 words.
    EXPECT_EQ(texts_of(text, {{"max_words", 8}, {"overlap_words", 3}}),
              (std::vector<std::string>{"Alpha beta gamma delta. Epsilon zeta.",
                                        "Epsilon zeta. Eta theta iota kappa lambda mu", "kappa lambda mu nu."}));
    EXPECT_EQ(
        texts_of(text, {{"max_words", 8}, {"overlap_words", 0}}),
        (std::vector<std::string>{"Alpha beta gamma delta. Epsilon zeta.", "Eta theta iota kappa lambda mu nu."}));
}

TEST(Chunk, OverlapStaysInsideItsSection) {
    const std::string doc = "# A\nOne two three four.\n# B\nFive six seven eight.\n";
    EXPECT_EQ(chunks_of(doc, {{"max_words", 4}, {"overlap_words", 1}}),
              (Chunks{{"One two three four.", "A"}, {"Five six seven eight.", "B"}}));
}

TEST(Chunk, BlankLinesInsideCodeAreNotParagraphBreaksInMarkdown) {
    const std::string doc = "Intro words here.\n\n```\na b\n\nc d\n```";
    EXPECT_EQ(texts_of(doc, {{"max_words", 6}, {"format", "markdown"}}),
              (std::vector<std::string>{"Intro words here.", "```\na b\n\nc d\n```"}));
    // As plain text the blank line is a paragraph break like any other.
    EXPECT_EQ(texts_of(doc, {{"max_words", 6}, {"format", "text"}}),
              (std::vector<std::string>{"Intro words here.\n\n```\na b", "c d\n```"}));
}

// --- rows ----------------------------------------------------------------------------------

TEST(Chunk, OtherColumnsAreCopiedAndTheTextColumnIsDropped) {
    auto out = run(config({{"max_words", 2}}), {{{"id", 7}, {"text", "a b c d"}, {"source", "x.md"}}});
    ASSERT_EQ(out.kept.size(), 2u);
    EXPECT_EQ(out.kept[0],
              (Json{{"id", 7}, {"source", "x.md"}, {"chunk", "a b"}, {"chunk_index", 0}, {"heading", ""}}));
    EXPECT_EQ(out.kept[1],
              (Json{{"id", 7}, {"source", "x.md"}, {"chunk", "c d"}, {"chunk_index", 1}, {"heading", ""}}));
}

TEST(Chunk, KeepColumnAndOptionalColumns) {
    auto kept = run(config({{"keep_column", true}, {"index_column", ""}, {"heading_column", ""}, {"output", "part"}}),
                    {{{"text", "a b"}}});
    ASSERT_EQ(kept.kept.size(), 1u);
    EXPECT_EQ(kept.kept[0], (Json{{"text", "a b"}, {"part", "a b"}}));
    // output: text replaces the document by its chunks.
    auto in_place = run(config({{"output", "text"}, {"max_words", 1}}), {{{"text", "a b"}}});
    ASSERT_EQ(in_place.kept.size(), 2u);
    EXPECT_EQ(in_place.kept[1].at("text"), "b");
}

TEST(Chunk, RowsWithoutTextAreRejectedWithTheReason) {
    auto out = run(
        config(),
        {{{"other", 1}}, {{"text", 5}}, {{"text", " \n\t\n"}}, {{"text", "# Title\n\n## Part\n"}}, {{"text", "fine"}}});
    ASSERT_EQ(out.kept.size(), 1u);
    ASSERT_EQ(out.rejected.size(), 4u);
    EXPECT_EQ(out.rejected[0].at(kReasonColumn), "missing column 'text'");
    EXPECT_EQ(out.rejected[1].at(kReasonColumn), "column 'text' is not a string (got number)");
    EXPECT_EQ(out.rejected[2].at(kReasonColumn), "column 'text' is empty");
    EXPECT_EQ(out.rejected[3].at(kReasonColumn), "column 'text' has headings but no text under them");
    // A rejected row keeps its text, so the reject shows what was read.
    EXPECT_EQ(out.rejected[3].at("text"), "# Title\n\n## Part\n");
    EXPECT_EQ(out.rejected[3].at(kRejectedByColumn), "chunks");
}

TEST(Chunk, ConfigErrorsNameTheField) {
    EXPECT_NE(config_error(config({{"overlap_words", 150}})).find("config.overlap_words"), std::string::npos);
    EXPECT_EQ(config_error(config({{"overlap_words", 149}})), "");
    EXPECT_NE(
        config_error(config({{"index_column", "chunk"}})).find("config.index_column: 'chunk' is also config.output"),
        std::string::npos);
    EXPECT_NE(config_error(config({{"heading_column", "chunk_index"}})).find("config.heading_column"),
              std::string::npos);
    EXPECT_NE(config_error(config({{"keep_column", true}, {"output", "text"}})).find("config.output"),
              std::string::npos);
}

TEST(Chunk, ChunksRespectMaxWordsOnARealisticDocument) {
    std::string doc = "# Manual\n\n";
    for (int p = 0; p < 40; ++p) {
        for (int s = 0; s < 3 + p % 4; ++s)
            doc += "Sentence " + std::to_string(p) + " number " + std::to_string(s) + " ends here. ";
        doc += "\n\n";
    }
    auto out = run(config({{"max_words", 50}, {"overlap_words", 10}}), {{{"text", doc}}});
    ASSERT_GT(out.kept.size(), 5u);
    for (size_t i = 0; i < out.kept.size(); ++i) {
        const auto& r = out.kept[i];
        const std::string& c = r.at("chunk").get_ref<const std::string&>();
        size_t words = 0;
        bool in_word = false;
        for (char ch : c) {
            const bool space = ch == ' ' || ch == '\n';
            if (!space && !in_word) ++words;
            in_word = !space;
        }
        EXPECT_LE(words, 50u);
        if (i + 1 < out.kept.size()) EXPECT_GE(words, 25u) << c;  // all but the last are half full at least
        EXPECT_NE(doc.find(c), std::string::npos) << "not a slice of the document: " << c;
        EXPECT_EQ(r.at("heading"), "Manual");
    }
}

// --- the document text unit ----------------------------------------------------------------

class DocumentUnit : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("sf-chunk-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::filesystem::path write(const std::string& name, const std::string& bytes) {
        auto p = dir_ / name;
        std::ofstream(p, std::ios::binary) << bytes;
        return p;
    }

    static ReadOptions documents() {
        ReadOptions o;
        o.text_unit = TextUnit::document;
        return o;
    }

    std::filesystem::path dir_;
};

TEST_F(DocumentUnit, AWholeFileIsOneRecordWithItsSource) {
    auto p = write("guide.md", "\xEF\xBB\xBF# Guide\r\n\r\nFirst.\r\n\r\n\r\nSecond.\r\n");
    auto rows = read_all(p, documents());
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0], (Json{{"text", "# Guide\n\nFirst.\n\n\nSecond."}, {"source", p.string()}}));
}

TEST_F(DocumentUnit, AnEmptyFileIsStillARecord) {
    auto p = write("empty.txt", "");
    auto rows = read_all(p, documents());
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].at("text"), "");
}

TEST_F(DocumentUnit, ResumeAfterTheDocumentReadsNothingMore) {
    auto p = write("doc.txt", "line one\nline two\n");
    auto reader = open_reader(p, documents());
    EXPECT_EQ(reader->position().offset, 0u);
    Record r;
    SourcePos pos;
    ASSERT_TRUE(reader->next(r, pos));
    EXPECT_EQ(pos.line, 1u);
    const ReaderPosition done = reader->position();
    EXPECT_EQ(done.offset, reader->total_bytes());
    EXPECT_EQ(done.records, 1u);
    EXPECT_FALSE(reader->next(r, pos));

    auto again = open_reader(p, documents());
    again->seek(done);
    EXPECT_FALSE(again->next(r, pos));
    again->seek(ReaderPosition{});
    ASSERT_TRUE(again->next(r, pos));
    EXPECT_EQ(r.at("text"), "line one\nline two");
}

TEST_F(DocumentUnit, AnOversizedDocumentIsABadRecord) {
    auto p = write("big.txt", "0123456789\n0123456789\n");
    ReadOptions o = documents();
    o.max_record_bytes = 15;
    o.skip_bad_records = true;
    std::vector<BadRecord> bad;
    o.on_bad_record = [&](const BadRecord& b) { bad.push_back(b); };
    EXPECT_TRUE(read_all(p, o).empty());
    ASSERT_EQ(bad.size(), 1u);
    EXPECT_EQ(bad[0].reason.rfind("record is 21 bytes, over the limit of 15", 0), 0u) << bad[0].reason;
}

}  // namespace
}  // namespace synthforge
