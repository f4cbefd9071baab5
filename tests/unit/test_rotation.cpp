// Prompt and sampling rotation in llm_generate: `prompts:` and sampling lists given out in
// turn (`rotation: cycle`) or drawn from the run's seed (`rotation: random`), recorded in
// columns, carried by the requests actually sent, independent of batching, and continued
// exactly by a resumed run.
#include "synthforge/engine/executor.h"
#include "synthforge/errors.h"
#include "synthforge/llm/backend.h"
#include "synthforge/llm/client_pool.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using namespace synthforge;

namespace {

// Every request the backend received, by its user message.
std::mutex g_mutex;
std::map<std::string, llm::Request> g_sent;

class EchoBackend : public llm::Backend {
  public:
    std::string identity() const override { return "rotation-echo"; }
    size_t max_in_flight() const override { return 3; }
    void submit(uint64_t id, llm::Request request) override {
        const std::string user = request.messages.back().content;
        {
            std::lock_guard lock(g_mutex);
            g_sent[user] = request;
        }
        llm::Outcome o;
        o.attempts = 1;
        o.response = llm::Response{"answer: " + user, "stop", {10, 5}, 1.0, "echo://", false};
        done_.push_back({id, std::move(o)});
    }
    std::vector<std::pair<uint64_t, llm::Outcome>> wait(std::chrono::milliseconds) override {
        return std::exchange(done_, {});
    }

  private:
    std::vector<std::pair<uint64_t, llm::Outcome>> done_;
};

const bool registered = [] {
    llm::register_backend_kind("rotation_echo",
                               [](const Json&, const fs::path&) { return std::make_unique<EchoBackend>(); });
    return true;
}();

fs::path temp_dir(const std::string& name) {
    fs::path d = fs::path(testing::TempDir()) / ("rotation_" + std::to_string(getpid()) + "_" + name);
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

std::vector<Json> read_rows(const fs::path& p) {
    std::vector<Json> rows;
    std::ifstream in(p);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) rows.push_back(Json::parse(line));
    return rows;
}

struct RotationRun {
    fs::path dir;
    RotationRun(const std::string& name, const std::string& block_config, int records) : dir(temp_dir(name)) {
        std::ofstream(dir / "flow.yaml") << "version: 1\nllm: {backend: rotation_echo}\nblocks:\n  - name: gen\n"
                                            "    type: llm_generate\n    config: "
                                         << block_config << "\n";
        std::ofstream in(dir / "in.jsonl");
        for (int i = 0; i < records; ++i) in << Json{{"q", "q" + std::to_string(i)}}.dump() << "\n";
        std::lock_guard lock(g_mutex);
        g_sent.clear();
    }
    RunOptions options(const std::string& run, uint64_t seed = 1, size_t batch = 4) const {
        RunOptions o;
        o.inputs = {dir / "in.jsonl"};
        o.run_dir = dir / run;
        o.output = dir / (run + ".jsonl");
        o.seed = seed;
        o.batch_size = batch;
        return o;
    }
    std::vector<Json> run(const std::string& run, uint64_t seed = 1, size_t batch = 4) const {
        run_flow(load_flow(dir / "flow.yaml"), options(run, seed, batch));
        return read_rows(dir / (run + ".jsonl"));
    }
};

std::vector<int> prompt_indices(const std::vector<Json>& rows) {
    std::vector<int> out;
    for (const auto& r : rows) out.push_back(r.at("prompt_index").get<int>());
    return out;
}

constexpr const char* kThreeTemplates = R"({prompts: ["A {{ q }}", "B {{ q }}", "C {{ q }}"])";

}  // namespace

TEST(Rotation, CycleGivesTemplatesAndSamplingValuesInTurnAndTheRequestsCarryThem) {
    RotationRun s("cycle",
                  std::string(kThreeTemplates) + R"(, sampling: {temperature: [0.3, 0.7, 1.0], max_tokens: [16, 32]}})",
                  7);
    auto rows = s.run("run", 1, 2);
    ASSERT_EQ(rows.size(), 7u);
    const std::vector<double> temps = {0.3, 0.7, 1.0};
    const std::vector<int> lengths = {16, 32};
    for (int i = 0; i < 7; ++i) {
        const Json& r = rows[i];
        const std::string q = "q" + std::to_string(i);
        EXPECT_EQ(r["prompt_index"], i % 3);
        const std::string user = std::string(1, "ABC"[i % 3]) + " " + q;
        EXPECT_EQ(r["response"], "answer: " + user);
        EXPECT_EQ(r["sampling_values"].size(), 2u);
        EXPECT_EQ(r["sampling_values"]["temperature"], temps[i % 3]);
        EXPECT_EQ(r["sampling_values"]["max_tokens"], lengths[i % 2]);
        // What went over the wire is what the row says.
        std::lock_guard lock(g_mutex);
        ASSERT_TRUE(g_sent.count(user)) << user;
        EXPECT_DOUBLE_EQ(g_sent[user].sampling.temperature, temps[i % 3]);
        EXPECT_EQ(g_sent[user].sampling.max_tokens, lengths[i % 2]);
        EXPECT_DOUBLE_EQ(g_sent[user].sampling.top_p, 0.9) << "options without a list keep the block's value";
    }
}

TEST(Rotation, RandomIsReproducibleFromTheSeedUsesEveryTemplateAndIgnoresBatching) {
    RotationRun s("random",
                  std::string(kThreeTemplates) + R"(, rotation: random, sampling: {top_p: [0.5, 0.8, 0.95]}})", 60);
    auto a = prompt_indices(s.run("a", 1, 4));
    auto again = prompt_indices(s.run("again", 1, 4));
    auto rebatched = prompt_indices(s.run("rebatched", 1, 25));
    auto other = prompt_indices(s.run("other", 2, 4));
    EXPECT_EQ(a, again) << "same seed, same assignment";
    EXPECT_EQ(a, rebatched) << "batch boundaries change nothing";
    EXPECT_NE(a, other) << "another seed, another assignment";
    EXPECT_EQ(std::set<int>(a.begin(), a.end()), (std::set<int>{0, 1, 2})) << "every template is used";
    std::vector<int> cycle;
    for (int i = 0; i < 60; ++i) cycle.push_back(i % 3);
    EXPECT_NE(a, cycle) << "random is not the cycle";

    // The drawn top_p reaches the request of each row.
    std::set<double> used;
    for (const auto& r : read_rows(s.dir / "other.jsonl")) {
        const std::string user = std::string(1, "ABC"[r["prompt_index"].get<int>()]) + " " + r["q"].get<std::string>();
        std::lock_guard lock(g_mutex);
        ASSERT_TRUE(g_sent.count(user)) << user;
        EXPECT_DOUBLE_EQ(g_sent[user].sampling.top_p, r["sampling_values"]["top_p"].get<double>());
        used.insert(r["sampling_values"]["top_p"].get<double>());
    }
    EXPECT_EQ(used.size(), 3u);
}

TEST(Rotation, AnInterruptedRunResumesTheRotationWhereItStopped) {
    RotationRun s("resume", std::string(kThreeTemplates) + R"(, sampling: {seed: [5, 6, 7, 8]}})", 11);
    s.run("whole", 3, 3);

    std::atomic<bool> stop{false};
    RunOptions o = s.options("cut", 3, 3);
    o.stop_requested = &stop;
    o.on_progress = [&](const Progress& p) {
        if (p.rows_read >= 3) stop = true;  // after the first batch commits
    };
    EXPECT_THROW(run_flow(load_flow(s.dir / "flow.yaml"), o), RunInterrupted);
    RunOptions resume = s.options("cut", 3, 3);
    resume.resume = true;
    run_flow(load_flow(s.dir / "flow.yaml"), resume);
    EXPECT_EQ(read(s.dir / "cut.jsonl"), read(s.dir / "whole.jsonl"));
    auto rows = read_rows(s.dir / "cut.jsonl");
    ASSERT_EQ(rows.size(), 11u);
    for (size_t i = 0; i < rows.size(); ++i) {
        EXPECT_EQ(rows[i]["prompt_index"], i % 3);
        EXPECT_EQ(rows[i]["sampling_values"]["seed"], 5 + i % 4);
    }
}

TEST(Rotation, DryRunRequestsShowTheRotatedValues) {
    RotationRun s("dry_run", R"({prompt: "{{ q }}", sampling: {temperature: [0.2, 1.2]}})", 4);
    Flow flow = load_flow(s.dir / "flow.yaml");
    Preview p = preview_flow(flow, s.options("none"), 4);
    ASSERT_EQ(p.requests.size(), 4u);
    for (size_t i = 0; i < 4; ++i) EXPECT_EQ(p.requests[i]["sampling"]["temperature"], i % 2 ? 1.2 : 0.2);
}

TEST(Rotation, ColumnsAreConfigurableAndAbsentWithoutRotation) {
    RotationRun plain("plain", R"({prompt: "{{ q }}"})", 2);
    for (const auto& r : plain.run("run")) {
        EXPECT_FALSE(r.contains("prompt_index"));
        EXPECT_FALSE(r.contains("sampling_values"));
    }
    RotationRun named(
        "named",
        std::string(kThreeTemplates) +
            R"(, prompt_index_column: variant, sampling_column: "", sampling: {temperature: [0.1, 0.2]}})",
        3);
    auto rows = named.run("run");
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[2]["variant"], 2);
    EXPECT_FALSE(rows[2].contains("prompt_index"));
    EXPECT_FALSE(rows[2].contains("sampling_values"));
}

TEST(Rotation, BadListsAndMixedPromptKeysAreConfigErrors) {
    auto problem = [](const std::string& name, const std::string& config) {
        RotationRun s(name, config, 1);
        try {
            load_flow(s.dir / "flow.yaml");
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    EXPECT_NE(
        problem("range", R"({prompt: "x", sampling: {temperature: [0.5, 9]}})").find("config.sampling.temperature[1]"),
        std::string::npos);
    EXPECT_NE(problem("both", R"({prompt: "x", prompts: ["a", "b"]})").find("give one of prompt, prompt_file, prompts"),
              std::string::npos);
    EXPECT_NE(problem("template", R"({prompts: ["ok {{ q }}", "bad {{ q "]})").find("config.prompts[1]"),
              std::string::npos);
    EXPECT_NE(problem("empty", R"({prompt: "x", sampling: {top_p: []}})"), "");
}
