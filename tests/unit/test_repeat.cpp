// The `repeat` loop construct: rounds over a pool or over the previous round's
// rows, a target row count, lineage columns, parents kept on rejection, resume at
// round boundaries, and validation of the blocks inside it.
#include "synthforge/engine/executor.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using namespace synthforge;

namespace {

// Counts the rows it sees and, when armed, fails the run at a chosen round, like a
// crash in the middle of a loop would.
std::atomic<int> g_rows_seen{0};
std::atomic<int> g_crash_in_round{-1};

class RoundProbe : public Block {
  public:
    RoundProbe(std::string name, const BlockEnv& env) : Block(std::move(name)), env_(env) {}
    void process(std::vector<Record>&& rows, Emitter& out) override {
        if (static_cast<int>(current_round(env_)) == g_crash_in_round.load()) {
            g_crash_in_round = -1;
            throw RunError("simulated crash");
        }
        for (auto& r : rows) {
            ++g_rows_seen;
            out.emit(std::move(r));
        }
    }

  private:
    BlockEnv env_;
};

const bool registered = [] {
    BlockRegistry::global().add({"test_round_probe", "test only", Json::parse(R"({"type":"object"})"),
                                 [](const std::string& name, const Json&, const BlockEnv& env) {
                                     return std::make_unique<RoundProbe>(name, env);
                                 }});
    return true;
}();

fs::path temp_dir(const std::string& name) {
    fs::path d = fs::path(testing::TempDir()) / ("repeat_" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

std::vector<Json> read_rows(const fs::path& p) {
    std::vector<Json> rows;
    std::ifstream in(p);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) rows.push_back(Json::parse(line));
    return rows;
}

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

fs::path write_file(const fs::path& p, const std::string& text) {
    std::ofstream(p) << text;
    return p;
}

RunOptions options(const fs::path& dir, const fs::path& input, const std::string& run) {
    RunOptions o;
    o.inputs = {input};
    o.run_dir = dir / run;
    o.output = dir / (run + ".jsonl");
    o.batch_size = 4;
    o.seed = 11;
    return o;
}

// A pool that grows: each round draws one text from the pool and appends "+";
// duplicates of anything already made (or of a seed, primed) are rejected.
constexpr const char* kPoolFlow = R"(version: 1
blocks:
  - name: grow
    type: repeat
    config:
      input: pool
      until_rows: 7
      max_rounds: 50
      prime: [novel]
      blocks:
        - {name: draw, type: sample_examples, config: {count: 3, field: text, draws: [{n: 1}]}}
        - {name: extend, type: set, config: {column: text, template: "{{ examples[0] }}+"}}
        - {name: tidy, type: drop, config: {columns: [examples]}}
        - {name: probe, type: test_round_probe}
        - {name: novel, type: dedup_exact, config: {columns: [text]}}
)";

}  // namespace

TEST(Repeat, PoolLoopStopsAtTheTargetCountAndRejectsSurplus) {
    auto dir = temp_dir("pool");
    auto input = write_file(dir / "in.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": \"a+\"}\n");
    Flow flow = load_flow(write_file(dir / "flow.yaml", kPoolFlow));
    RunSummary s = run_flow(flow, options(dir, input, "run"));

    auto rows = read_rows(dir / "run.jsonl");
    ASSERT_EQ(rows.size(), 7u);
    std::set<std::string> texts;
    for (const auto& r : rows) {
        texts.insert(r["text"].get<std::string>());
        EXPECT_GE(r["round"].get<int>(), 1);
        EXPECT_FALSE(r.contains("_repeat_parent"));
    }
    EXPECT_EQ(texts.size(), 7u) << "rows are unique";
    EXPECT_FALSE(texts.count("a+")) << "a seed counts as made already (primed)";

    // Every made row that is not output was rejected with a reason; nothing vanished.
    auto rejects = read_rows(dir / "run" / "rejects.jsonl");
    size_t dedup = 0, surplus = 0;
    for (const auto& r : rejects) {
        std::string by = r["_rejected_by"];
        if (by == "novel") ++dedup;
        if (by == "grow") {
            ++surplus;
            EXPECT_NE(r["_reason"].get<std::string>().find("surplus"), std::string::npos);
        }
    }
    EXPECT_GT(dedup, 0u) << "'a' drawn again gives 'a+', a seed";
    auto meta = Json::parse(read(dir / "run" / "metadata.json"));
    const auto& loop = meta["blocks"][0]["loop"];
    EXPECT_EQ(loop["stopped_because"], "reached 7 rows");
    EXPECT_EQ(loop["rows"], 7);
    // Rows made = output + rejected by dedup + surplus.
    uint64_t made = 0;
    for (const auto& b : loop["blocks"])
        if (b["name"] == "extend") made = b["rows_out"].get<uint64_t>();
    EXPECT_EQ(made, 7 + dedup + surplus);
    EXPECT_EQ(s.rows_out, 7u);

    // Same seed, same rows; another seed draws other rows.
    run_flow(flow, options(dir, input, "again"));
    EXPECT_EQ(read(dir / "again.jsonl"), read(dir / "run.jsonl"));
}

TEST(Repeat, PreviousRoundsKeepLineageAndParentsOfRejectedRows) {
    auto dir = temp_dir("previous");
    auto input = write_file(dir / "in.jsonl", "{\"id\": \"a\", \"text\": \"a\"}\n{\"text\": \"b\"}\n");
    Flow flow = load_flow(write_file(dir / "flow.yaml", R"(version: 1
blocks:
  - name: evolve
    type: repeat
    config:
      max_rounds: 3
      keep_parent_on_reject: true
      id_column: id
      emit_input: true
      blocks:
        - {name: grow, type: set, config: {column: text, template: "{{ text }}x"}}
        - {name: no_bxx, type: filter, config: {where: [{column: text, op: not_matches, value: "^bxx$"}]}}
)"));
    run_flow(flow, options(dir, input, "run"));
    auto rows = read_rows(dir / "run.jsonl");
    // Round 0 (the input), round 1: ax bx, round 2: axx (bxx rejected, bx kept), round 3: axxx (bxx again).
    std::vector<std::string> want_text = {"a", "b", "ax", "bx", "axx", "axxx"};
    std::vector<int> want_round = {0, 0, 1, 1, 2, 3};
    std::vector<std::string> want_id = {"a", "1", "a.1", "1.1", "a.1.2", "a.1.2.3"};
    ASSERT_EQ(rows.size(), want_text.size());
    for (size_t i = 0; i < rows.size(); ++i) {
        EXPECT_EQ(rows[i]["text"], want_text[i]) << i;
        EXPECT_EQ(rows[i]["round"], want_round[i]) << i;
        EXPECT_EQ(rows[i]["id"], want_id[i]) << i;
    }
    EXPECT_EQ(rows[4]["parent_id"], "a.1");
    auto rejects = read_rows(dir / "run" / "rejects.jsonl");
    ASSERT_EQ(rejects.size(), 2u);
    for (const auto& r : rejects) {
        EXPECT_EQ(r["_rejected_by"], "no_bxx");
        EXPECT_EQ(r["parent_id"], "1.1") << "the kept parent bx is evolved again";
    }
    EXPECT_EQ(rejects[0]["round"], 2);
    EXPECT_EQ(rejects[1]["round"], 3);
}

TEST(Repeat, ResumesAtTheRoundAfterTheLastCheckpoint) {
    auto dir = temp_dir("resume");
    auto input = write_file(dir / "in.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": \"c\"}\n");
    Flow flow = load_flow(write_file(dir / "flow.yaml", kPoolFlow));
    g_crash_in_round = -1;
    run_flow(flow, options(dir, input, "clean"));
    std::string expected = read(dir / "clean.jsonl");

    auto o = options(dir, input, "crashy");
    g_crash_in_round = 3;
    EXPECT_THROW(run_flow(flow, o), RunError);
    o.resume = true;
    g_rows_seen = 0;
    int before = g_rows_seen;
    run_flow(flow, o);
    EXPECT_EQ(read(dir / "crashy.jsonl"), expected);
    EXPECT_EQ(read(dir / "crashy" / "rejects.jsonl"), read(dir / "clean" / "rejects.jsonl"));
    // Rounds 1 and 2 were committed: the resumed process ran from round 3 on, so
    // the probe saw fewer rows than the whole clean run pushed through it.
    auto meta = Json::parse(read(dir / "clean" / "metadata.json"));
    uint64_t clean_probe = 0;
    for (const auto& b : meta["blocks"][0]["loop"]["blocks"])
        if (b["name"] == "probe") clean_probe = b["rows_in"].get<uint64_t>();
    EXPECT_LT(static_cast<uint64_t>(g_rows_seen - before), clean_probe);
    EXPECT_GT(g_rows_seen - before, 0);
}

TEST(Repeat, IdleRoundsStopTheLoopWithTheReason) {
    auto dir = temp_dir("idle");
    auto input = write_file(dir / "in.jsonl", "{\"text\": \"a\"}\n");
    Flow flow = load_flow(write_file(dir / "flow.yaml", R"(version: 1
blocks:
  - name: loop
    type: repeat
    config:
      input: same
      until_rows: 10
      stop_after_idle_rounds: 2
      blocks:
        - {name: unique, type: dedup_exact, config: {columns: [text]}}
)"));
    RunSummary s = run_flow(flow, options(dir, input, "run"));
    EXPECT_EQ(s.rows_out, 1u);
    auto meta = Json::parse(read(dir / "run" / "metadata.json"));
    EXPECT_EQ(meta["blocks"][0]["loop"]["rounds"], 3) << "round 1 makes a row, rounds 2 and 3 none";
    EXPECT_EQ(meta["blocks"][0]["loop"]["stopped_because"], "2 rounds in a row produced no row");
}

TEST(Repeat, SubBlocksAreValidatedWithTheirOwnPositions) {
    auto dir = temp_dir("validate");
    auto p = write_file(dir / "flow.yaml", R"(version: 1
blocks:
  - name: loop
    type: repeat
    config:
      prime: [nope]
      blocks:
        - {name: ok, type: set, config: {column: x, value: 1}}
        - name: bad
          type: filter
          config: {where: [{column: x, op: "=~", value: 1}]}
        - {name: inner, type: repeat, config: {blocks: [{name: z, type: set, config: {column: y, value: 2}}]}}
)");
    auto diags = validate_flow(p);
    std::string all;
    for (const auto& d : diags) all += d.str() + "\n";
    EXPECT_NE(all.find("flow.yaml:11:"), std::string::npos) << all;  // the bad op, on its own line
    EXPECT_NE(all.find("block 'bad'"), std::string::npos) << all;
    EXPECT_NE(all.find("a repeat cannot hold another repeat"), std::string::npos) << all;

    auto q = write_file(dir / "prime.yaml", R"(version: 1
blocks:
  - name: loop
    type: repeat
    config:
      prime: [nope]
      blocks:
        - {name: ok, type: set, config: {column: x, value: 1}}
)");
    std::string msg;
    for (const auto& d : validate_flow(q)) msg += d.str();
    EXPECT_NE(msg.find("no block named 'nope'"), std::string::npos) << msg;
}

TEST(Pick, DrawsDistinctItemsPerRowReproducibly) {
    auto dir = temp_dir("pick");
    write_file(dir / "words.txt", "# vocabulary\napple\nriver\n\nlantern\nowl\n");
    std::string in;
    for (int i = 0; i < 40; ++i) in += "{\"n\": " + std::to_string(i) + "}\n";
    auto input = write_file(dir / "in.jsonl", in);
    Flow flow = load_flow(write_file(dir / "flow.yaml", R"(version: 1
blocks:
  - {name: words, type: pick, config: {column: words, from_file: words.txt, count: 3}}
  - {name: tone, type: pick, config: {column: tone, from: [calm, funny], weights: [1, 0]}}
)"));
    run_flow(flow, options(dir, input, "a"));
    run_flow(flow, options(dir, input, "b"));
    EXPECT_EQ(read(dir / "a.jsonl"), read(dir / "b.jsonl"));
    std::set<std::string> all_words;
    std::set<std::string> combos;
    for (const auto& r : read_rows(dir / "a.jsonl")) {
        ASSERT_EQ(r["words"].size(), 3u);
        std::set<std::string> w(r["words"].begin(), r["words"].end());
        EXPECT_EQ(w.size(), 3u) << "distinct within a row";
        all_words.insert(w.begin(), w.end());
        combos.insert(r["words"].dump());
        EXPECT_EQ(r["tone"], "calm") << "weight 0 is never drawn";
    }
    EXPECT_EQ(all_words, (std::set<std::string>{"apple", "river", "lantern", "owl"}));
    EXPECT_GT(combos.size(), 5u) << "rows draw differently";
}

TEST(SampleExamples, FillsShortDrawsFromLaterOnes) {
    auto dir = temp_dir("examples");
    std::string in;
    for (int i = 0; i < 10; ++i) in += "{\"t\": \"seed" + std::to_string(i) + "\", \"origin\": \"seed\"}\n";
    in += "{\"t\": \"made0\", \"origin\": \"generated\"}\n";
    auto input = write_file(dir / "in.jsonl", in);
    Flow flow = load_flow(write_file(dir / "flow.yaml", R"(version: 1
blocks:
  - name: prompts
    type: sample_examples
    config:
      count: 5
      field: t
      draws:
        - {n: 2, where: {column: origin, equals: generated}}
        - {n: 6, where: {column: origin, equals: seed}, fill: true}
)"));
    run_flow(flow, options(dir, input, "run"));
    auto rows = read_rows(dir / "run.jsonl");
    ASSERT_EQ(rows.size(), 5u);
    for (const auto& r : rows) {
        const auto& ex = r["examples"];
        ASSERT_EQ(ex.size(), 8u) << "one machine example, seven seeds making up for the missing one";
        std::set<std::string> distinct(ex.begin(), ex.end());
        EXPECT_EQ(distinct.size(), 8u);
        EXPECT_TRUE(distinct.count("made0"));
    }
}

TEST(When, OnlyMatchingRowsGoThroughTheBlockAndOrderIsKept) {
    auto dir = temp_dir("when");
    auto input = write_file(dir / "in.jsonl",
                            "{\"n\": 1, \"kind\": \"list\", \"items\": [\"a\", \"b\"]}\n"
                            "{\"n\": 2, \"kind\": \"one\"}\n"
                            "{\"n\": 3, \"kind\": \"list\", \"items\": []}\n"
                            "{\"n\": 4, \"kind\": \"list\", \"items\": [\"c\"]}\n");
    Flow flow = load_flow(write_file(dir / "flow.yaml", R"(version: 1
blocks:
  - name: split
    type: explode
    when: [{column: kind, op: "==", value: list}]
    config: {column: items, as: item}
  - name: tag
    type: set
    when: [{column: n, op: ">", value: 1}]
    config: {column: big, value: true}
)"));
    run_flow(flow, options(dir, input, "run"));
    auto rows = read_rows(dir / "run.jsonl");
    ASSERT_EQ(rows.size(), 4u);
    EXPECT_EQ(rows[0]["item"], "a");
    EXPECT_EQ(rows[1]["item"], "b");
    EXPECT_FALSE(rows[1].contains("big"));
    EXPECT_EQ(rows[2]["n"], 2) << "a bypassed row keeps its place";
    EXPECT_FALSE(rows[2].contains("item"));
    EXPECT_EQ(rows[2]["big"], true);
    EXPECT_EQ(rows[3]["item"], "c");
    for (const auto& r : rows) EXPECT_FALSE(r.contains("_when_position"));
    auto rejects = read_rows(dir / "run" / "rejects.jsonl");
    ASSERT_EQ(rejects.size(), 1u);
    EXPECT_EQ(rejects[0]["n"], 3);
    EXPECT_EQ(rejects[0]["_rejected_by"], "split");

    auto bad = write_file(dir / "bad.yaml", R"(version: 1
blocks:
  - name: x
    type: set
    when: [{column: n, op: "=~", value: 1}]
    config: {column: a, value: 1}
  - name: y
    type: sample
    when: [{column: n, op: "==", value: 1}]
    config: {k: 1}
)");
    std::string msg;
    for (const auto& d : validate_flow(bad)) msg += d.str() + "\n";
    EXPECT_NE(msg.find("bad.yaml:5:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("when[0].op"), std::string::npos) << msg;
    EXPECT_NE(msg.find("needs all rows at once"), std::string::npos) << msg;
}
