// `perplexity`: how surprising each record's text is to a small language model, as
// exp(-mean log p(token | tokens before it)), with optional bounds that reject rows.
// Gibberish and broken encodings score very high; boilerplate and loops of the same phrase
// score very low. With `context` (say, the instruction) the text is scored given it, so an
// answer is judged as an answer to its question.
//
// The log-probabilities come from the in-process llama backend (a scoring request decodes
// the text and never generates), through the same client as every other LLM block: batched
// with continuous batching, cached in the run store, resumed without re-scoring.

#include "llm_call.h"
#include "synthforge/engine/registry.h"
#include "synthforge/engine/template.h"
#include "synthforge/errors.h"
#include "synthforge/llm/client_pool.h"
#include "synthforge/llm/sampling.h"

#include <fmt/format.h>

#include <cctype>
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
    "llm": {"type": "object", "description": "The scoring model: backend: llama (the only backend that exposes prompt log-probabilities) and model: a small GGUF"},
    "text": {"type": "string", "description": "The text scored: a column name or a Jinja template over the record", "default": "output"},
    "context": {"type": "string", "description": "Optional text the scored text is conditioned on (not scored itself): a column name or a Jinja template, e.g. instruction"},
    "output": {"type": "string", "description": "Column receiving the perplexity", "default": "perplexity"},
    "details_column": {"type": "string", "description": "Optional column receiving {tokens, mean_logprob, min_logprob}", "default": ""},
    "max": {"type": "number", "exclusiveMinimum": 0, "description": "Rows whose perplexity is above this are rejected (noise, broken text)"},
    "min": {"type": "number", "minimum": 0, "description": "Rows whose perplexity is below this are rejected (repetition, boilerplate)"}
  }
})json";

// Perplexities span orders of magnitude; four significant digits say enough in a reason.
std::string show(double v) {
    return fmt::format("{:.4g}", v);
}

class PerplexityBlock final : public Block {
  public:
    PerplexityBlock(const std::string& name, const Json& config, const BlockEnv& env)
        : Block(name), caller_(name, config, env) {
        const std::string backend = caller_.llm_config().value("backend", "llama");
        // Plugin backends may score; the openai backend never does (see openai_request_body).
        if (backend == "openai")
            throw ConfigError(
                "config.llm.backend: perplexity needs the log-probabilities of a text's tokens, which the openai "
                "backend does not ask servers for; set backend: llama and model: a small GGUF");
        text_ = compile_column_or_template(config.value("text", "output"), "config.text");
        if (config.contains("context"))
            context_ = compile_column_or_template(config["context"].get<std::string>(), "config.context");
        output_ = config.value("output", "perplexity");
        if (output_.empty()) throw ConfigError("config.output: the perplexity column needs a name");
        details_ = config.value("details_column", "");
        if (config.contains("max")) max_ = config["max"].get<double>();
        if (config.contains("min")) min_ = config["min"].get<double>();
        if (min_ && max_ && *min_ >= *max_)
            throw ConfigError(fmt::format("config.min: {} must be below config.max ({})", *min_, *max_));
    }

    void process(std::vector<Record>&& rows, Emitter& out) override {
        std::vector<blocks::LlmCall> calls;
        std::vector<size_t> call_of(rows.size(), SIZE_MAX);  // SIZE_MAX: rejected while rendering
        for (size_t r = 0; r < rows.size(); ++r) {
            llm::Request req;
            req.score = true;
            try {
                req.prompt = text_->render(rows[r]);
                if (context_) req.score_context = context_->render(rows[r]);
            } catch (const TemplateError& e) {
                out.reject(std::move(rows[r]), e.what());
                continue;
            }
            if (req.prompt.empty()) {
                out.reject(std::move(rows[r]), "perplexity: the text to score is empty");
                continue;
            }
            call_of[r] = calls.size();
            calls.push_back(caller_.make_call(std::move(req)));
        }
        if (caller_.dry_run(calls)) return;

        std::vector<llm::TokenScore> scores(calls.size());
        caller_.run(calls, 0, "perplexity unusable", [&](size_t i, const llm::Response& response) -> std::string {
            if (!response.score || response.score->tokens == 0) return "the backend returned no token scores";
            scores[i] = *response.score;
            return "";
        });

        for (size_t r = 0; r < rows.size(); ++r) {
            const size_t c = call_of[r];
            if (c == SIZE_MAX) continue;
            if (!calls[c].failure.empty()) {
                out.reject(std::move(rows[r]), calls[c].failure);
                continue;
            }
            const llm::TokenScore& s = scores[c];
            const double ppl = s.perplexity();
            Record row = std::move(rows[r]);
            // Rejected rows keep their figures too: the rejects file shows how far off they were.
            row[output_] = ppl;
            if (!details_.empty())
                row[details_] = {{"tokens", s.tokens},
                                 {"mean_logprob", s.sum_logprob / static_cast<double>(s.tokens)},
                                 {"min_logprob", s.min_logprob}};
            ++scored_;
            if (max_ && ppl > *max_) {
                ++above_max_;
                out.reject(std::move(row), fmt::format("perplexity {} > max {}", show(ppl), show(*max_)));
            } else if (min_ && ppl < *min_) {
                ++below_min_;
                out.reject(std::move(row), fmt::format("perplexity {} < min {}", show(ppl), show(*min_)));
            } else {
                out.emit(std::move(row));
            }
        }
    }

    Json metrics() const override {
        Json m = caller_.metrics();
        m["scored"] = scored_;
        m["above_max"] = above_max_;
        m["below_min"] = below_min_;
        return m;
    }

  private:
    blocks::LlmCaller caller_;
    std::optional<Template> text_, context_;
    std::string output_, details_;
    std::optional<double> max_, min_;
    uint64_t scored_ = 0, above_max_ = 0, below_min_ = 0;
};

std::unique_ptr<Block> make_perplexity(const std::string& name, const Json& config, const BlockEnv& env) {
    return std::make_unique<PerplexityBlock>(name, config, env);
}

const bool registered = [] {
    Json schema = Json::parse(kSchema);
    schema["properties"]["llm"] = llm::llm_config_schema();
    schema["properties"]["llm"]["description"] =
        "The scoring model: backend: llama (the only backend that exposes prompt log-probabilities) and model: a "
        "small GGUF";
    BlockRegistry::global().add({"perplexity",
                                 "Score each text's perplexity under a small llama.cpp model; reject rows above max "
                                 "or below min",
                                 std::move(schema), make_perplexity});
    return true;
}();

}  // namespace
}  // namespace synthforge
