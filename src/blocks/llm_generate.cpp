// llm_generate: render a prompt from each record, ask a model, parse the answer
// into columns. The building block of every generation method.
#include "llm_output_parser.h"
#include "synthforge/data/reader.h"
#include "synthforge/engine/registry.h"
#include "synthforge/engine/template.h"
#include "synthforge/errors.h"
#include "synthforge/llm/client_pool.h"
#include "synthforge/llm/sampling.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <fstream>
#include <map>
#include <sstream>

namespace synthforge {
namespace {

using blocks::OutputParser;
using blocks::ParseMode;

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "llm": {"type": "object", "description": "Model settings on top of the flow's llm: (backend, model, base_url, concurrency, ...)"},
    "sampling": {"type": "object", "description": "Sampling on top of the flow's sampling: (preset, temperature, top_p, max_tokens, stop, seed, ...)"},
    "prompt": {"type": "string", "description": "Jinja template of the user message over the record's columns"},
    "prompt_file": {"type": "string", "description": "File holding the prompt template (relative to the flow); instead of prompt"},
    "system": {"type": "string", "description": "Jinja template of the system message; none when empty", "default": ""},
    "system_file": {"type": "string", "description": "File holding the system template; instead of system"},
    "examples": {"type": "array", "description": "k-shot examples sent before the prompt as user/assistant turns: [{user, assistant}]", "default": []},
    "examples_file": {"type": "string", "description": "JSONL/JSON file of {user, assistant} or {messages} examples; instead of examples"},
    "raw": {"type": "boolean", "description": "Send the rendered prompt as a raw completion, without the chat template", "default": false},
    "n": {"type": "integer", "minimum": 1, "description": "Samples per record; each becomes its own row", "default": 1},
    "output": {"type": "string", "description": "Column that receives the parsed answer", "default": "response"},
    "parse": {"enum": ["text", "json", "list", "regex"], "description": "text: trimmed text; json: a JSON value; list: one row per numbered/bulleted item; regex: named groups into columns", "default": "text"},
    "json_schema": {"type": "object", "description": "parse: json: the answer must match this schema (constrained decoding where the backend can)"},
    "merge_json": {"type": "boolean", "description": "parse: json: spread an answer object's fields into columns instead of one column", "default": false},
    "regex": {"type": "string", "description": "parse: regex: pattern with named groups, e.g. (?s)Q: (?P<question>.*)A: (?P<answer>.*)", "default": ""},
    "drop_truncated_last": {"type": "boolean", "description": "parse: list: drop the last item when the answer was cut at max_tokens", "default": true},
    "max_parse_retries": {"type": "integer", "minimum": 0, "description": "Asks again (with a new seed) when the answer does not parse", "default": 2},
    "sample_column": {"type": "string", "description": "With n > 1: column receiving the sample number (0-based); empty = none", "default": ""},
    "finish_reason_column": {"type": "string", "description": "Column receiving the finish reason (stop | length); empty = none", "default": ""}
  }
})json";

std::string read_text_file(const std::filesystem::path& dir, const std::string& name, const std::string& key) {
    std::filesystem::path p = std::filesystem::path(name).is_absolute() ? std::filesystem::path(name) : dir / name;
    std::ifstream in(p, std::ios::binary);
    if (!in) throw ConfigError("config." + key + ": cannot read " + p.string() + ": " + std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct Example {
    std::string user;
    std::string assistant;
};

std::vector<Example> load_examples(const Json& config, const std::filesystem::path& dir) {
    std::vector<Example> out;
    auto add = [&](const Json& e, const std::string& where) {
        if (e.contains("messages") && e["messages"].is_array()) {
            std::string user;
            for (const auto& m : e["messages"]) {
                std::string role = m.value("role", ""), content = m.value("content", "");
                if (role == "user")
                    user = content;
                else if (role == "assistant")
                    out.push_back({user, content});
            }
            return;
        }
        if (!e.contains("user") || !e.contains("assistant") || !e["user"].is_string() || !e["assistant"].is_string())
            throw ConfigError(where + ": an example needs string fields user and assistant (or messages)");
        out.push_back({e["user"].get<std::string>(), e["assistant"].get<std::string>()});
    };
    const Json inline_examples = config.value("examples", Json::array());
    for (size_t i = 0; i < inline_examples.size(); ++i) add(inline_examples[i], fmt::format("config.examples[{}]", i));
    if (config.contains("examples_file")) {
        std::filesystem::path p = config["examples_file"].get<std::string>();
        if (p.is_relative()) p = dir / p;
        try {
            for (const auto& e : read_all(p)) add(e, "config.examples_file: " + p.string());
        } catch (const UserError& e) {
            throw ConfigError(std::string("config.examples_file: ") + e.what());
        }
    }
    return out;
}

uint64_t hash64(std::string_view s, uint64_t seed) {
    return XXH3_64bits_withSeed(s.data(), s.size(), seed);
}

// Metrics of one block, for metadata.json.
struct BlockLlmMetrics {
    uint64_t requests = 0, cached = 0, failures = 0, parse_failures = 0, retries = 0;
    uint64_t prompt_tokens = 0, completion_tokens = 0;
    std::vector<double> latencies;
    std::map<std::string, uint64_t> per_endpoint;

    Json to_json() const {
        std::vector<double> l = latencies;
        std::sort(l.begin(), l.end());
        auto pct = [&](double p) { return l.empty() ? 0.0 : l[static_cast<size_t>(p * (l.size() - 1) + 0.5)]; };
        return {{"requests", requests},
                {"cached", cached},
                {"failures", failures},
                {"parse_failures", parse_failures},
                {"parse_retries", retries},
                {"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion_tokens},
                {"latency_ms", {{"p50", pct(0.5)}, {"p90", pct(0.9)}, {"p99", pct(0.99)}}},
                {"requests_per_endpoint", per_endpoint}};
    }
};

class LlmGenerate : public Block {
  public:
    LlmGenerate(const std::string& name, const Json& config, const BlockEnv& env)
        : Block(name),
          env_(env),
          prompt_(compile(config, "prompt", env, true)),
          system_(compile(config, "system", env, false)),
          examples_(load_examples(config, env.flow_dir)),
          raw_(config.value("raw", false)),
          n_(config.value("n", 1)),
          output_(config.value("output", "response")),
          mode_(parse_mode(config.value("parse", "text"))),
          merge_json_(config.value("merge_json", false)),
          json_schema_(config.value("json_schema", Json())),
          parser_(mode_, json_schema_, config.value("regex", ""), config.value("drop_truncated_last", true)),
          max_parse_retries_(config.value("max_parse_retries", 2)),
          sample_column_(config.value("sample_column", "")),
          finish_reason_column_(config.value("finish_reason_column", "")) {
        llm_config_ = env.llm_defaults;
        const Json block_llm = config.value("llm", Json::object());  // kept alive: items() refers to it
        for (const auto& [k, v] : block_llm.items()) llm_config_[k] = v;
        for (const auto& [k, v] : env.llm_overrides.items()) llm_config_[k] = v;
        Json block_sampling = config.value("sampling", Json::object());
        sampling_json_ = llm::merge_sampling({env.sampling_defaults, block_sampling, env.sampling_overrides});
        sampling_ = llm::sampling_from_json(sampling_json_);
        if (raw_ && (system_ || !examples_.empty()))
            throw ConfigError("config.raw: a raw prompt has no chat turns, so system and examples cannot be used");
        if (merge_json_ && mode_ != ParseMode::json) throw ConfigError("config.merge_json: needs parse: json");
    }

    void process(std::vector<Record>&& rows, Emitter& out) override {
        // 1. Render one request per (row, sample).
        struct Job {
            size_t row;
            int sample;
            int attempt = 0;
            llm::Request request;
            std::string prompt_hash;
        };
        std::vector<Job> jobs;
        std::vector<bool> rejected(rows.size(), false);
        for (size_t r = 0; r < rows.size(); ++r) {
            llm::Request base;
            try {
                base = render(rows[r]);
            } catch (const TemplateError& e) {
                out.reject(std::move(rows[r]), e.what());
                rejected[r] = true;
                continue;
            }
            std::string key = base.to_json().dump();
            for (int s = 0; s < n_; ++s) {
                Job j{r, s, 0, base, key};
                j.request.sampling.seed = derive_seed(key, s, 0);
                jobs.push_back(std::move(j));
            }
        }
        if (env_.on_dry_run_request) {
            for (const auto& j : jobs) {
                Json shown = j.request.to_json();
                shown["llm"] = llm_config_;
                shown["block"] = name();
                env_.on_dry_run_request(shown);
            }
            return;
        }
        if (!env_.llm) throw std::logic_error("llm_generate '" + name() + "' has no LLM client");
        llm::Client& client = env_.llm->get(llm_config_);

        // 2. Ask, re-asking (new seed) the jobs whose answers do not parse.
        std::vector<std::optional<blocks::ParseResult>> results(jobs.size());
        std::vector<std::string> finish(jobs.size());
        std::vector<std::string> failures(jobs.size());
        std::vector<size_t> todo(jobs.size());
        for (size_t i = 0; i < jobs.size(); ++i) todo[i] = i;
        while (!todo.empty()) {
            std::vector<llm::Request> requests;
            for (size_t i : todo) requests.push_back(jobs[i].request);
            auto outcomes = client.run(std::move(requests), [this](const llm::ClientStats&) {
                if (env_.on_progress) env_.on_progress();
            });
            std::vector<size_t> again;
            for (size_t k = 0; k < todo.size(); ++k) {
                size_t i = todo[k];
                auto& o = outcomes[k];
                count(o);
                if (!o.ok()) {
                    failures[i] = "LLM request failed: " + o.error;
                    continue;
                }
                auto parsed = parser_.parse(o.response->text, o.response->finish_reason);
                finish[i] = o.response->finish_reason;
                if (parsed.error.empty()) {
                    results[i] = std::move(parsed);
                    continue;
                }
                ++metrics_.parse_failures;
                if (jobs[i].attempt < max_parse_retries_) {
                    ++jobs[i].attempt;
                    ++metrics_.retries;
                    jobs[i].request.sampling.seed = derive_seed(jobs[i].prompt_hash, jobs[i].sample, jobs[i].attempt);
                    again.push_back(i);
                } else {
                    failures[i] = fmt::format("answer did not parse as {} after {} attempt{}: {}", parse_mode_name(),
                                              jobs[i].attempt + 1, jobs[i].attempt ? "s" : "", parsed.error);
                }
            }
            todo = std::move(again);
        }

        // 3. Emit in input order: each sample's values, or the row rejected with why.
        size_t j = 0;
        for (size_t r = 0; r < rows.size(); ++r) {
            if (rejected[r]) continue;
            std::vector<Record> produced;
            std::string why;
            for (int s = 0; s < n_; ++s, ++j) {
                if (!results[j]) {
                    if (why.empty()) why = failures[j];
                    continue;
                }
                for (auto& value : results[j]->values) {
                    Record row = rows[r];
                    if (merge_json_ && value.is_object()) {
                        for (auto& [k, v] : value.items()) row[k] = std::move(v);
                    } else if (mode_ == ParseMode::regex) {
                        for (auto& [k, v] : value.items()) row[k] = std::move(v);
                    } else {
                        row[output_] = std::move(value);
                    }
                    if (!sample_column_.empty()) row[sample_column_] = s;
                    if (!finish_reason_column_.empty()) row[finish_reason_column_] = finish[j];
                    produced.push_back(std::move(row));
                }
            }
            // A record whose every sample failed is rejected with the first reason; partial
            // success keeps what worked (the failures are counted in metadata).
            if (produced.empty()) out.reject(std::move(rows[r]), why);
            for (auto& p : produced) out.emit(std::move(p));
        }
    }

    Json metrics() const override { return metrics_.to_json(); }

  private:
    static std::optional<Template> compile(const Json& config, const std::string& key, const BlockEnv& env,
                                           bool required) {
        std::string source;
        if (config.contains(key + "_file")) {
            if (config.contains(key) && !config[key].get<std::string>().empty())
                throw ConfigError("config." + key + ": give " + key + " or " + key + "_file, not both");
            source = read_text_file(env.flow_dir, config[key + "_file"].get<std::string>(), key + "_file");
        } else {
            source = config.value(key, "");
        }
        if (source.empty()) {
            if (required) throw ConfigError("config.prompt: llm_generate needs prompt or prompt_file");
            return std::nullopt;
        }
        return Template::compile(source, "config." + key);
    }

    static ParseMode parse_mode(const std::string& s) {
        if (s == "json") return ParseMode::json;
        if (s == "list") return ParseMode::list;
        if (s == "regex") return ParseMode::regex;
        return ParseMode::text;
    }
    std::string parse_mode_name() const {
        switch (mode_) {
            case ParseMode::json:
                return "JSON";
            case ParseMode::list:
                return "a list";
            case ParseMode::regex:
                return "config.regex";
            default:
                return "text";
        }
    }

    llm::Request render(const Record& row) const {
        llm::Request req;
        req.sampling = sampling_;
        std::string user = prompt_->render(row);
        if (raw_) {
            req.prompt = std::move(user);
        } else {
            if (system_) req.messages.push_back({"system", system_->render(row)});
            for (const auto& e : examples_) {
                req.messages.push_back({"user", e.user});
                req.messages.push_back({"assistant", e.assistant});
            }
            req.messages.push_back({"user", std::move(user)});
        }
        if (mode_ == ParseMode::json && json_schema_.is_object()) req.json_schema = json_schema_;
        return req;
    }

    // Each request gets its own seed from the run's (or the config's) seed, this block,
    // the request's content, the sample number and the attempt: reproducible on every
    // run and resume, and different across samples and retries.
    uint64_t derive_seed(const std::string& request_key, int sample, int attempt) const {
        uint64_t base = sampling_.seed.value_or(env_.seed);
        uint64_t h = hash64(request_key, hash64(name(), base));
        h = hash64(fmt::format("{}:{}", sample, attempt), h);
        return h & 0x7fffffffffffffffULL;  // JSON-friendly and positive for every server
    }

    void count(const llm::Outcome& o) {
        ++metrics_.requests;
        if (!o.ok()) {
            ++metrics_.failures;
            return;
        }
        const auto& r = *o.response;
        if (r.cached)
            ++metrics_.cached;
        else
            metrics_.latencies.push_back(r.latency_ms);
        metrics_.prompt_tokens += r.usage.prompt_tokens;
        metrics_.completion_tokens += r.usage.completion_tokens;
        ++metrics_.per_endpoint[r.endpoint.empty() ? "(unknown)" : r.endpoint];
    }

    BlockEnv env_;
    std::optional<Template> prompt_;
    std::optional<Template> system_;
    std::vector<Example> examples_;
    bool raw_;
    int n_;
    std::string output_;
    ParseMode mode_;
    bool merge_json_;
    Json json_schema_;
    OutputParser parser_;
    int max_parse_retries_;
    std::string sample_column_;
    std::string finish_reason_column_;
    Json llm_config_;
    Json sampling_json_;
    llm::SamplingParams sampling_;
    BlockLlmMetrics metrics_;
};

std::unique_ptr<Block> make_llm_generate(const std::string& name, const Json& config, const BlockEnv& env) {
    return std::make_unique<LlmGenerate>(name, config, env);
}

// The llm: and sampling: options share the schemas of the flow-level sections, so
// `synthforge validate` checks their keys with file:line:column like any option.
const bool registered = [] {
    Json schema = Json::parse(kSchema);
    schema["properties"]["llm"] = llm::llm_config_schema();
    schema["properties"]["sampling"] = llm::sampling_schema();
    BlockRegistry::global().add({"llm_generate",
                                 "Ask a model with a prompt rendered from each record; parse the answer into columns",
                                 std::move(schema), make_llm_generate});
    return true;
}();

}  // namespace

}  // namespace synthforge
