#include "synthforge/data/reader.h"
#include "synthforge/data/writer.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace synthforge;

class WriterTest : public ::testing::Test {
  protected:
    void SetUp() override {
        static std::atomic<int> counter{0};
        dir_ = fs::path(::testing::TempDir()) /
               ("sf_writers_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    static std::string slurp(const fs::path& path) {
        std::ifstream in(path, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    std::vector<std::string> entries() const {
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }

    void write_all(const fs::path& path, Format format, const std::vector<Record>& records,
                   const WriteOptions& options = {}) {
        auto writer = open_writer(path, format, options);
        for (const auto& r : records) writer->write(r);
        writer->commit();
    }

    fs::path dir_;
};

std::vector<Record> sample() {
    return {Json::parse(R"({"z": 1, "a": "héllo, \"world\"", "n": null, "list": [1, 2.5, true], "o": {"k": "v"}})"),
            Json::parse(R"({"z": -7, "a": "line\nbreak", "big": 18446744073709551615})"),
            Json::parse(R"({"a": "日本語 😀"})")};
}

TEST(ToJsonLine, CompactOrderedAndUtf8Kept) {
    EXPECT_EQ(to_json_line(Json::parse(R"({"b": 1, "a": [1, {"x": null}], "t": "é😀\n"})")),
              R"({"b":1,"a":[1,{"x":null}],"t":"é😀\n"})");
    EXPECT_EQ(to_json_line(Json::object()), "{}");
}

TEST(ToJsonLine, InvalidUtf8IsReplacedNotThrown) {
    Record r;
    r["t"] = std::string("cut\xE2\x82");
    EXPECT_EQ(to_json_line(r), "{\"t\":\"cut\uFFFD\"}");
}

// to_json_line has its own fast serialiser; it must spell everything exactly as dump() does.
TEST(ToJsonLine, MatchesNlohmannDumpByteForByte) {
    std::mt19937_64 rng(42);
    Record r = Json::object();
    std::vector<double> doubles = {0.0,
                                   -0.0,
                                   1.0,
                                   -1.5,
                                   0.1,
                                   1e-5,
                                   1e-4,
                                   1e15,
                                   1e16,
                                   1e17,
                                   1.2345678901234568e20,
                                   5e-324,
                                   1.7976931348623157e308,
                                   3.141592653589793,
                                   100.0,
                                   123456.789};
    for (int i = 0; i < 2000; ++i) {
        double d;
        const uint64_t bits = rng();
        std::memcpy(&d, &bits, sizeof d);
        if (std::isfinite(d)) doubles.push_back(d);
        doubles.push_back(static_cast<double>(static_cast<int64_t>(rng() >> (rng() % 64))) / 1000.0);
    }
    r["doubles"] = doubles;
    r["special"] = {std::numeric_limits<double>::infinity(), std::nan("")};
    r["ints"] = {INT64_MIN, INT64_MAX, 0, -1, 42};
    r["uints"] = {UINT64_MAX, uint64_t{0}};
    std::string controls;
    for (int c = 0; c < 0x80; ++c) controls += static_cast<char>(c);
    r["controls"] = controls;
    r["unicode"] = "é日本😀\u2028\u2029\uFEFF";
    r["invalid"] = std::string(
        "ok\xFF\xC3(\xED\xA0\x80\xF0\x9F\x98"
        "end");
    r["nested"] = Json::parse(R"({"a": [[], {}, [{"b": null, "c": [true, false]}]], "k\"ey": "v\\al"})");
    r[std::string("key\nwith\x01control\xFE")] = "x";
    EXPECT_EQ(to_json_line(r), r.dump(-1, ' ', false, Json::error_handler_t::replace));
    for (const auto& [key, value] : r.items()) {
        EXPECT_EQ(to_json_line({{key, value}}),
                  Json({{key, value}}).dump(-1, ' ', false, Json::error_handler_t::replace))
            << key;
    }
}

TEST_F(WriterTest, JsonlRoundTrip) {
    const fs::path path = dir_ / "out.jsonl";
    write_all(path, Format::jsonl, sample());
    const std::string text = slurp(path);
    EXPECT_EQ(text.substr(0, text.find('\n') + 1),
              "{\"z\":1,\"a\":\"héllo, \\\"world\\\"\",\"n\":null,\"list\":[1,2.5,true],\"o\":{\"k\":\"v\"}}\n");
    EXPECT_EQ(read_all(path), sample());
    EXPECT_EQ(entries(), std::vector<std::string>{"out.jsonl"});
}

TEST_F(WriterTest, JsonLayoutAndRoundTrip) {
    const fs::path path = dir_ / "out.json";
    write_all(path, Format::json, {Json::parse(R"({"a":1})"), Json::parse(R"({"b":[2]})")});
    EXPECT_EQ(slurp(path), "[\n{\"a\":1},\n{\"b\":[2]}\n]\n");
    write_all(path, Format::json, sample());
    EXPECT_EQ(read_all(path), sample());
    write_all(path, Format::json, {});
    EXPECT_EQ(slurp(path), "[]\n");
    EXPECT_TRUE(read_all(path).empty());
}

TEST_F(WriterTest, CsvQuotingAndValueRendering) {
    const fs::path path = dir_ / "out.csv";
    WriteOptions o;
    o.csv_columns = {"id", "text", "meta", "flag", "missing"};
    write_all(path, Format::csv,
              {Json::parse(R"({"id": 1, "text": "plain", "meta": {"k": [1, "x"]}, "flag": true, "extra": "dropped"})"),
               Json::parse(R"({"id": 2.5, "text": "a, \"b\"\nc", "meta": null, "flag": false})"),
               Json::parse(R"({"id": "x", "text": " padded ", "meta": [], "flag": "crlf\r\n"})")},
              o);
    EXPECT_EQ(slurp(path),
              "id,text,meta,flag,missing\n"
              "1,plain,\"{\"\"k\"\":[1,\"\"x\"\"]}\",true,\n"
              "2.5,\"a, \"\"b\"\"\nc\",,false,\n"
              "x,\" padded \",[],\"crlf\r\n\",\n");
}

TEST_F(WriterTest, CsvRoundTripsThroughTheReaderAsStrings) {
    const fs::path path = dir_ / "out.csv";
    WriteOptions o;
    o.csv_columns = {"a", "z", "big"};
    write_all(path, Format::csv, sample(), o);
    const auto back = read_all(path);
    ASSERT_EQ(back.size(), 3u);
    EXPECT_EQ(back[0], Json::parse(R"({"a": "héllo, \"world\"", "z": "1", "big": ""})"));
    EXPECT_EQ(back[1], Json::parse(R"({"a": "line\nbreak", "z": "-7", "big": "18446744073709551615"})"));
    EXPECT_EQ(back[2], Json::parse(R"({"a": "日本語 😀", "z": "", "big": ""})"));
}

TEST_F(WriterTest, CsvWithoutColumnsUsesTheFirstRecordsKeys) {
    const fs::path path = dir_ / "out.csv";
    write_all(path, Format::csv, {Json::parse(R"({"b": "1", "a": "2"})"), Json::parse(R"({"a": "3", "c": "4"})")});
    EXPECT_EQ(slurp(path), "b,a\n1,2\n,3\n");
}

TEST_F(WriterTest, LargeOutputSpanningManyBuffers) {
    const fs::path path = dir_ / "big.jsonl";
    std::vector<Record> records;
    for (int i = 0; i < 20000; ++i) records.push_back({{"i", i}, {"pad", std::string(i % 300, 'p')}});
    records.push_back({{"huge", std::string(3u << 20, 'h')}});  // larger than the write buffer
    write_all(path, Format::jsonl, records);
    EXPECT_EQ(read_all(path), records);
}

TEST_F(WriterTest, UncommittedWriterLeavesTargetUntouchedAndNoTempFile) {
    const fs::path path = dir_ / "out.jsonl";
    std::ofstream(path) << "old contents\n";
    {
        auto writer = open_writer(path, Format::jsonl);
        for (int i = 0; i < 100000; ++i) writer->write({{"i", i}});  // enough to flush to disk
        EXPECT_EQ(entries().size(), 2u);                             // target + temporary while writing
        EXPECT_EQ(slurp(path), "old contents\n");
    }
    EXPECT_EQ(slurp(path), "old contents\n");
    EXPECT_EQ(entries(), std::vector<std::string>{"out.jsonl"});
}

TEST_F(WriterTest, TempFilesOfKilledProcessesAreRemovedAndLiveOnesKept) {
    const fs::path path = dir_ / "out.jsonl";
    // A PID that is certainly gone: a child that has exited and been reaped.
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    ASSERT_GT(child, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    const fs::path dead = dir_ / ("out.jsonl.tmp-" + std::to_string(child));
    const fs::path alive = dir_ / ("out.jsonl.tmp-" + std::to_string(::getppid()));  // the test runner
    const fs::path other = dir_ / ("other.jsonl.tmp-" + std::to_string(child));      // another target's
    const fs::path odd = dir_ / "out.jsonl.tmp-notes";
    for (const auto& p : {dead, alive, other, odd}) std::ofstream(p) << "partial";

    auto writer = open_writer(path, Format::jsonl);
    writer->write(Record{{"a", 1}});
    writer->commit();

    EXPECT_FALSE(fs::exists(dead)) << "a killed writer's temporary file is left behind";
    EXPECT_TRUE(fs::exists(alive)) << "a live process's temporary file was removed";
    EXPECT_TRUE(fs::exists(other));
    EXPECT_TRUE(fs::exists(odd));
    EXPECT_EQ(slurp(path), "{\"a\":1}\n");
}

TEST_F(WriterTest, CommitReplacesTheTargetAndRemovesTheTempFile) {
    const fs::path path = dir_ / "out.json";
    std::ofstream(path) << "old";
    auto writer = open_writer(path, Format::json);
    writer->write({{"a", 1}});
    const std::string temp = "out.json.tmp-" + std::to_string(::getpid());
    EXPECT_EQ(entries(), (std::vector<std::string>{"out.json", temp}));
    writer->commit();
    writer.reset();
    EXPECT_EQ(slurp(path), "[\n{\"a\":1}\n]\n");
    EXPECT_EQ(entries(), std::vector<std::string>{"out.json"});
}

TEST_F(WriterTest, MissingDirectoryIsARunErrorNamingThePath) {
    const fs::path path = dir_ / "no" / "such" / "out.jsonl";
    try {
        open_writer(path, Format::jsonl);
        FAIL() << "expected RunError";
    } catch (const RunError& e) {
        EXPECT_EQ(std::string(e.what()), "cannot write " + path.string() + ": No such file or directory");
    }
    EXPECT_THROW(write_file_atomic(path, "x"), RunError);
}

TEST_F(WriterTest, UnwritableDirectoryIsARunError) {
    if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
    const fs::path locked = dir_ / "locked";
    fs::create_directory(locked);
    fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
    try {
        write_file_atomic(locked / "out.txt", "x");
        ADD_FAILURE() << "expected RunError";
    } catch (const RunError& e) {
        EXPECT_EQ(std::string(e.what()), "cannot write " + (locked / "out.txt").string() + ": Permission denied");
    }
    fs::permissions(locked, fs::perms::owner_all);
}

// A file-size limit makes write() fail half way, as a full disk would (EFBIG instead of ENOSPC).
TEST_F(WriterTest, FailedWriteIsARunErrorAndLeavesNoTempFile) {
    const fs::path path = dir_ / "out.jsonl";
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
    rlimit small = old;
    small.rlim_cur = 256 << 10;
    auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    std::string error;
    try {
        auto writer = open_writer(path, Format::jsonl);
        for (int i = 0; i < 200000; ++i) writer->write({{"i", i}, {"pad", "xxxxxxxxxxxxxxxx"}});
        writer->commit();
    } catch (const RunError& e) {
        error = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
    EXPECT_EQ(error, "cannot write " + path.string() + ": File too large");
    EXPECT_TRUE(entries().empty());
}

TEST_F(WriterTest, RenameOntoADirectoryFailsAtCommit) {
    const fs::path path = dir_ / "taken";
    fs::create_directory(path);
    fs::create_directory(path / "child");  // a non-empty directory cannot be replaced by rename()
    auto writer = open_writer(path, Format::jsonl);
    writer->write({{"a", 1}});
    EXPECT_THROW(writer->commit(), RunError);
    writer.reset();
    EXPECT_EQ(entries(), std::vector<std::string>{"taken"});
}

TEST_F(WriterTest, WriteFileAtomicReplacesContent) {
    const fs::path path = dir_ / "state.json";
    write_file_atomic(path, "first");
    write_file_atomic(path, "second, longer");
    EXPECT_EQ(slurp(path), "second, longer");
    write_file_atomic(path, "");
    EXPECT_EQ(slurp(path), "");
    EXPECT_EQ(entries(), std::vector<std::string>{"state.json"});
}

TEST_F(WriterTest, ReplacingKeepsTheTargetsPermissions) {
    const fs::path path = dir_ / "keep.jsonl";
    std::ofstream(path) << "x";
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
    write_file_atomic(path, "y");
    EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(WriterTest, TextIsNotAnOutputFormat) {
    EXPECT_THROW(open_writer(dir_ / "out.txt", Format::text), UserError);
    EXPECT_TRUE(entries().empty());
}

}  // namespace
