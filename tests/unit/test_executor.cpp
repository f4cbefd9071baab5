#include "synthforge/engine/executor.h"
#include "synthforge/engine/plugin.h"
#include "synthforge/engine/registry.h"
#include "synthforge/engine/run_store.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace synthforge;

namespace {

// A block that fails the run once when it meets a chosen row, like a crash
// in the middle of a batch would. Used to prove resume loses and doubles nothing.
std::atomic<int> g_crash_at{-1};

class CrashOnce : public Block {
  public:
    using Block::Block;
    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& r : rows) {
            if (r.value("id", -2) == g_crash_at.load()) {
                g_crash_at = -1;
                throw RunError("simulated crash");
            }
            out.emit(std::move(r));
        }
    }
};

const bool registered = [] {
    BlockRegistry::global().add(
        {"test_crash_once", "test only", Json::parse(R"({"type":"object"})"),
         [](const std::string& name, const Json&, const BlockEnv&) { return std::make_unique<CrashOnce>(name); }});
    return true;
}();

fs::path temp_dir(const std::string& name) {
    fs::path d = fs::path(testing::TempDir()) / ("executor_" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

fs::path write_input(const fs::path& dir, int n) {
    fs::path p = dir / "in.jsonl";
    std::ofstream out(p);
    for (int i = 0; i < n; ++i)
        out << R"({"id": )" << i << R"(, "text": "row )" << (i % 50) << R"( of the input", "len": )" << (i % 7)
            << "}\n";
    return p;
}

Flow write_flow(const fs::path& dir) {
    fs::path p = dir / "flow.yaml";
    std::ofstream(p) << R"(version: 1
blocks:
  - {name: keep, type: filter, config: {where: [{column: len, op: ">", value: 0}]}}
  - {name: unique, type: dedup_exact, config: {columns: [text]}}
  - {name: crash_a, type: test_crash_once}
  - {name: pick, type: sample, config: {k: 20}}
  - {name: crash_b, type: test_crash_once}
  - {name: tag, type: set, config: {column: tag, template: "#{{ id }}"}}
)";
    return load_flow(p);
}

RunOptions options(const fs::path& dir, const fs::path& input, const std::string& run) {
    RunOptions o;
    o.inputs = {input};
    o.run_dir = dir / run;
    o.output = dir / (run + ".jsonl");
    o.batch_size = 7;
    o.seed = 3;
    return o;
}

}  // namespace

TEST(Executor, ResumeAfterCrashInEveryStageGivesTheSameOutput) {
    auto dir = temp_dir("resume");
    auto input = write_input(dir, 300);
    Flow flow = write_flow(dir);

    RunSummary clean = run_flow(flow, options(dir, input, "clean"));
    std::string expected = read(dir / "clean.jsonl");
    EXPECT_EQ(clean.rows_in, 300u);
    EXPECT_EQ(clean.rows_out, 20u);
    // Every input row is either output or rejected.
    EXPECT_EQ(clean.rows_out + clean.rows_rejected, 300u);

    // Crash in stage 0 (at row 48, in the 7th batch that reaches the block: ids 0-47 are
    // filtered or deduplicated into fewer rows), then in stage 1 (at a sampled row).
    std::vector<Json> rows;
    std::istringstream lines(expected);
    for (std::string line; std::getline(lines, line);) rows.push_back(Json::parse(line));
    int sampled_id = rows[10]["id"].get<int>();

    auto o = options(dir, input, "crashy");
    g_crash_at = 48;
    EXPECT_THROW(run_flow(flow, o), RunError);
    EXPECT_FALSE(fs::exists(dir / "crashy.jsonl"));
    o.resume = true;
    g_crash_at = sampled_id;
    EXPECT_THROW(run_flow(flow, o), RunError);
    RunSummary resumed = run_flow(flow, o);
    EXPECT_TRUE(resumed.resumed);
    EXPECT_EQ(read(dir / "crashy.jsonl"), expected);
    EXPECT_EQ(read(dir / "crashy" / "rejects.jsonl"), read(dir / "clean" / "rejects.jsonl"));
    // Per-block totals add up over the three processes exactly as in one.
    ASSERT_EQ(resumed.blocks.size(), clean.blocks.size());
    for (size_t i = 0; i < clean.blocks.size(); ++i) {
        EXPECT_EQ(resumed.blocks[i].rows_in, clean.blocks[i].rows_in) << clean.blocks[i].name;
        EXPECT_EQ(resumed.blocks[i].rows_out, clean.blocks[i].rows_out) << clean.blocks[i].name;
        EXPECT_EQ(resumed.blocks[i].rows_rejected, clean.blocks[i].rows_rejected) << clean.blocks[i].name;
    }
}

TEST(Executor, StopRequestCommitsAndResumes) {
    g_crash_at = -1;
    auto dir = temp_dir("stop");
    auto input = write_input(dir, 100);
    Flow flow = write_flow(dir);
    run_flow(flow, options(dir, input, "clean"));

    std::atomic<bool> stop{true};  // stop after the first batch
    auto o = options(dir, input, "stopped");
    o.stop_requested = &stop;
    EXPECT_THROW(run_flow(flow, o), RunInterrupted);
    RunStore store(dir / "stopped" / "run.sqlite");
    EXPECT_EQ(store.batches_done(0), 1u);
    o.stop_requested = nullptr;
    o.resume = true;
    run_flow(flow, o);
    EXPECT_EQ(read(dir / "stopped.jsonl"), read(dir / "clean.jsonl"));
}

TEST(Executor, MetadataRecordsCountsAndStatus) {
    auto dir = temp_dir("meta");
    auto input = write_input(dir, 50);
    Flow flow = write_flow(dir);
    run_flow(flow, options(dir, input, "run"));
    Json meta = Json::parse(read(dir / "run" / "metadata.json"));
    EXPECT_EQ(meta["status"], "complete");
    EXPECT_EQ(meta["rows_in"], 50);
    EXPECT_EQ(meta["rows_out"], 20);
    EXPECT_EQ(meta["seed"], 3);
    EXPECT_EQ(meta["blocks"][0]["name"], "keep");
    EXPECT_EQ(meta["blocks"][0]["rows_in"], 50);
    EXPECT_EQ(meta["blocks"][0]["rows_rejected"], 8);  // len == 0 for ids 0, 7, ..., 49
    EXPECT_EQ(meta["inputs"][0]["bytes"], fs::file_size(input));
}

TEST(Executor, RefusesARunDirectoryInUseAndAMissingOne) {
    auto dir = temp_dir("refuse");
    auto input = write_input(dir, 10);
    Flow flow = write_flow(dir);
    run_flow(flow, options(dir, input, "run"));
    EXPECT_THROW(run_flow(flow, options(dir, input, "run")), UserError);
    auto o = options(dir, input, "nothing-here");
    o.resume = true;
    EXPECT_THROW(run_flow(flow, o), UserError);
}

TEST(Executor, CsvOutputHasTheUnionOfColumns) {
    auto dir = temp_dir("csv");
    fs::path input = dir / "in.jsonl";
    std::ofstream(input) << "{\"a\": 1}\n{\"b\": \"x,y\", \"a\": 2}\n";
    fs::path fp = dir / "flow.yaml";
    std::ofstream(fp) << "version: 1\nblocks:\n  - {name: d, type: drop, config: {columns: [zzz]}}\n";
    RunOptions o;
    o.inputs = {input};
    o.run_dir = dir / "run";
    o.output = dir / "out.csv";
    run_flow(load_flow(fp), o);
    EXPECT_EQ(read(dir / "out.csv"), "a,b\n1,\n2,\"x,y\"\n");
}

TEST(RunStore, CommitsBatchesAtomicallyAndCachesResponses) {
    auto dir = temp_dir("store");
    {
        RunStore store(dir / "run.sqlite");
        BatchCommit b;
        b.stage = 0;
        b.index = 0;
        b.output_rows = "{\"a\":1}\n";
        b.output_count = 1;
        b.counts = Json::object();
        b.reader_position = "{\"file\":0}";
        b.state_deltas["dedup"] = std::string("\x01\x02", 2);
        store.commit_batch(b);
        EXPECT_THROW(store.commit_batch(b), RunError);  // the same batch twice is refused, nothing doubled
        store.put_response("k1", "answer");
    }
    RunStore store(dir / "run.sqlite");
    EXPECT_EQ(store.batches_done(0), 1u);
    EXPECT_EQ(store.output_count(0), 1u);
    EXPECT_EQ(store.last_reader_position(), "{\"file\":0}");
    EXPECT_EQ(store.state_deltas("dedup"), std::vector<std::string>{std::string("\x01\x02", 2)});
    EXPECT_EQ(store.cached_response("k1"), "answer");
    EXPECT_FALSE(store.cached_response("k2").has_value());
}

TEST(Plugin, LoadsTheExampleAndRefusesBadLibraries) {
    load_plugin(SYNTHFORGE_TEST_PLUGIN);
    load_plugin(SYNTHFORGE_TEST_PLUGIN);  // a second load is a no-op, not a duplicate registration
    const BlockType* t = BlockRegistry::global().find("banned_words");
    ASSERT_NE(t, nullptr);
    EXPECT_NE(t->origin.find("banned_words.so"), std::string::npos);
    auto block = t->make("b", Json::parse(R"({"column": "text", "words": ["bad"]})"), BlockEnv{});
    Emitter out("b");
    block->process({Record{{"text", "all good"}}, Record{{"text", "a BAD word"}}}, out);
    EXPECT_EQ(out.rows().size(), 1u);
    ASSERT_EQ(out.rejected().size(), 1u);
    EXPECT_EQ(out.rejected()[0]["_reason"], "contains banned word 'bad'");

    EXPECT_THROW(load_plugin("/nonexistent/plugin.so"), UserError);
    try {
        load_plugin("/lib/x86_64-linux-gnu/libm.so.6");
        FAIL() << "a library without the entry point must be refused";
    } catch (const UserError& e) {
        EXPECT_NE(std::string(e.what()).find("does not export synthforge_plugin_entry"), std::string::npos);
    }
}
