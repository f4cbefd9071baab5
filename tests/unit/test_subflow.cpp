// Sub-flows (`type: flow`): a flow block's rows equal those of its flow run alone, params pass
// down, rejects name the sub-flow's block, cycles and runaway nesting are refused with the
// chain of files, a killed parent resumes to byte-identical output, and editing the sub-flow
// changes the parent run's identity.
#include "synthforge/engine/executor.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace synthforge;

namespace {

// Passes rows on; when armed, fails the run at its n-th batch, like a crash mid-run.
std::atomic<int> g_crash_at_batch{-1};

class CrashProbe : public Block {
  public:
    using Block::Block;
    void process(std::vector<Record>&& rows, Emitter& out) override {
        if (g_crash_at_batch.load() >= 0 && g_crash_at_batch-- == 0) throw RunError("simulated crash");
        for (auto& r : rows) out.emit(std::move(r));
    }
};

const bool registered = [] {
    BlockRegistry::global().add(
        {"test_subflow_crash", "test only", Json::parse(R"({"type":"object"})"),
         [](const std::string& name, const Json&, const BlockEnv&) { return std::make_unique<CrashProbe>(name); }});
    return true;
}();

fs::path temp_dir(const std::string& name) {
    fs::path d = fs::path(testing::TempDir()) / ("subflow_" + std::to_string(getpid()) + "_" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

fs::path write_file(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
}

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<Json> read_rows(const fs::path& p) {
    std::vector<Json> rows;
    std::ifstream in(p);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) rows.push_back(Json::parse(line));
    return rows;
}

RunOptions options(const fs::path& dir, const fs::path& input, const std::string& run, uint64_t seed = 7) {
    RunOptions o;
    o.inputs = {input};
    o.run_dir = dir / run;
    o.output = dir / (run + ".jsonl");
    o.batch_size = 5;
    o.seed = seed;
    return o;
}

// A sub-flow that uses what a sub-flow can get wrong when inlined: a param, a file relative
// to its own folder (examples), random draws seeded by block names (pick, sample), a filter
// that rejects, a stateful dedup across batches and a barrier (sample) in the middle.
constexpr const char* kSubFlow = R"(version: 1
name: enrich
params:
  tag: {default: plain, description: label written on every row}
  keep: {default: 12}
blocks:
  - {name: label, type: set, config: {column: tag, value: "${tag}"}}
  - {name: no_x, type: filter, config: {where: [{column: text, op: not_contains, value: x}]}}
  - {name: once, type: dedup_exact, config: {columns: [text]}}
  - {name: probe, type: test_subflow_crash}
  - {name: color, type: pick, config: {column: color, from_file: colors.txt}}
  - {name: some, type: sample, config: {k: "${keep}"}}
  - {name: shout, type: set, config: {column: loud, template: "{{ text | upper }}-{{ tag }}"}}
)";

// The sub-flow and the data file it names, in a folder of their own.
fs::path write_sub_flow(const fs::path& dir) {
    write_file(dir / "parts" / "colors.txt", "red\ngreen\nblue\namber\n");
    return write_file(dir / "parts" / "enrich.yaml", kSubFlow);
}

fs::path write_input(const fs::path& dir) {
    std::string text;
    for (int i = 0; i < 40; ++i) {
        std::string t = i % 7 == 3 ? "box " + std::to_string(i) : "item " + std::to_string(i % 30);
        text += Json{{"text", t}, {"n", i}}.dump() + "\n";
    }
    return write_file(dir / "in.jsonl", text);
}

}  // namespace

TEST(SubFlow, OutputIsByteIdenticalToTheSubFlowRunAlone) {
    auto dir = temp_dir("identical");
    auto input = write_input(dir);
    auto sub = write_sub_flow(dir);
    auto parent = write_file(dir / "parent.yaml", R"(version: 1
blocks:
  - {name: enrich, type: flow, config: {file: parts/enrich.yaml}}
)");
    run_flow(load_flow(sub), options(dir, input, "alone"));
    RunSummary s = run_flow(load_flow(parent), options(dir, input, "inside"));

    const std::string alone = read(dir / "alone.jsonl");
    ASSERT_FALSE(alone.empty());
    EXPECT_EQ(read(dir / "inside.jsonl"), alone);
    EXPECT_EQ(read_rows(dir / "inside.jsonl").size(), 12u);

    // Rejects are the same rows, named by the flow block and the sub-flow's block.
    auto alone_rejects = read_rows(dir / "alone" / "rejects.jsonl");
    auto inside_rejects = read_rows(dir / "inside" / "rejects.jsonl");
    ASSERT_EQ(inside_rejects.size(), alone_rejects.size());
    ASSERT_FALSE(inside_rejects.empty());
    for (size_t i = 0; i < inside_rejects.size(); ++i) {
        EXPECT_EQ(inside_rejects[i]["_rejected_by"], "enrich/" + alone_rejects[i]["_rejected_by"].get<std::string>());
        EXPECT_EQ(inside_rejects[i]["_reason"], alone_rejects[i]["_reason"]);
    }
    // metadata.json counts every block of the sub-flow under its qualified name.
    Json meta = Json::parse(read(dir / "inside" / "metadata.json"));
    std::vector<std::string> names;
    for (const auto& b : meta["blocks"]) names.push_back(b["name"]);
    EXPECT_EQ(names, (std::vector<std::string>{"enrich/label", "enrich/no_x", "enrich/once", "enrich/probe",
                                               "enrich/color", "enrich/some", "enrich/shout"}));
    EXPECT_EQ(s.rows_out, 12u);
}

TEST(SubFlow, RowsContinueDownTheParentAndParamsPassDown) {
    auto dir = temp_dir("params");
    auto input = write_input(dir);
    write_sub_flow(dir);
    auto parent = write_file(dir / "parent.yaml", R"(version: 1
params:
  label: checked
blocks:
  - {name: before, type: set, config: {column: stage, value: before}}
  - {name: first, type: flow, config: {file: parts/enrich.yaml, params: {tag: "${label}-1", keep: 5}}}
  - {name: second, type: flow, config: {file: parts/enrich.yaml}}
  - {name: after, type: set, config: {column: stage, template: "{{ stage }}+after"}}
)");
    run_flow(load_flow(parent), options(dir, input, "run"));
    auto rows = read_rows(dir / "run.jsonl");
    // `second` keeps its default 12, but only 5 rows reach it.
    ASSERT_EQ(rows.size(), 5u);
    for (const auto& r : rows) {
        EXPECT_EQ(r["stage"], "before+after");
        EXPECT_EQ(r["tag"], "plain") << "the second inclusion runs with the sub-flow's default";
        std::string loud = r["loud"];
        EXPECT_EQ(loud.substr(loud.size() - 6), "-plain");
    }
    // Both inclusions reject under their own names.
    std::set<std::string> by;
    for (const auto& r : read_rows(dir / "run" / "rejects.jsonl")) by.insert(r["_rejected_by"]);
    EXPECT_TRUE(by.count("first/no_x"));
    EXPECT_TRUE(by.count("first/once"));

    // The params the first inclusion received, and that a param can be required from above.
    Flow flow = load_flow(parent);
    EXPECT_EQ(flow.blocks[1].config["resolved"]["params"]["tag"], "checked-1");
    EXPECT_EQ(flow.blocks[1].config["resolved"]["params"]["keep"], 5);
    EXPECT_EQ(flow.blocks[2].config["resolved"]["params"]["tag"], "plain");

    FlowOptions fo;
    fo.overrides["label"] = "other";
    EXPECT_EQ(load_flow(parent, fo).blocks[1].config["resolved"]["params"]["tag"], "other-1");
}

TEST(SubFlow, UnknownAndMissingParamsAreReportedAtTheFlowBlock) {
    auto dir = temp_dir("bad_params");
    write_file(dir / "need.yaml", R"(version: 1
params:
  k: {required: true}
blocks:
  - {name: s, type: set, config: {column: k, value: "${k}"}}
)");
    auto unknown = write_file(dir / "unknown.yaml", R"(version: 1
blocks:
  - {name: sub, type: flow, config: {file: need.yaml, params: {kk: 1}}}
)");
    try {
        load_flow(unknown);
        FAIL() << "an unknown param must be refused";
    } catch (const ConfigError& e) {
        std::string msg = e.what();
        EXPECT_NE(msg.find("unknown.yaml:3:"), std::string::npos) << msg;
        EXPECT_NE(msg.find("block 'sub'"), std::string::npos) << msg;
        EXPECT_NE(msg.find("unknown parameter 'kk'; did you mean 'k'?"), std::string::npos) << msg;
        EXPECT_NE(msg.find("is required: give it in the including flow block's config.params"), std::string::npos)
            << msg;
    }
    auto missing = write_file(dir / "missing.yaml", R"(version: 1
blocks:
  - {name: sub, type: flow, config: {file: nowhere.yaml}}
)");
    EXPECT_THROW(
        {
            try {
                load_flow(missing);
            } catch (const ConfigError& e) {
                EXPECT_NE(std::string(e.what()).find("no flow file"), std::string::npos) << e.what();
                throw;
            }
        },
        ConfigError);
}

TEST(SubFlow, CyclesAreRefusedWithTheChainOfFiles) {
    auto dir = temp_dir("cycle");
    auto a = write_file(dir / "a.yaml", R"(version: 1
blocks:
  - {name: to_b, type: flow, config: {file: sub/b.yaml}}
)");
    write_file(dir / "sub" / "b.yaml", R"(version: 1
blocks:
  - {name: to_c, type: flow, config: {file: c.yaml}}
)");
    write_file(dir / "sub" / "c.yaml", R"(version: 1
blocks:
  - {name: back_to_a, type: flow, config: {file: ../a.yaml}}
)");
    // c.yaml names a file above its own folder: the run must allow that folder (else the
    // refusal is about confinement, not the cycle).
    FlowOptions allow;
    allow.allowed_paths = {dir};
    auto diags = validate_flow(a, allow);
    ASSERT_FALSE(diags.empty());
    std::string all;
    for (const auto& d : diags) all += d.str() + "\n";
    const std::string chain = (dir / "a.yaml").string() + " -> " + (dir / "sub" / "b.yaml").string() + " -> " +
                              (dir / "sub" / "c.yaml").string() + " -> " + (dir / "a.yaml").string();
    EXPECT_NE(all.find("sub-flow cycle: " + chain), std::string::npos) << all;
    EXPECT_NE(all.find("block 'to_b'"), std::string::npos) << all;

    auto self = write_file(dir / "self.yaml", R"(version: 1
blocks:
  - {name: again, type: flow, config: {file: ./self.yaml}}
)");
    try {
        load_flow(self);
        FAIL() << "a flow including itself must be refused";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("sub-flow cycle: " + (dir / "self.yaml").string() + " -> " +
                                             (dir / "self.yaml").string()),
                  std::string::npos)
            << e.what();
    }
}

TEST(SubFlow, NestingDeeperThanTheLimitIsRefused) {
    auto dir = temp_dir("depth");
    const size_t files = kMaxFlowDepth + 1;
    for (size_t i = 0; i < files; ++i) {
        std::string body = i + 1 < files
                               ? "  - {name: down, type: flow, config: {file: f" + std::to_string(i + 1) + ".yaml}}\n"
                               : "  - {name: leaf, type: set, config: {column: depth, value: deep}}\n";
        write_file(dir / ("f" + std::to_string(i) + ".yaml"), "version: 1\nblocks:\n" + body);
    }
    try {
        load_flow(dir / "f0.yaml");
        FAIL() << "nesting beyond the limit must be refused";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("sub-flows nest more than " + std::to_string(kMaxFlowDepth)),
                  std::string::npos)
            << e.what();
    }
    // Exactly at the limit it loads and runs, with names qualified at every level.
    auto input = write_file(dir / "in.jsonl", "{\"a\": 1}\n");
    run_flow(load_flow(dir / "f1.yaml"), options(dir, input, "ok"));
    auto rows = read_rows(dir / "ok.jsonl");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0]["depth"], "deep");
    Json meta = Json::parse(read(dir / "ok" / "metadata.json"));
    EXPECT_EQ(meta["blocks"][0]["name"], "down/down/down/down/down/down/down/leaf");
}

TEST(SubFlow, AKilledParentResumesToByteIdenticalOutput) {
    auto dir = temp_dir("resume");
    auto input = write_input(dir);
    write_sub_flow(dir);
    auto parent = write_file(dir / "parent.yaml", R"(version: 1
blocks:
  - {name: enrich, type: flow, config: {file: parts/enrich.yaml, params: {keep: 20}}}
  - {name: after, type: dedup_exact, config: {columns: [color]}}
)");
    Flow flow = load_flow(parent);
    run_flow(flow, options(dir, input, "whole"));

    // Crash in the sub-flow's streaming part at the third batch: two batches are committed,
    // with the sub-flow's dedup state.
    g_crash_at_batch = 2;
    EXPECT_THROW(run_flow(flow, options(dir, input, "killed")), RunError);
    g_crash_at_batch = -1;
    EXPECT_FALSE(fs::exists(dir / "killed.jsonl"));
    RunOptions again = options(dir, input, "killed");
    again.resume = true;
    RunSummary s = run_flow(flow, again);
    EXPECT_TRUE(s.resumed);
    EXPECT_EQ(read(dir / "killed.jsonl"), read(dir / "whole.jsonl"));
    EXPECT_EQ(read(dir / "killed" / "rejects.jsonl"), read(dir / "whole" / "rejects.jsonl"));
}

TEST(SubFlow, EditingTheSubFlowChangesTheRunIdentity) {
    auto dir = temp_dir("identity");
    auto input = write_input(dir);
    auto sub = write_sub_flow(dir);
    auto parent = write_file(dir / "parent.yaml", R"(version: 1
blocks:
  - {name: enrich, type: flow, config: {file: parts/enrich.yaml}}
)");
    const std::string before = load_flow(parent).fingerprint();
    run_flow(load_flow(parent), options(dir, input, "run"));

    std::string text = kSubFlow;
    text.replace(text.find("value: x}"), 9, "value: q}");
    write_file(sub, text);
    Flow edited = load_flow(parent);
    EXPECT_NE(edited.fingerprint(), before);
    RunOptions resume = options(dir, input, "run");
    resume.resume = true;
    try {
        run_flow(edited, resume);
        FAIL() << "a resume after the sub-flow changed must be refused";
    } catch (const UserError& e) {
        EXPECT_NE(std::string(e.what()).find("block 'enrich': its sub-flow parts/enrich.yaml changed"),
                  std::string::npos)
            << e.what();
    }
}

TEST(SubFlow, FlowBlocksTakeNoWhenAndDoNotGoInsideARepeat) {
    auto dir = temp_dir("misuse");
    write_file(dir / "leaf.yaml", "version: 1\nblocks:\n  - {name: s, type: set, config: {column: a, value: 1}}\n");
    auto when = write_file(dir / "when.yaml", R"(version: 1
blocks:
  - {name: sub, type: flow, when: [{column: a, op: exists}], config: {file: leaf.yaml}}
)");
    auto diags = validate_flow(when);
    ASSERT_EQ(diags.size(), 1u);
    EXPECT_NE(diags[0].message.find("takes no `when`"), std::string::npos) << diags[0].str();

    auto loop = write_file(dir / "loop.yaml", R"(version: 1
blocks:
  - name: loop
    type: repeat
    config:
      max_rounds: 2
      blocks:
        - {name: sub, type: flow, config: {file: leaf.yaml}}
)");
    diags = validate_flow(loop);
    ASSERT_FALSE(diags.empty());
    EXPECT_NE(diags[0].message.find("a repeat cannot hold a flow block"), std::string::npos) << diags[0].str();
}
