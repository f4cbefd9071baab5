// llm_generate: render a prompt from each record, ask a model, parse the answer
// into columns. The building block of every generation method.
#include "llm_call.h"
#include "llm_output_parser.h"
#include "seeded_rng.h"
#include "synthforge/data/reader.h"
#include "synthforge/engine/flow_files.h"
#include "synthforge/engine/registry.h"
#include "synthforge/engine/template.h"
#include "synthforge/errors.h"
#include "synthforge/llm/client_pool.h"
#include "synthforge/llm/sampling.h"

#include <fmt/format.h>

#include <map>

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
    "prompts": {"type": "array", "minItems": 1, "items": {"type": "string"}, "description": "Several prompt templates, rotated over the records (see rotation); instead of prompt"},
    "prompt_files": {"type": "array", "minItems": 1, "items": {"type": "string"}, "description": "Files holding prompt templates, rotated over the records; instead of prompt"},
    "rotation": {"enum": ["cycle", "random"], "description": "How several prompts and sampling lists (sampling: {temperature: [0.3, 0.7]}) are given out. cycle: the i-th record this block receives gets entry i mod the list's length of every list; random: each list's entry drawn per record from the run's seed", "default": "cycle"},
    "prompt_index_column": {"type": "string", "description": "With several prompts: column receiving the index (0-based) of the template a row was asked with; empty = none", "default": "prompt_index"},
    "sampling_column": {"type": "string", "description": "With sampling lists: column receiving {option: value} of the rotated sampling values a row was asked with; empty = none", "default": "sampling_values"},
    "system": {"type": "string", "description": "Jinja template of the system message; none when empty", "default": ""},
    "system_file": {"type": "string", "description": "File holding the system template; instead of system"},
    "examples": {"type": "array", "description": "k-shot examples sent before the prompt as user/assistant turns: [{user, assistant}]", "default": []},
    "examples_file": {"type": "string", "description": "JSONL/JSON file of {user, assistant} or {messages} examples; instead of examples"},
    "examples_limit": {"type": "integer", "minimum": 0, "description": "Send only the first k examples (inline ones first, then the file's); default: all"},
    "raw": {"type": "boolean", "description": "Send the rendered prompt as a raw completion, without the chat template", "default": false},
    "pre_query": {"type": "boolean", "description": "Magpie: no prompt; the model gets only its chat template's opening of a user turn (after the system message) and writes a user query", "default": false},
    "pre_query_template": {"type": "string", "description": "pre_query on the openai backend (completions endpoint): the served model's user-turn opening, or a preset: chatml, llama3, gemma, phi3, mistral", "default": ""},
    "n": {"type": "integer", "minimum": 1, "description": "Samples per record; each becomes its own row", "default": 1},
    "output": {"type": "string", "description": "Column that receives the parsed answer", "default": "response"},
    "parse": {"enum": ["text", "json", "list", "regex"], "description": "text: trimmed text; json: a JSON value; list: one row per numbered/bulleted item; regex: named groups into columns", "default": "text"},
    "json_schema": {"type": "object", "description": "parse: json: the answer must match this schema (constrained decoding where the backend can)"},
    "merge_json": {"type": "boolean", "description": "parse: json: spread an answer object's fields into columns instead of one column", "default": false},
    "regex": {"type": "string", "description": "parse: regex: pattern with named groups, e.g. (?s)Q: (?P<question>.*)A: (?P<answer>.*)", "default": ""},
    "drop_truncated_last": {"type": "boolean", "description": "parse: list: drop the last item when the answer was cut at max_tokens", "default": true},
    "max_parse_retries": {"type": "integer", "minimum": 0, "description": "Asks again (with a new seed) when the answer does not parse", "default": 2},
    "sample_column": {"type": "string", "description": "With n > 1: column receiving the sample number (0-based); empty = none", "default": ""},
    "finish_reason_column": {"type": "string", "description": "Column receiving the finish reason (stop | length); empty = none", "default": ""},
    "usage_column": {"type": "string", "description": "Column receiving {prompt_tokens, completion_tokens, seconds} of the answer (a cached answer reports its original call); empty = none", "default": ""}
  }
})json";

// Sampling options a block may give as a list, one value per record in rotation.
const std::vector<std::string>& rotatable_sampling() {
    static const std::vector<std::string> keys = {
        "frequency_penalty", "max_tokens", "min_p", "presence_penalty", "seed", "temperature", "top_k", "top_p"};
    return keys;
}

// The value of one rotatable option as the request carries it.
Json sampling_value(const llm::SamplingParams& p, const std::string& key) {
    if (key == "temperature") return p.temperature;
    if (key == "top_p") return p.top_p;
    if (key == "top_k") return p.top_k;
    if (key == "min_p") return p.min_p;
    if (key == "max_tokens") return p.max_tokens;
    if (key == "presence_penalty") return p.presence_penalty;
    if (key == "frequency_penalty") return p.frequency_penalty;
    if (key == "seed") return p.seed ? Json(*p.seed) : Json();
    return nullptr;
}

// Sampling lists of a block config, taken out: the lists by option name (in name order), and
// the config with each list replaced by its first value, as the block's default sampling.
struct SamplingLists {
    std::vector<std::pair<std::string, Json>> lists;
    Json config;
};

SamplingLists split_sampling_lists(const Json& config) {
    SamplingLists out{{}, config};
    if (!config.contains("sampling") || !config["sampling"].is_object()) return out;
    for (const auto& key : rotatable_sampling()) {
        const Json& v = config["sampling"].value(key, Json());
        if (!v.is_array()) continue;
        if (v.empty()) throw ConfigError("config.sampling." + key + ": a list to rotate needs at least one value");
        out.lists.emplace_back(key, v);
        out.config["sampling"][key] = v[0];
    }
    return out;
}

struct Example {
    std::string user;
    std::string assistant;
};

std::vector<Example> load_examples(const Json& config, const BlockEnv& env) {
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
        const auto p = resolve_flow_file(env, config["examples_file"].get<std::string>(), "config.examples_file");
        try {
            for (const auto& e : read_all(p)) add(e, "config.examples_file: " + p.string());
        } catch (const UserError& e) {
            throw ConfigError(std::string("config.examples_file: ") + e.what());
        }
    }
    // k-shot: the first k examples (inline ones first, then the file's).
    if (auto it = config.find("examples_limit"); it != config.end() && it->is_number_integer()) {
        const auto k = it->get<int64_t>();
        if (k >= 0 && static_cast<size_t>(k) < out.size()) out.resize(static_cast<size_t>(k));
    }
    return out;
}

class LlmGenerate : public Block {
  public:
    LlmGenerate(const std::string& name, const Json& config, const BlockEnv& env)
        : LlmGenerate(name, config, split_sampling_lists(config), env) {}

    LlmGenerate(const std::string& name, const Json& config, SamplingLists split, const BlockEnv& env)
        : Block(name),
          env_(env),
          prompts_(compile_prompts(config, env)),
          system_(compile(config, "system", env, false)),
          examples_(load_examples(config, env)),
          raw_(config.value("raw", false)),
          n_(config.value("n", 1)),
          output_(config.value("output", "response")),
          mode_(parse_mode(config.value("parse", "text"))),
          merge_json_(config.value("merge_json", false)),
          json_schema_(config.value("json_schema", Json())),
          parser_(mode_, json_schema_, config.value("regex", ""), config.value("drop_truncated_last", true)),
          max_parse_retries_(config.value("max_parse_retries", 2)),
          sample_column_(config.value("sample_column", "")),
          finish_reason_column_(config.value("finish_reason_column", "")),
          usage_column_(config.value("usage_column", "")),
          random_rotation_(config.value("rotation", "cycle") == "random"),
          prompt_index_column_(config.value("prompt_index_column", "prompt_index")),
          sampling_column_(config.value("sampling_column", "sampling_values")),
          sampling_lists_(std::move(split.lists)),
          caller_(name, split.config, env) {
        if (config.value("pre_query", false)) setup_pre_query(config);
        // Every listed value must make valid sampling on its own: checked now, named by its place.
        for (const auto& [key, list] : sampling_lists_)
            for (size_t i = 0; i < list.size(); ++i) {
                try {
                    caller_.sampling_with(Json{{key, list[i]}});
                } catch (const UserError& e) {
                    throw ConfigError(fmt::format("config.sampling.{}[{}]: {}", key, i, e.what()));
                }
            }
        if (raw_ && (system_ || !examples_.empty()))
            throw ConfigError("config.raw: a raw prompt has no chat turns, so system and examples cannot be used");
        if (merge_json_ && mode_ != ParseMode::json) throw ConfigError("config.merge_json: needs parse: json");
    }

    void process(std::vector<Record>&& rows, Emitter& out) override {
        // Rotation counts the records this block has received, over every batch (and resume).
        const uint64_t first_index = received_;
        received_ += rows.size();

        // 1. Render one request per (row, sample).
        std::vector<blocks::LlmCall> calls;
        std::vector<bool> rejected(rows.size(), false);
        std::vector<Rotated> rotated(rows.size());
        for (size_t r = 0; r < rows.size(); ++r) {
            llm::Request base;
            rotated[r] = rotate(first_index + r);
            try {
                base = render(rows[r], rotated[r].prompt);
            } catch (const TemplateError& e) {
                out.reject(std::move(rows[r]), e.what());
                rejected[r] = true;
                continue;
            }
            for (int s = 0; s < n_; ++s) {
                // A pre-query is the same text for every record: the record seeds it.
                const std::string salt = pre_query_ ? rows[r].dump() : std::string();
                if (rotated[r].sampling)
                    calls.push_back(caller_.make_call(base, *rotated[r].sampling, s, salt));
                else
                    calls.push_back(caller_.make_call(base, s, salt));
                if (!pre_query_stop_.empty()) calls.back().request.sampling.stop.push_back(pre_query_stop_);
            }
        }
        if (caller_.dry_run(calls)) return;

        // 2. Ask, re-asking (new seed) the calls whose answers do not parse.
        std::vector<std::optional<blocks::ParseResult>> results(calls.size());
        std::vector<std::string> finish(calls.size());
        std::vector<Json> usage(calls.size());
        caller_.run(calls, max_parse_retries_, "answer did not parse as " + parse_mode_name(),
                    [&](size_t i, const llm::Response& response) -> std::string {
                        auto parsed = parser_.parse(response.text, response.finish_reason);
                        finish[i] = response.finish_reason;
                        usage[i] = {{"prompt_tokens", response.usage.prompt_tokens},
                                    {"completion_tokens", response.usage.completion_tokens},
                                    {"seconds", response.latency_ms / 1000.0}};
                        if (!parsed.error.empty()) return parsed.error;
                        results[i] = std::move(parsed);
                        return {};
                    });

        // 3. Emit in input order: each sample's values, or the row rejected with why.
        size_t j = 0;
        for (size_t r = 0; r < rows.size(); ++r) {
            if (rejected[r]) continue;
            std::vector<Record> produced;
            std::string why;
            for (int s = 0; s < n_; ++s, ++j) {
                if (!results[j]) {
                    if (why.empty()) why = calls[j].failure;
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
                    if (!usage_column_.empty()) row[usage_column_] = usage[j];
                    stamp_rotation(row, rotated[r]);
                    produced.push_back(std::move(row));
                }
            }
            // A record whose every sample failed is rejected with the first reason; partial
            // success keeps what worked (the failures are counted in metadata).
            if (produced.empty()) {
                stamp_rotation(rows[r], rotated[r]);
                out.reject(std::move(rows[r]), why);
            }
            for (auto& p : produced) out.emit(std::move(p));
        }
    }

    Json metrics() const override { return caller_.metrics(); }

    // The rotation position survives a crash with the batch that advanced it, so a resumed
    // run gives the next record the template and values the uninterrupted run would have.
    std::string take_state_delta() override {
        if (!rotating() || received_ == saved_received_) return {};
        saved_received_ = received_;
        return std::to_string(received_);
    }
    void restore_state(const std::vector<std::string>& deltas) override {
        if (deltas.empty()) return;
        try {
            received_ = saved_received_ = std::stoull(deltas.back());
        } catch (const std::exception&) {
            throw RunError("llm_generate '" + name() + "': its saved rotation state in the run store is damaged");
        }
    }

  private:
    // What rotation gave one record: a template and, with sampling lists, its own sampling.
    struct Rotated {
        size_t prompt = 0;
        std::optional<llm::SamplingParams> sampling;
        Json values;  // the rotated options' values as sent
    };

    bool rotating() const { return prompts_.size() > 1 || !sampling_lists_.empty(); }

    // cycle: entry index mod length of every list. random: drawn from the run's seed, the
    // block's name, the round and the index alone, so batching and timing change nothing.
    Rotated rotate(uint64_t index) {
        Rotated out;
        if (!rotating()) return out;
        Rng rng(mix_seed(mix_seed(mix_seed(env_.seed, name()), current_round(env_)), index));
        auto pick = [&](size_t size) -> size_t {
            if (size <= 1) return 0;
            return random_rotation_ ? static_cast<size_t>(rng.below(size)) : static_cast<size_t>(index % size);
        };
        out.prompt = pick(prompts_.size());
        if (sampling_lists_.empty()) return out;
        Json chosen = Json::object();
        for (const auto& [key, list] : sampling_lists_) chosen[key] = list[pick(list.size())];
        std::string cache_key = chosen.dump();
        auto it = sampling_cache_.find(cache_key);
        if (it == sampling_cache_.end()) it = sampling_cache_.emplace(cache_key, caller_.sampling_with(chosen)).first;
        out.sampling = it->second;
        out.values = Json::object();
        // What the request carries: a --set sampling.NAME override wins over the rotation.
        for (const auto& [key, _] : sampling_lists_) out.values[key] = sampling_value(it->second, key);
        return out;
    }

    void stamp_rotation(Record& row, const Rotated& r) const {
        if (!row.is_object()) return;
        if (prompts_.size() > 1 && !prompt_index_column_.empty()) row[prompt_index_column_] = r.prompt;
        if (!sampling_lists_.empty() && !sampling_column_.empty()) row[sampling_column_] = r.values;
    }

    // prompt / prompt_file (one template) or prompts / prompt_files (several, rotated).
    static std::vector<Template> compile_prompts(const Json& config, const BlockEnv& env) {
        const bool pre_query = config.value("pre_query", false);
        const bool many = config.contains("prompts") || config.contains("prompt_files");
        std::vector<Template> out;
        if (!many) {
            if (auto t = compile(config, "prompt", env, !pre_query)) out.push_back(std::move(*t));
            return out;
        }
        if (pre_query) throw ConfigError("config.prompts: a pre-query request has no prompt");
        int given = config.contains("prompts") + config.contains("prompt_files") + config.contains("prompt_file") +
                    (config.contains("prompt") && !config["prompt"].get<std::string>().empty());
        if (given > 1) throw ConfigError("config.prompts: give one of prompt, prompt_file, prompts or prompt_files");
        if (config.contains("prompts")) {
            const Json& list = config["prompts"];
            for (size_t i = 0; i < list.size(); ++i) {
                const std::string where = fmt::format("config.prompts[{}]", i);
                if (list[i].get<std::string>().empty()) throw ConfigError(where + ": an empty prompt template");
                out.push_back(Template::compile(list[i].get<std::string>(), where));
            }
        } else {
            const Json& list = config["prompt_files"];
            for (size_t i = 0; i < list.size(); ++i) {
                const std::string where = fmt::format("config.prompt_files[{}]", i);
                std::string source =
                    blocks::read_config_file(env, list[i].get<std::string>(), fmt::format("prompt_files[{}]", i));
                if (source.empty()) throw ConfigError(where + ": the file is empty");
                out.push_back(Template::compile(source, where));
            }
        }
        return out;
    }

    // Magpie needs the model's own template up to the start of a user's words. The llama
    // backend has the template; an OpenAI-compatible server applies it inside its chat
    // endpoint, where the model would answer instead of asking, so there the flow names
    // the opening and it goes out as a raw completion.
    void setup_pre_query(const Json& config) {
        pre_query_ = true;
        if (raw_ || !examples_.empty() || !prompts_.empty())
            throw ConfigError("config.pre_query: a pre-query request has no prompt, examples or raw text");
        const Json& llm = caller_.llm_config();
        std::string backend = llm.value("backend", "llama");
        if (backend == "llama") return;
        std::string opening = config.value("pre_query_template", "");
        static const std::map<std::string, std::pair<std::string, std::string>> presets = {
            {"chatml", {"<|im_start|>user\n", "<|im_end|>"}},
            {"llama3", {"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n", "<|eot_id|>"}},
            {"gemma", {"<bos><start_of_turn>user\n", "<end_of_turn>"}},
            {"phi3", {"<|user|>\n", "<|end|>"}},
            {"mistral", {"<s>[INST] ", "[/INST]"}}};
        if (opening.empty())
            throw ConfigError("config.pre_query_template: the " + backend +
                              " backend cannot know the served model's chat template; give its user-turn opening or a "
                              "preset (chatml, llama3, gemma, phi3, mistral)");
        if (llm.value("endpoint", "chat") != "completions")
            throw ConfigError(
                "config.pre_query: needs llm.endpoint: completions; a chat endpoint applies the whole chat "
                "template, so the model would answer rather than write a query");
        if (system_) throw ConfigError("config.system: with pre_query_template, put the system turn in the template");
        if (auto it = presets.find(opening); it != presets.end()) {
            pre_query_text_ = it->second.first;
            pre_query_stop_ = it->second.second;  // the end of the user's turn
        } else {
            pre_query_text_ = opening;
        }
    }

    static std::optional<Template> compile(const Json& config, const std::string& key, const BlockEnv& env,
                                           bool required) {
        std::string source;
        if (config.contains(key + "_file")) {
            if (config.contains(key) && !config[key].get<std::string>().empty())
                throw ConfigError("config." + key + ": give " + key + " or " + key + "_file, not both");
            source = blocks::read_config_file(env, config[key + "_file"].get<std::string>(), key + "_file");
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

    llm::Request render(const Record& row, size_t prompt_index) const {
        llm::Request req;
        if (pre_query_) {
            if (!pre_query_text_.empty()) {
                req.prompt = pre_query_text_;  // openai completions: the flow's own opening
            } else {
                req.pre_query = true;  // llama: the backend renders its template's opening
                if (system_) req.messages.push_back({"system", system_->render(row)});
            }
            return req;
        }
        req.sampling = caller_.sampling();
        std::string user = prompts_.at(prompt_index).render(row);
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

    BlockEnv env_;
    std::vector<Template> prompts_;  // one, or several in rotation; none for a pre-query
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
    std::string usage_column_;
    bool pre_query_ = false;
    std::string pre_query_text_;  // openai: the user-turn opening sent as a raw prompt
    std::string pre_query_stop_;  // openai presets: where the user's turn ends
    bool random_rotation_;
    std::string prompt_index_column_;
    std::string sampling_column_;
    std::vector<std::pair<std::string, Json>> sampling_lists_;   // option -> values, in option order
    std::map<std::string, llm::SamplingParams> sampling_cache_;  // by the chosen values' JSON
    uint64_t received_ = 0;                                      // records received, all batches
    uint64_t saved_received_ = 0;
    blocks::LlmCaller caller_;
};

std::unique_ptr<Block> make_llm_generate(const std::string& name, const Json& config, const BlockEnv& env) {
    return std::make_unique<LlmGenerate>(name, config, env);
}

// The llm: and sampling: options share the schemas of the flow-level sections, so
// `synthforge validate` checks their keys with file:line:column like any option.
const bool registered = [] {
    Json schema = Json::parse(kSchema);
    schema["properties"]["llm"] = llm::llm_config_schema();
    // Numeric sampling options may be lists here: the block rotates them over its records.
    Json sampling = llm::sampling_schema();
    for (const auto& key : rotatable_sampling()) {
        Json one = sampling["properties"][key];
        Json described = one;
        described.erase("description");
        sampling["properties"][key] = {
            {"anyOf", {described, {{"type", "array"}, {"minItems", 1}, {"items", described}}}},
            {"description", one.value("description", "") + "; a list is rotated over the records (see rotation)"}};
    }
    schema["properties"]["sampling"] = std::move(sampling);
    BlockRegistry::global().add({"llm_generate",
                                 "Ask a model with a prompt rendered from each record; parse the answer into columns",
                                 std::move(schema), make_llm_generate});
    return true;
}();

}  // namespace

}  // namespace synthforge
