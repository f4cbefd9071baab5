// reward: scores each (instruction, response) pair with a reward or reranking model, writes
// the score to a column and optionally rejects rows below a bar. A response column holding a
// list (n answers to one instruction) gets a list of scores, for preference_pairs.
//
// The model runs in-process (a GGUF with a classification head, llama.cpp's rank pooling:
// llm.embeddings: true, llm.pooling: rank) or behind a server's reward endpoint (llama-server's
// /v1/rerank, vLLM's /classify or /score, or any JSON API described by `api`). Either way the
// requests go through the same client as every LLM block: batched, cached in the run store,
// resumed without scoring again.
#include "llm_call.h"
#include "synthforge/engine/registry.h"
#include "synthforge/engine/template.h"
#include "synthforge/errors.h"
#include "synthforge/llm/client_pool.h"
#include "synthforge/llm/sampling.h"

#include <fmt/format.h>
#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "llm": {"type": "object", "description": "The reward model: backend: llama with model: a GGUF with a classification head, embeddings: true and pooling: rank; or backend: openai with the server's base_url (see api)"},
    "api": {"type": "object", "additionalProperties": false,
            "description": "openai backend: the reward endpoint. kind rerank (llama-server --rerank: POST /v1/rerank), classify (vLLM: POST /classify on the server root), score (vLLM: POST /score) or generic (path + body + score)",
            "properties": {
              "kind": {"enum": ["rerank", "classify", "score", "generic"], "default": "rerank"},
              "path": {"type": "string", "description": "Endpoint path, relative to base_url (a path starting with / is relative to the server's root); default: per kind"},
              "body": {"description": "generic: the JSON body; strings {{query}}, {{document}} and {{model}} are replaced by the texts and the model's name"},
              "score": {"type": "string", "description": "generic (or to override a kind): JSON pointer to the score in the answer, e.g. /results/0/relevance_score"},
              "label": {"type": "integer", "minimum": 0, "description": "classify: which output of the classifier is the score (default 0; reward models have one)"}
            }},
    "instruction": {"type": "string", "description": "The instruction (the query of a reranker): a column name or a Jinja template", "default": "{{ instruction }}{% if input %}\n\n{{ input }}{% endif %}"},
    "response": {"type": "string", "description": "The response scored: a column name or a Jinja template; a column holding a list of responses gets a list of scores", "default": "output"},
    "output": {"type": "string", "minLength": 1, "description": "Column receiving the score (a list of scores for a list of responses)", "default": "reward"},
    "min_score": {"type": "number", "description": "Rows scoring below this are rejected (a list: rows whose best response scores below it)"}
  }
})json";

// The same default instruction as llm_judge: the task as the user gave it.
constexpr const char* kDefaultInstruction = "{{ instruction }}{% if input %}\n\n{{ input }}{% endif %}";

std::string show(double v) {
    return fmt::format("{:.4g}", v);
}

class RewardBlock final : public Block {
  public:
    RewardBlock(const std::string& name, const Json& config, const BlockEnv& env)
        : Block(name), caller_(name, config, env) {
        const std::string backend = caller_.llm_config().value("backend", "llama");
        if (backend == "llama" && !caller_.llm_config().value("embeddings", false))
            throw ConfigError(
                "config.llm.embeddings: the reward model answers through its classification head: set llm: "
                "{embeddings: true, pooling: rank} with a reward or reranking GGUF");
        if (backend == "llama" && caller_.llm_config().value("pooling", "model") != "rank" &&
            caller_.llm_config().value("pooling", "model") != "model")
            throw ConfigError(
                "config.llm.pooling: a reward model needs pooling: rank (or model, for a GGUF that "
                "declares rank pooling)");
        if (config.contains("api")) {
            if (backend == "llama")
                throw ConfigError(
                    "config.api: the reward endpoint is for backend: openai; the llama backend scores "
                    "in-process");
            api_ = config["api"];
            const std::string kind = api_.value("kind", "rerank");
            api_["kind"] = kind;
            if (kind == "generic" && (!api_.contains("path") || !api_.contains("body") || !api_.contains("score")))
                throw ConfigError("config.api: kind generic needs path, body and score");
            if (api_.contains("score")) {
                const std::string pointer = api_["score"].get<std::string>();
                try {
                    (void)Json::json_pointer(pointer);
                } catch (const std::exception& e) {
                    throw ConfigError(
                        fmt::format("config.api.score: '{}' is not a JSON pointer: {}", pointer, e.what()));
                }
            }
        }
        instruction_ =
            compile_column_or_template(config.value("instruction", kDefaultInstruction), "config.instruction");
        const std::string response = config.value("response", "output");
        if (response.empty()) throw ConfigError("config.response: needs a column name or a template");
        response_ = compile_column_or_template(response, "config.response");
        static const RE2 column_name("[A-Za-z_][A-Za-z0-9_]*");
        if (RE2::FullMatch(response, column_name)) response_column_ = response;
        output_ = config.value("output", "reward");
        if (config.contains("min_score")) min_score_ = config["min_score"].get<double>();
    }

    void process(std::vector<Record>&& rows, Emitter& out) override {
        // 1. A request per response: one per row, or one per item of a list of responses.
        std::vector<blocks::LlmCall> calls;
        std::vector<size_t> first(rows.size(), SIZE_MAX), count(rows.size(), 0);  // SIZE_MAX: rejected
        std::vector<bool> listed(rows.size(), false);
        for (size_t r = 0; r < rows.size(); ++r) {
            std::vector<std::string> responses;
            std::string query;
            try {
                query = instruction_->render(rows[r]);
                const Json* list = list_of(rows[r]);
                if (list) {
                    listed[r] = true;
                    for (const auto& item : *list)
                        responses.push_back(item.is_string() ? item.get<std::string>() : item.dump());
                } else {
                    responses.push_back(response_->render(rows[r]));
                }
            } catch (const TemplateError& e) {
                out.reject(std::move(rows[r]), e.what());
                continue;
            }
            if (responses.empty()) {
                out.reject(std::move(rows[r]), "reward: the list of responses is empty");
                continue;
            }
            if (std::any_of(responses.begin(), responses.end(), [](const std::string& s) { return s.empty(); })) {
                out.reject(std::move(rows[r]), "reward: a response to score is empty");
                continue;
            }
            first[r] = calls.size();
            count[r] = responses.size();
            for (auto& text : responses) {
                llm::Request req;
                req.rank = true;
                req.rank_query = query;
                req.prompt = std::move(text);
                req.reward_api = api_;
                // make_call gives a rank request fixed sampling: one cache entry per pair.
                calls.push_back(caller_.make_call(std::move(req)));
            }
        }
        if (caller_.dry_run(calls)) return;

        // 2. Every pair of the batch at once.
        std::vector<double> scores(calls.size(), 0.0);
        caller_.run(calls, 0, "reward unusable", [&](size_t i, const llm::Response& response) -> std::string {
            if (response.embedding.empty()) return "the backend returned no score";
            // The score travels as a float (Response::embedding). Its shortest decimal form is
            // what the model or server said: 0.8 from a server stays 0.8, not 0.800000011920929.
            const float f = response.embedding.front();
            if (!std::isfinite(f)) return "the score is not a finite number";
            const double s = std::stod(fmt::format("{}", f));
            scores[i] = s;
            return "";
        });

        // 3. Emit in input order.
        for (size_t r = 0; r < rows.size(); ++r) {
            const size_t c = first[r];
            if (c == SIZE_MAX) continue;
            std::string failure;
            for (size_t k = 0; k < count[r] && failure.empty(); ++k) failure = calls[c + k].failure;
            if (!failure.empty()) {
                out.reject(std::move(rows[r]), failure);
                continue;
            }
            Record row = std::move(rows[r]);
            double best = scores[c];
            if (listed[r]) {
                Json list = Json::array();
                for (size_t k = 0; k < count[r]; ++k) {
                    list.push_back(scores[c + k]);
                    best = std::max(best, scores[c + k]);
                }
                row[output_] = std::move(list);
            } else {
                row[output_] = best;
            }
            ++scored_;
            if (min_score_ && best < *min_score_) {
                ++below_min_score_;
                out.reject(std::move(row), fmt::format("reward {} < min_score {}{}", show(best), show(*min_score_),
                                                       listed[r] ? " (best of the responses)" : ""));
                continue;
            }
            out.emit(std::move(row));
        }
    }

    Json metrics() const override {
        Json m = caller_.metrics();
        m["scored"] = scored_;
        m["below_min_score"] = below_min_score_;
        return m;
    }

  private:
    // The row's list of responses when `response` names a column holding a list.
    const Json* list_of(const Record& row) const {
        if (response_column_.empty() || !row.is_object()) return nullptr;
        auto it = row.find(response_column_);
        return it != row.end() && it->is_array() ? &*it : nullptr;
    }

    blocks::LlmCaller caller_;
    Json api_ = Json::object();
    std::optional<Template> instruction_, response_;
    std::string response_column_;
    std::string output_;
    std::optional<double> min_score_;
    uint64_t scored_ = 0, below_min_score_ = 0;
};

std::unique_ptr<Block> make_reward(const std::string& name, const Json& config, const BlockEnv& env) {
    return std::make_unique<RewardBlock>(name, config, env);
}

const bool registered = [] {
    Json schema = Json::parse(kSchema);
    const std::string description = schema["properties"]["llm"]["description"];
    schema["properties"]["llm"] = llm::llm_config_schema();
    schema["properties"]["llm"]["description"] = description;
    BlockRegistry::global().add({"reward",
                                 "Score (instruction, response) pairs with a reward or reranking model (in-process or "
                                 "a server's rerank/classify/score endpoint); reject below min_score",
                                 std::move(schema), make_reward});
    return true;
}();

}  // namespace
}  // namespace synthforge
