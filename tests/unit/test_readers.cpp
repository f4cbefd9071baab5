#include "synthforge/data/reader.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace synthforge;

class ReaderTest : public ::testing::Test {
  protected:
    void SetUp() override {
        static std::atomic<int> counter{0};
        dir_ = fs::path(::testing::TempDir()) /
               ("sf_readers_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path write(const std::string& name, const std::string& content) {
        const fs::path path = dir_ / name;
        std::ofstream(path, std::ios::binary) << content;
        return path;
    }

    // Options that skip bad records and remember them.
    ReadOptions skipping(const std::string& format = "") {
        ReadOptions o;
        o.format = format;
        o.skip_bad_records = true;
        o.on_bad_record = [this](const BadRecord& bad) { bad_.push_back(bad); };
        return o;
    }

    fs::path dir_;
    std::vector<BadRecord> bad_;
};

struct Item {
    Record record;
    uint64_t line;
    ReaderPosition after;
};

std::vector<Item> read_items(RecordReader& reader) {
    std::vector<Item> items;
    Record record;
    SourcePos pos;
    while (reader.next(record, pos)) items.push_back({record, pos.line, reader.position()});
    return items;
}

std::vector<Item> read_items(const fs::path& path, const ReadOptions& options) {
    return read_items(*open_reader(path, options));
}

std::vector<uint64_t> lines_of(const std::vector<Item>& items) {
    std::vector<uint64_t> lines;
    for (const auto& item : items) lines.push_back(item.line);
    return lines;
}

// Resuming from the position after record k (in a fresh reader and in one that has
// already read to the end) yields exactly the records that followed, with their lines.
void expect_resumable(const fs::path& path, const ReadOptions& options, size_t stride = 1) {
    const auto all = read_items(path, options);
    ASSERT_FALSE(all.empty());
    auto reused = open_reader(path, options);
    read_items(*reused);
    std::vector<ReaderPosition> starts{ReaderPosition{}, open_reader(path, options)->position()};
    for (size_t k = 0; k < all.size(); k += stride) starts.push_back(all[k].after);
    starts.push_back(all.back().after);
    auto check = [&](RecordReader& reader, const ReaderPosition& start) {
        const size_t skip = start.records;
        reader.seek(start);
        const auto rest = read_items(reader);
        ASSERT_EQ(rest.size(), all.size() - skip) << "resuming at offset " << start.offset;
        for (size_t i = 0; i < rest.size(); ++i) {
            EXPECT_EQ(rest[i].record, all[skip + i].record);
            EXPECT_EQ(rest[i].line, all[skip + i].line);
            EXPECT_EQ(rest[i].after.offset, all[skip + i].after.offset);
            EXPECT_EQ(rest[i].after.records, all[skip + i].after.records);
        }
    };
    for (const auto& start : starts) {
        check(*open_reader(path, options), start);
        check(*reused, start);
    }
}

std::string error_of(const fs::path& path, const ReadOptions& options = {}) {
    try {
        read_all(path, options);
    } catch (const InputError& e) {
        return e.what();
    }
    return "(no InputError)";
}

// ---------------------------------------------------------------- format choice and opening

TEST_F(ReaderTest, ChoosesFormatFromExtensionOrOption) {
    const auto csv_as_txt = write("rows.txt", "a,b\n1,2\n");
    EXPECT_EQ(read_all(csv_as_txt)[0], Json::parse(R"({"text": "a,b"})"));
    ReadOptions o;
    o.format = "csv";
    EXPECT_EQ(read_all(csv_as_txt, o)[0], Json::parse(R"({"a": "1", "b": "2"})"));
    const auto upper = write("DATA.NDJSON", "{\"x\":1}\n");
    EXPECT_EQ(read_all(upper).size(), 1u);
}

TEST_F(ReaderTest, UnknownExtensionIsAUserError) {
    try {
        open_reader("x.dat", {});
        FAIL() << "expected UserError";
    } catch (const UserError& e) {
        EXPECT_STREQ(e.what(),
                     "cannot tell the format of 'x.dat' from its extension; pass --format jsonl|json|csv|txt");
    }
    ReadOptions o;
    o.format = "xml";
    EXPECT_THROW(open_reader("x.jsonl", o), UserError);
}

TEST_F(ReaderTest, MissingFileIsAnInputError) {
    const fs::path missing = dir_ / "data.jsonl";
    EXPECT_EQ(error_of(missing), "cannot open " + missing.string() + ": No such file or directory");
    EXPECT_EQ(error_of(dir_ / "data.csv"),
              "cannot open " + (dir_ / "data.csv").string() + ": No such file or directory");
    fs::create_directory(dir_ / "sub.json");
    EXPECT_EQ(error_of(dir_ / "sub.json"), "cannot open " + (dir_ / "sub.json").string() + ": Is a directory");
}

// ---------------------------------------------------------------- JSONL

TEST_F(ReaderTest, JsonlKeepsKeyOrderAndNumberTypes) {
    const auto path = write("a.jsonl",
                            "{\"z\": 1, \"a\": -2, \"m\": 18446744073709551615, \"f\": 1.5, \"s\": \"x\", "
                            "\"n\": null, \"b\": true, \"arr\": [1, {\"k\": []}], \"e\": 1e3}\n");
    const auto records = read_all(path);
    ASSERT_EQ(records.size(), 1u);
    const Record& r = records[0];
    std::vector<std::string> keys;
    for (const auto& [k, v] : r.items()) keys.push_back(k);
    EXPECT_EQ(keys, (std::vector<std::string>{"z", "a", "m", "f", "s", "n", "b", "arr", "e"}));
    EXPECT_TRUE(r["a"].is_number_integer());
    EXPECT_EQ(r["a"].get<int64_t>(), -2);
    EXPECT_TRUE(r["m"].is_number_unsigned());
    EXPECT_EQ(r["m"].get<uint64_t>(), 18446744073709551615ull);
    EXPECT_TRUE(r["f"].is_number_float());
    EXPECT_TRUE(r["e"].is_number_float());
    EXPECT_EQ(r.dump(), Json::parse(r.dump()).dump());
    EXPECT_EQ(r["arr"][1]["k"], Json::array());
}

TEST_F(ReaderTest, JsonlBigIntegersFallBackInsteadOfFailing) {
    const auto path = write("big.jsonl",
                            "{\"id\": 123456789012345678901234567890}\n"
                            "{\"id\": -9223372036854775809}\n"
                            "{\"id\": 9223372036854775807}\n");
    const auto records = read_all(path);
    ASSERT_EQ(records.size(), 3u);
    EXPECT_DOUBLE_EQ(records[0]["id"].get<double>(), 1.2345678901234568e29);
    EXPECT_DOUBLE_EQ(records[1]["id"].get<double>(), -9223372036854775809.0);
    EXPECT_EQ(records[2]["id"].get<int64_t>(), INT64_MAX);
}

TEST_F(ReaderTest, JsonlSkipsBlankLinesHandlesCrlfAndBom) {
    const auto path = write("a.jsonl", "\xEF\xBB\xBF{\"i\":1}\r\n\r\n   \t\n{\"i\":2}\r\n\n{\"i\":3}");
    const auto items = read_items(path, {});
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(lines_of(items), (std::vector<uint64_t>{1, 4, 6}));
    EXPECT_EQ(items[2].record["i"], 3);
}

TEST_F(ReaderTest, JsonlBadRecordsThrowWithFileAndLine) {
    const auto path = write("bad.jsonl", "{\"ok\":1}\n\n{\"broken\": \n{\"ok\":2}\n");
    const std::string error = error_of(path);
    EXPECT_EQ(error.rfind(path.string() + ":3: line is not valid JSON: ", 0), 0u) << error;

    const auto array = write("arr.jsonl", "{\"ok\":1}\n[1,2]\n");
    EXPECT_EQ(error_of(array), array.string() + ":2: expected a JSON object, got an array");
    const auto scalar = write("num.jsonl", "42\n");
    EXPECT_EQ(error_of(scalar), scalar.string() + ":1: expected a JSON object, got a number");
    const auto str = write("str.jsonl", "\"hi\"\n");
    EXPECT_EQ(error_of(str), str.string() + ":1: expected a JSON object, got a string");
}

TEST_F(ReaderTest, JsonlSkippedBadRecordsReachTheCallback) {
    const auto path = write("bad.jsonl", "{\"i\":1}\n{nope}\n[1]\n{\"t\": \"\xFF\xFE\"}\n{\"i\":2}\n");
    const auto items = read_items(path, skipping());
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(lines_of(items), (std::vector<uint64_t>{1, 5}));
    ASSERT_EQ(bad_.size(), 3u);
    EXPECT_EQ(bad_[0].pos.str(), path.string() + ":2");
    EXPECT_EQ(bad_[0].reason.rfind("line is not valid JSON: ", 0), 0u);
    EXPECT_EQ(bad_[0].raw, "{nope}");
    EXPECT_EQ(bad_[1].reason, "expected a JSON object, got an array");
    EXPECT_EQ(bad_[2].pos.line, 4u);
    EXPECT_EQ(bad_[2].reason, "invalid UTF-8 at byte 8");
    EXPECT_EQ(bad_[2].raw, "{\"t\": \"\uFFFD\uFFFD\"}");
}

TEST_F(ReaderTest, JsonlInvalidUtf8Throws) {
    const auto path = write("u.jsonl", "{\"t\": \"caf\xC3\"}\n");
    EXPECT_EQ(error_of(path), path.string() + ":1: invalid UTF-8 at byte 11");
}

TEST_F(ReaderTest, JsonlRecordOverTheLimitIsBadAndSkippedWithoutBuffering) {
    const std::string big = "{\"t\": \"" + std::string(500, 'x') + "\"}";
    const auto path = write("big.jsonl", "{\"i\":1}\n" + big + "\n{\"i\":2}\n");
    ReadOptions o = skipping();
    o.max_record_bytes = 100;
    const auto items = read_items(path, o);
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[1].line, 3u);
    ASSERT_EQ(bad_.size(), 1u);
    EXPECT_EQ(bad_[0].pos.line, 2u);
    EXPECT_EQ(bad_[0].reason, "record is 509 bytes, over the limit of 100 (max_record_bytes)");

    o.skip_bad_records = false;
    EXPECT_EQ(error_of(path, o), path.string() + ":2: record is 509 bytes, over the limit of 100 (max_record_bytes)");
}

TEST_F(ReaderTest, JsonlHugeLineSpanningManyBlocksIsSkipped) {
    // 9 MiB on one line: more than the read buffer, so the reader must skip it in pieces.
    const std::string huge = "{\"t\": \"" + std::string(9u << 20, 'y') + "\"}";
    const auto path = write("huge.jsonl", "{\"i\":1}\n" + huge + "\n{\"i\":2}\n{\"i\":3}");
    ReadOptions o = skipping();
    o.max_record_bytes = 1u << 20;
    const auto items = read_items(path, o);
    EXPECT_EQ(lines_of(items), (std::vector<uint64_t>{1, 3, 4}));
    ASSERT_EQ(bad_.size(), 1u);
    EXPECT_EQ(bad_[0].reason, "record is " + std::to_string(huge.size()) +
                                  " bytes, over the limit of 1048576 "
                                  "(max_record_bytes)");
    EXPECT_LE(bad_[0].raw.size(), 8192u);
    // Under the default limit the same line is an ordinary record.
    EXPECT_EQ(read_all(path).at(1)["t"].get_ref<const std::string&>().size(), 9u << 20);
}

TEST_F(ReaderTest, JsonlManyBlocksReadCompletelyAndResume) {
    std::string content;
    const int n = 60000;
    for (int i = 0; i < n; ++i) {
        content += "{\"i\": " + std::to_string(i) + ", \"pad\": \"" + std::string(i % 200, 'p') + "\"}\n";
    }
    ASSERT_GT(content.size(), 5u << 20);  // more than one read block
    const auto path = write("many.jsonl", content);
    const auto items = read_items(path, {});
    ASSERT_EQ(items.size(), static_cast<size_t>(n));
    for (int i = 0; i < n; i += 997) {
        EXPECT_EQ(items[i].record["i"], i);
        EXPECT_EQ(items[i].line, static_cast<uint64_t>(i + 1));
    }
    EXPECT_EQ(open_reader(path, {})->total_bytes(), content.size());
    expect_resumable(path, {}, 7919);
}

TEST_F(ReaderTest, JsonlResumes) {
    const auto path = write("r.jsonl", "\xEF\xBB\xBF{\"i\":0}\n\n{\"i\":1}\r\n{bad}\n{\"i\":2}\n\n");
    expect_resumable(path, skipping());
}

// ---------------------------------------------------------------- JSON

TEST_F(ReaderTest, JsonArrayRecordsCarryTheirStartLine) {
    const auto path = write("a.json", "[\n  {\"a\": 1,\n   \"b\": [1, 2]},\n  {\"a\": \"]},{\"},\n\n  {}\n]\n");
    const auto items = read_items(path, {});
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(lines_of(items), (std::vector<uint64_t>{2, 4, 6}));
    EXPECT_EQ(items[0].record, Json::parse(R"({"a": 1, "b": [1, 2]})"));
    EXPECT_EQ(items[1].record["a"], "]},{");
    EXPECT_EQ(items[2].record, Json::object());
}

TEST_F(ReaderTest, JsonSingleObjectAndEmptyArray) {
    const auto one = write("one.json", "\xEF\xBB\xBF\n{\"x\": [1]}\n");
    const auto items = read_items(one, {});
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].line, 2u);
    EXPECT_EQ(read_all(write("empty.json", " [ ] ")).size(), 0u);
}

TEST_F(ReaderTest, JsonElementThatIsNotAnObjectIsABadRecord) {
    const auto path = write("a.json", "[{\"i\": 1},\n 7,\n [1],\n {\"i\": tru},\n {\"i\": 2}]");
    EXPECT_EQ(error_of(path), path.string() + ":2: expected a JSON object, got a number");
    const auto items = read_items(path, skipping());
    EXPECT_EQ(lines_of(items), (std::vector<uint64_t>{1, 5}));
    ASSERT_EQ(bad_.size(), 3u);
    EXPECT_EQ(bad_[0].reason, "expected a JSON object, got a number");
    EXPECT_EQ(bad_[1].pos.line, 3u);
    EXPECT_EQ(bad_[1].reason, "expected a JSON object, got an array");
    EXPECT_EQ(bad_[2].pos.line, 4u);
    EXPECT_EQ(bad_[2].reason.rfind("element is not valid JSON: ", 0), 0u) << bad_[2].reason;
    EXPECT_EQ(bad_[2].raw, "{\"i\": tru}");
}

TEST_F(ReaderTest, MalformedJsonDocumentIsAnInputErrorWithLineAndColumn) {
    const auto missing_comma = write("a.json", "[\n {\"a\": 1}\n {\"a\": 2}\n]");
    EXPECT_EQ(error_of(missing_comma),
              missing_comma.string() + ":3:2: malformed JSON: expected ',' or ']' after an array element, found '{'");
    // Structural damage is not skippable: the rest of the file cannot be trusted.
    EXPECT_THROW(read_all(missing_comma, skipping()), InputError);

    const auto unclosed = write("b.json", "[{\"a\": 1},\n {\"a\": \"x\"");
    EXPECT_EQ(
        error_of(unclosed),
        unclosed.string() + ":2:2: malformed JSON: unexpected end of file: the value that starts here is not closed");
    const auto no_bracket = write("c.json", "[{\"a\": 1}\n");
    EXPECT_EQ(error_of(no_bracket),
              no_bracket.string() + ":2:1: malformed JSON: unexpected end of file: the array is not closed with ']'");
    const auto trailing = write("d.json", "[{\"a\": 1}] x");
    EXPECT_EQ(error_of(trailing),
              trailing.string() + ":1:12: malformed JSON: unexpected content after the end of the JSON document");
    const auto comma = write("e.json", "[{\"a\": 1},]");
    EXPECT_EQ(error_of(comma), comma.string() + ":1:11: malformed JSON: expected a value after ',', found ']'");
    const auto scalar = write("f.json", "\"text\"");
    EXPECT_EQ(error_of(scalar),
              scalar.string() + ":1:1: malformed JSON: expected a JSON array of objects or an object, found '\"'");
    const auto empty = write("g.json", "");
    EXPECT_EQ(
        error_of(empty),
        empty.string() + ":1:1: malformed JSON: the file is empty: expected a JSON array of objects or an object");
}

TEST_F(ReaderTest, JsonElementOverTheLimit) {
    const auto path = write("a.json", "[{\"i\": 1}, {\"t\": \"" + std::string(300, 'x') + "\"}, {\"i\": 2}]");
    ReadOptions o = skipping();
    o.max_record_bytes = 100;
    EXPECT_EQ(read_all(path, o).size(), 2u);
    ASSERT_EQ(bad_.size(), 1u);
    EXPECT_EQ(bad_[0].reason, "record is 309 bytes, over the limit of 100 (max_record_bytes)");
}

TEST_F(ReaderTest, JsonResumes) {
    expect_resumable(write("a.json", "[\n{\"i\": 0},\n 5,\n{\"i\": 1}, {\"i\": 2},\n\n{\"i\": [3]}\n]\n"), skipping());
    expect_resumable(write("b.json", "{\"only\": true}"), {});
}

// ---------------------------------------------------------------- CSV

TEST_F(ReaderTest, CsvQuotedFieldsWithCommasQuotesAndNewlines) {
    const auto path = write("a.csv",
                            "id,text,note\n"
                            "1,\"a, b\",\"say \"\"hi\"\"\"\n"
                            "2,\"two\nlines\n\nand a blank\",x\n"
                            "3,,\"\"\n"
                            "007,plain \"inner\" quote, spaced \n");
    const auto items = read_items(path, {});
    ASSERT_EQ(items.size(), 4u);
    EXPECT_EQ(lines_of(items), (std::vector<uint64_t>{2, 3, 7, 8}));
    EXPECT_EQ(items[0].record, Json::parse(R"({"id": "1", "text": "a, b", "note": "say \"hi\""})"));
    EXPECT_EQ(items[1].record["text"], "two\nlines\n\nand a blank");
    EXPECT_EQ(items[2].record, Json::parse(R"({"id": "3", "text": "", "note": ""})"));
    // No type guessing, and a quote inside an unquoted field is taken literally.
    EXPECT_EQ(items[3].record, Json::parse(R"({"id": "007", "text": "plain \"inner\" quote", "note": " spaced "})"));
}

TEST_F(ReaderTest, CsvCrlfBomAndTrailingBlankLines) {
    const auto path = write("a.csv", "\xEF\xBB\xBFname,v\r\n\"x\r\ny\",1\r\n\r\nz,2\r\n\r\n");
    const auto items = read_items(path, {});
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].record, Json::parse(R"({"name": "x\r\ny", "v": "1"})"));  // quoted CRLF kept as written
    EXPECT_EQ(items[1].record, Json::parse(R"({"name": "z", "v": "2"})"));
    EXPECT_EQ(lines_of(items), (std::vector<uint64_t>{2, 5}));
}

TEST_F(ReaderTest, CsvRaggedRow) {
    const auto path = write("a.csv", "a,b,c\n1,2,3\n1,2,3,4\n5,6\n7,8,9\n");
    EXPECT_EQ(error_of(path), path.string() + ":3: row has 4 fields, header has 3");
    const auto items = read_items(path, skipping());
    EXPECT_EQ(lines_of(items), (std::vector<uint64_t>{2, 5}));
    ASSERT_EQ(bad_.size(), 2u);
    EXPECT_EQ(bad_[0].reason, "row has 4 fields, header has 3");
    EXPECT_EQ(bad_[0].raw, "1,2,3,4");
    EXPECT_EQ(bad_[1].pos.line, 4u);
    EXPECT_EQ(bad_[1].reason, "row has 2 fields, header has 3");
}

TEST_F(ReaderTest, CsvUnterminatedQuoteAtEndOfFile) {
    const auto path = write("a.csv", "a,b\n1,2\n3,\"never\nclosed\n");
    EXPECT_EQ(error_of(path), path.string() + ":3: unterminated quoted field: the file ends inside quotes");
    EXPECT_EQ(read_all(path, skipping()).size(), 1u);
    ASSERT_EQ(bad_.size(), 1u);
    EXPECT_EQ(bad_[0].raw, "3,\"never\nclosed");
}

TEST_F(ReaderTest, CsvCharacterAfterClosingQuote) {
    const auto path = write("a.csv", "a,b\n\"x\"y,2\n3,4\n");
    EXPECT_EQ(error_of(path), path.string() + ":2: unexpected character after the closing quote of field 1");
    EXPECT_EQ(read_all(path, skipping()).size(), 1u);
}

TEST_F(ReaderTest, CsvBadHeaders) {
    const auto dup = write("dup.csv", "a,b,a\n1,2,3\n");
    EXPECT_EQ(error_of(dup), dup.string() + ":1: duplicate column name 'a' in the header (columns 1 and 3)");
    EXPECT_THROW(read_all(dup, skipping()), InputError);  // not skippable: no row could be read right
    const auto empty = write("empty.csv", "a,,c\n1,2,3\n");
    EXPECT_EQ(error_of(empty), empty.string() + ":1: column 2 of the header is empty");
    const auto open = write("open.csv", "a,\"b\n");
    EXPECT_EQ(error_of(open),
              open.string() + ":1: malformed header: unterminated quoted field: the file ends inside quotes");
    EXPECT_EQ(read_all(write("none.csv", "")).size(), 0u);
    EXPECT_EQ(read_all(write("only.csv", "a,b\n")).size(), 0u);
}

TEST_F(ReaderTest, CsvInvalidUtf8AndOversizedRows) {
    const auto path = write(
        "a.csv", "a,b\n1,\"caf\xE9\"\n2," + std::string(200, 'z') + "\n3,\"x\n" + std::string(200, 'q') + "\"\n4,ok\n");
    ReadOptions o = skipping();
    o.max_record_bytes = 100;
    const auto items = read_items(path, o);
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].line, 6u);
    ASSERT_EQ(bad_.size(), 3u);
    EXPECT_EQ(bad_[0].reason, "invalid UTF-8 at byte 7");
    EXPECT_EQ(bad_[0].raw, "1,\"caf\uFFFD\"");
    EXPECT_EQ(bad_[1].reason, "record is 202 bytes, over the limit of 100 (max_record_bytes)");
    EXPECT_EQ(bad_[2].pos.line, 4u);
    EXPECT_EQ(bad_[2].reason, "record is 206 bytes, over the limit of 100 (max_record_bytes)");
}

TEST_F(ReaderTest, CsvResumes) {
    const auto path = write("a.csv", "\xEF\xBB\xBFh1,h2\r\n1,\"a\nb\"\r\n\r\n2,x\r\nbad\r\n3,\"\"\"q\"\"\"\r\n");
    expect_resumable(path, skipping());
}

// ---------------------------------------------------------------- text

TEST_F(ReaderTest, TextLinesSkipBlankLinesAndStripCr) {
    const auto path = write("a.txt",
                            "\xEF\xBB\xBF"
                            "first line\r\n\r\n  \nsecond\tline\n  indented\nlast");
    const auto items = read_items(path, {});
    ASSERT_EQ(items.size(), 4u);
    EXPECT_EQ(items[0].record, Json::parse(R"({"text": "first line"})"));
    EXPECT_EQ(items[1].record["text"], "second\tline");
    EXPECT_EQ(items[2].record["text"], "  indented");
    EXPECT_EQ(items[3].record["text"], "last");
    EXPECT_EQ(lines_of(items), (std::vector<uint64_t>{1, 4, 5, 6}));
}

TEST_F(ReaderTest, TextParagraphs) {
    const auto path = write("a.md", "\n# Title\r\nintro line\r\n\r\n\r\n  \nSecond para\nhas two lines\n\nLast");
    ReadOptions o;
    o.text_unit = TextUnit::paragraph;
    const auto items = read_items(path, o);
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(items[0].record["text"], "# Title\nintro line");
    EXPECT_EQ(items[1].record["text"], "Second para\nhas two lines");
    EXPECT_EQ(items[2].record["text"], "Last");
    EXPECT_EQ(lines_of(items), (std::vector<uint64_t>{2, 7, 10}));
}

TEST_F(ReaderTest, TextInvalidUtf8AndOversizedParagraphs) {
    const auto path = write("a.txt", "good\nbad \xC3\x28 bytes\n\nlong\n" + std::string(80, 'w') + "\n\nend\n");
    EXPECT_EQ(error_of(path), path.string() + ":2: invalid UTF-8 at byte 5");
    ReadOptions o = skipping();
    o.text_unit = TextUnit::paragraph;
    o.max_record_bytes = 50;
    const auto items = read_items(path, o);
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].record["text"], "end");
    ASSERT_EQ(bad_.size(), 2u);
    EXPECT_EQ(bad_[0].pos.line, 1u);
    EXPECT_EQ(bad_[0].reason, "invalid UTF-8 at byte 10");
    EXPECT_EQ(bad_[0].raw, "good\nbad \uFFFD( bytes");
    EXPECT_EQ(bad_[1].pos.line, 4u);
    EXPECT_EQ(bad_[1].reason, "record is 85 bytes, over the limit of 50 (max_record_bytes)");
}

TEST_F(ReaderTest, TextResumes) {
    const auto path = write("a.txt", "one\r\n\ntwo\nthree\n\n\nfour\nfive");
    expect_resumable(path, {});
    ReadOptions o;
    o.text_unit = TextUnit::paragraph;
    expect_resumable(path, o);
}

TEST_F(ReaderTest, ReadAllReadsEveryRecord) {
    const auto path = write("v.jsonl", "{\"w\":\"a\"}\n{\"w\":\"b\"}\n");
    const auto records = read_all(path);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[1]["w"], "b");
}

}  // namespace
