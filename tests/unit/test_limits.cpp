// Size limits (include/synthforge/engine/limits.h): the flow's `limits:` section, the flow
// nesting guard, the response limit in the LLM client, the rendered-prompt limit in LLM
// blocks and the record limit in the readers. Crossing a limit must give a clear reason
// (a rejected row, a failed request, a diagnostic with file:line:column), never a crash.
#include "blocks/llm_output_parser.h"
#include "synthforge/data/reader.h"
#include "synthforge/engine/executor.h"
#include "synthforge/engine/flow.h"
#include "synthforge/engine/limits.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"
#include "synthforge/llm/client.h"
#include "synthforge/llm/client_pool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <mutex>

namespace fs = std::filesystem;
using namespace synthforge;

namespace {

fs::path temp_dir(const std::string& name) {
    fs::path d = fs::path(testing::TempDir()) / ("limits_" + name + "_" + std::to_string(getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

fs::path write(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
    return p;
}

std::vector<Json> read_jsonl(const fs::path& p) {
    std::vector<Json> out;
    std::ifstream in(p);
    for (std::string line; std::getline(in, line);) out.push_back(Json::parse(line));
    return out;
}

std::string problems_of(const fs::path& flow) {
    std::string out;
    for (const auto& d : validate_flow(flow)) out += d.str() + "\n";
    return out;
}

// Answers every request with the text its user message asks for ("say N" -> N bytes of 'x').
std::mutex g_mutex;
std::vector<std::string> g_seen;  // user messages that reached the backend

class SizedBackend : public llm::Backend {
  public:
    std::string identity() const override { return "limits-sized"; }
    size_t max_in_flight() const override { return 4; }
    void submit(uint64_t id, llm::Request request) override {
        const std::string& ask = request.messages.back().content;
        {
            std::lock_guard lock(g_mutex);
            g_seen.push_back(ask.size() > 64 ? ask.substr(0, 64) : ask);
        }
        llm::Outcome o;
        o.attempts = 1;
        size_t n = ask.rfind("say ", 0) == 0 ? std::stoul(ask.substr(4)) : 2;
        o.response = llm::Response{std::string(n, 'x'), "stop", {1, 1}, 1.0, "sized://", false};
        pending_.emplace_back(id, std::move(o));
    }
    std::vector<std::pair<uint64_t, llm::Outcome>> wait(std::chrono::milliseconds) override {
        return std::exchange(pending_, {});
    }

  private:
    std::vector<std::pair<uint64_t, llm::Outcome>> pending_;
};

const bool registered = [] {
    llm::register_backend_kind("limits_sized",
                               [](const Json&, const fs::path&) { return std::make_unique<SizedBackend>(); });
    return true;
}();

class MemoryCache : public llm::ResponseCache {
  public:
    std::optional<std::string> cached_response(const std::string& key) const override {
        auto it = entries.find(key);
        return it == entries.end() ? std::nullopt : std::optional(it->second);
    }
    void put_response(const std::string& key, const std::string& response) override { entries[key] = response; }
    std::map<std::string, std::string> entries;
};

llm::Request ask(const std::string& text) {
    llm::Request r;
    r.messages = {{"user", text}};
    return r;
}

}  // namespace

TEST(Limits, DefaultsAndTheFlowSectionOverrideThem) {
    Limits d;
    EXPECT_EQ(d.max_record_bytes, 64u << 20);
    EXPECT_EQ(d.max_response_bytes, 8u << 20);
    EXPECT_EQ(d.max_prompt_bytes, 1u << 20);
    EXPECT_EQ(d.max_flow_depth, 16);

    fs::path dir = temp_dir("section");
    write(dir / "plain.yaml",
          "version: 1\nblocks:\n  - {name: keep, type: filter, config: {where: [{column: q, op: exists}]}}\n");
    write(dir / "limited.yaml",
          "version: 1\nlimits:\n  max_record_bytes: 1000\n  max_prompt_bytes: 200\n"
          "blocks:\n  - {name: keep, type: filter, config: {where: [{column: q, op: exists}]}}\n");
    Flow plain = load_flow(dir / "plain.yaml");
    Flow limited = load_flow(dir / "limited.yaml");
    EXPECT_EQ(plain.limits, Limits{});
    EXPECT_EQ(limited.limits.max_record_bytes, 1000u);
    EXPECT_EQ(limited.limits.max_prompt_bytes, 200u);
    EXPECT_EQ(limited.limits.max_response_bytes, d.max_response_bytes);  // unset keys keep the default
    // Limits decide which rows are rejected, so they are part of what a resume compares;
    // a flow without the section keeps the fingerprint it had before limits existed.
    EXPECT_NE(plain.fingerprint(), limited.fingerprint());
    write(dir / "explicit_defaults.yaml",
          "version: 1\nlimits: {max_prompt_bytes: 1048576}\n"
          "blocks:\n  - {name: keep, type: filter, config: {where: [{column: q, op: exists}]}}\n");
    EXPECT_EQ(load_flow(dir / "explicit_defaults.yaml").fingerprint(), plain.fingerprint());
}

TEST(Limits, BadValuesNameTheKeyAndItsLine) {
    fs::path dir = temp_dir("bad");
    write(dir / "f.yaml",
          "version: 1\nlimits:\n  max_prompt_bytes: 0\n  max_response_bytes: lots\n  max_rows: 3\n"
          "blocks:\n  - {name: keep, type: filter, config: {where: [{column: q, op: exists}]}}\n");
    std::string p = problems_of(dir / "f.yaml");
    EXPECT_NE(p.find("f.yaml:3:"), std::string::npos) << p;
    EXPECT_NE(p.find("limits.max_prompt_bytes"), std::string::npos) << p;
    EXPECT_NE(p.find("f.yaml:4:"), std::string::npos) << p;
    EXPECT_NE(p.find("limits.max_response_bytes"), std::string::npos) << p;
    EXPECT_NE(p.find("max_rows"), std::string::npos) << p;
}

TEST(Limits, FlowNestedTooDeeplyIsADiagnosticAtTheDeepValue) {
    fs::path dir = temp_dir("depth");
    // 20 levels of lists inside a block's config: over the default of 16.
    std::string deep = "version: 1\nblocks:\n  - name: keep\n    type: filter\n    config:\n      where:\n";
    std::string nested;
    for (int i = 0; i < 20; ++i) nested += "[";
    nested += "1";
    for (int i = 0; i < 20; ++i) nested += "]";
    write(dir / "deep.yaml", deep + "        - " + nested + "\n");
    auto diags = validate_flow(dir / "deep.yaml");
    ASSERT_EQ(diags.size(), 1u);
    EXPECT_EQ(diags[0].mark.line, 7);
    EXPECT_NE(diags[0].message.find("over the limit of 16 (limits.max_flow_depth)"), std::string::npos)
        << diags[0].message;

    // A flow may raise the limit for itself: then the same nesting reaches the block's own checks.
    write(dir / "raised.yaml", "limits: {max_flow_depth: 40}\n" + deep + "        - " + nested + "\n");
    std::string p = problems_of(dir / "raised.yaml");
    EXPECT_EQ(p.find("max_flow_depth"), std::string::npos) << p;
    EXPECT_NE(p.find("config.where[0]"), std::string::npos) << p;

    // Far deeper than any stack-friendly recursion: still one clear error, not a crash.
    std::string abyss = "version: 1\nblocks: ";
    for (int i = 0; i < 100000; ++i) abyss += "[";
    write(dir / "abyss.yaml", abyss + "\n");
    p = problems_of(dir / "abyss.yaml");
    EXPECT_NE(p.find("abyss.yaml:"), std::string::npos) << p.substr(0, 300);
}

TEST(Limits, AliasesThatExpandAFlowExponentiallyAreRefused) {
    fs::path dir = temp_dir("laughs");
    // Nine levels of ten aliases each: 10^9 values once expanded, from a 1 KB file.
    std::string yaml = "version: 1\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
    for (int i = 1; i <= 9; ++i) {
        yaml += "x" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
        for (int k = 0; k < 10; ++k) yaml += (k ? ", *a" : "*a") + std::to_string(i - 1);
        yaml += "]\n";
    }
    yaml += "blocks:\n  - {name: keep, type: filter, config: {where: [{column: q, op: exists}]}}\n";
    write(dir / "laughs.yaml", yaml);
    auto start = std::chrono::steady_clock::now();
    std::string p = problems_of(dir / "laughs.yaml");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
    EXPECT_NE(p.find("more than 1000000 values once its aliases are expanded"), std::string::npos) << p;
}

TEST(Limits, AnOversizedResponseFailsTheRequestAndIsNotCached) {
    MemoryCache cache;
    llm::Client client(std::make_unique<SizedBackend>(), &cache);
    auto outcomes = client.run({ask("say 50"), ask("say 5000"), ask("say 10")}, nullptr, /*max_response_bytes=*/1000);
    ASSERT_EQ(outcomes.size(), 3u);
    ASSERT_TRUE(outcomes[0].ok());
    EXPECT_EQ(outcomes[0].response->text.size(), 50u);
    EXPECT_FALSE(outcomes[1].ok());
    EXPECT_NE(outcomes[1].error.find("over the limit of 1000 (limits.max_response_bytes)"), std::string::npos)
        << outcomes[1].error;
    EXPECT_TRUE(outcomes[2].ok());
    EXPECT_EQ(cache.entries.size(), 2u);  // the two answers that fit, not the oversized one
    EXPECT_FALSE(cache.cached_response(client.cache_key(ask("say 5000"))).has_value());
    EXPECT_EQ(client.stats().failures, 1u);

    // An answer cached under a larger limit counts against a smaller one like a fresh answer.
    auto again = client.run({ask("say 50")}, nullptr, /*max_response_bytes=*/20);
    EXPECT_FALSE(again[0].ok());
    EXPECT_NE(again[0].error.find("(limits.max_response_bytes)"), std::string::npos);
}

TEST(Limits, RunsRejectAnOversizedPromptUnsentAndFailAnOversizedAnswer) {
    fs::path dir = temp_dir("run");
    write(dir / "flow.yaml",
          "version: 1\nllm: {backend: limits_sized}\nblocks:\n"
          "  - {name: gen, type: llm_generate, config: {prompt: \"{{ q }}\"}}\n");
    // Default limits: 1 MiB rendered prompt, 8 MiB answer.
    const std::string huge_prompt(Limits{}.max_prompt_bytes + 1, 'p');
    const std::string huge_answer = "say " + std::to_string(Limits{}.max_response_bytes + 1);
    {
        std::ofstream in(dir / "in.jsonl");
        for (const auto& q : {std::string("say 3"), huge_prompt, huge_answer, std::string("say 4")})
            in << Json{{"q", q}}.dump() << "\n";
    }
    {
        std::lock_guard lock(g_mutex);
        g_seen.clear();
    }
    RunOptions o;
    o.inputs = {dir / "in.jsonl"};
    o.run_dir = dir / "run";
    o.output = dir / "out.jsonl";
    RunSummary s = run_flow(load_flow(dir / "flow.yaml"), o);
    EXPECT_EQ(s.rows_out, 2u);
    EXPECT_EQ(s.rows_rejected, 2u);
    auto rows = read_jsonl(dir / "out.jsonl");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0]["response"], "xxx");
    EXPECT_EQ(rows[1]["response"], "xxxx");
    auto rejects = read_jsonl(s.rejects);
    ASSERT_EQ(rejects.size(), 2u);
    EXPECT_EQ(rejects[0]["_rejected_by"], "gen");
    EXPECT_EQ(rejects[0]["_reason"],
              "rendered prompt is 1048577 bytes, over the limit of 1048576 "
              "(limits.max_prompt_bytes)");
    EXPECT_NE(rejects[1]["_reason"].get<std::string>().find("over the limit of 8388608 (limits.max_response_bytes)"),
              std::string::npos)
        << rejects[1]["_reason"];
    std::lock_guard lock(g_mutex);
    EXPECT_EQ(g_seen.size(), 3u);  // the oversized prompt never reached the backend
    for (const auto& seen : g_seen) EXPECT_NE(seen, huge_prompt.substr(0, 64));
}

TEST(Limits, ABlockEnvLimitIsWhatLlmBlocksApply) {
    // The executor hands a flow's limits to its blocks in BlockEnv; a block built with a
    // smaller max_prompt_bytes rejects what the default would have sent.
    fs::path dir = temp_dir("env");
    write(dir / "flow.yaml",
          "version: 1\nllm: {backend: limits_sized}\nlimits: {max_prompt_bytes: 10}\nblocks:\n"
          "  - {name: gen, type: llm_generate, config: {prompt: \"{{ q }}\"}}\n");
    Flow flow = load_flow(dir / "flow.yaml");
    EXPECT_EQ(flow.limits.max_prompt_bytes, 10u);
    llm::ClientPool pool(nullptr, dir);
    BlockEnv env;
    env.flow_dir = dir;
    env.llm = &pool;
    env.llm_defaults = flow.llm_defaults;
    env.limits = flow.limits;
    auto block = make_block("gen", "llm_generate", flow.blocks[0].config, nullptr, env);
    Emitter out("gen");
    block->process({Json{{"q", "say 2"}}, Json{{"q", "say 2 and then some more"}}}, out);
    ASSERT_EQ(out.rows().size(), 1u);
    ASSERT_EQ(out.rejected().size(), 1u);
    EXPECT_EQ(out.rejected()[0]["_reason"],
              "rendered prompt is 24 bytes, over the limit of 10 (limits.max_prompt_bytes)");
}

TEST(Limits, AnOversizedInputRecordIsARejectedRowWithFileAndLine) {
    fs::path dir = temp_dir("record");
    fs::path in =
        write(dir / "in.jsonl", "{\"q\": \"short\"}\n{\"q\": \"" + std::string(300, 'r') + "\"}\n{\"q\": 1}\n");
    ReadOptions ro;
    ro.max_record_bytes = 100;  // what a flow's limits.max_record_bytes sets
    ro.skip_bad_records = true;
    std::vector<BadRecord> bad;
    ro.on_bad_record = [&](const BadRecord& b) { bad.push_back(b); };
    auto records = read_all(in, ro);
    EXPECT_EQ(records.size(), 2u);
    ASSERT_EQ(bad.size(), 1u);
    EXPECT_EQ(bad[0].pos.str(), in.string() + ":2");
    EXPECT_EQ(bad[0].reason, "record is 309 bytes, over the limit of 100 (max_record_bytes)");
    ro.skip_bad_records = false;
    try {
        read_all(in, ro);
        FAIL() << "an oversized record must stop a strict read";
    } catch (const InputError& e) {
        EXPECT_EQ(std::string(e.what()),
                  in.string() + ":2: record is 309 bytes, over the limit of 100 (max_record_bytes)");
    }
}

TEST(Limits, DeeplyNestedJsonInAnAnswerIsAReasonNotACrash) {
    // 100 000 levels (200 KB) would overflow the stack when the row is copied or written.
    std::string deep = "Here: " + std::string(100000, '[') + std::string(100000, ']');
    blocks::OutputParser json(blocks::ParseMode::json, nullptr, "", false);
    auto r = json.parse(deep, "stop");
    EXPECT_TRUE(r.values.empty());
    EXPECT_EQ(r.error, "JSON in the response nests deeper than 256 levels");
    // Nesting that real answers use still parses, chatter around it included.
    std::string fine = "Sure: " + std::string(200, '[') + "1" + std::string(200, ']') + " done";
    auto ok = json.parse(fine, "stop");
    ASSERT_EQ(ok.values.size(), 1u) << ok.error;
    EXPECT_TRUE(ok.values[0].is_array());
}

TEST(Limits, FindingJsonInAnAnswerTakesLinearTime) {
    // Every '{' starts a candidate that never closes: without a budget this is quadratic
    // (minutes for a few MB, within max_response_bytes).
    std::string unclosed(4u << 20, '{');
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(blocks::extract_json(unclosed).has_value());
    std::string invalid;
    for (int i = 0; i < 200000; ++i) invalid += "{x}";
    EXPECT_FALSE(blocks::extract_json(invalid).has_value());
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
    // The budget does not cost real answers: JSON after a long preamble is still found.
    auto found = blocks::extract_json(std::string(100000, 'x') + " {\"score\": 4} trailing");
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ((*found)["score"], 4);
}

TEST(Limits, AFlowThatIsNotUtf8IsADiagnosticNotAnException) {
    // Found by flow_loader_fuzz: yaml-cpp passes invalid UTF-8 through, and the schema check
    // threw a JSON type error from deep inside validation.
    fs::path dir = temp_dir("utf8");
    write(dir / "f.yaml", "version: 1\n# caf\xc3\xa9\nname: \"bad \xff byte\"\nblocks: []\n");
    auto diags = validate_flow(dir / "f.yaml");
    ASSERT_EQ(diags.size(), 1u);
    EXPECT_EQ(diags[0].mark.line, 3);
    EXPECT_EQ(diags[0].mark.column, 12);
    EXPECT_EQ(diags[0].message, "the flow is not valid UTF-8 (byte 31)");
}

TEST(Limits, AnLlmSectionThatIsNoMappingIsADiagnosticNotAnException) {
    // Found by flow_loader_fuzz: a problem with the whole `llm:` value has an empty JSON
    // pointer, and reporting it again for --set threw std::out_of_range.
    fs::path dir = temp_dir("llm_scalar");
    write(dir / "f.yaml",
          "version: 1\nllm: just a string\nsampling: 5\n"
          "blocks:\n  - {name: keep, type: filter, config: {where: [{column: q, op: exists}]}}\n");
    auto diags = validate_flow(dir / "f.yaml");
    ASSERT_EQ(diags.size(), 2u);
    EXPECT_EQ(diags[0].mark.line, 2);
    EXPECT_EQ(diags[1].mark.line, 3);
    FlowOptions with_set;
    with_set.overrides = {{"llm.model", "m"}, {"sampling.temperature", "0.5"}};
    EXPECT_EQ(validate_flow(dir / "f.yaml", with_set).size(), 2u);
}

TEST(Limits, ARepeatSubBlockWithoutANameIsADiagnosticNotACrash) {
    // Found by flow_loader_fuzz: sub-blocks of a repeat escape the flow schema's check, and
    // one without `name` (or that is no mapping) was read as if it had one.
    fs::path dir = temp_dir("repeat_item");
    write(dir / "f.yaml",
          "version: 1\nblocks:\n  - name: loop\n    type: repeat\n    config:\n      blocks:\n"
          "        - {type: filter, config: {where: [{column: q, op: exists}]}}\n        - just text\n");
    auto diags = validate_flow(dir / "f.yaml");
    ASSERT_EQ(diags.size(), 2u);
    EXPECT_EQ(diags[0].mark.line, 7);
    EXPECT_EQ(diags[0].message, "a block needs a `name` and a `type`, both strings");
    EXPECT_EQ(diags[1].mark.line, 8);
}
