#include "synthforge/llm/request.h"

#include <cmath>

namespace synthforge::llm {

Json Request::to_json() const {
    // Every field, always, in a fixed order: two requests that would be sent the
    // same way serialise to the same bytes, which is what the cache key hashes.
    Json j = Json::object();
    if (pre_query) {
        Json messages = Json::array();
        for (const auto& m : this->messages) messages.push_back({{"role", m.role}, {"content", m.content}});
        j["pre_query"] = std::move(messages);
    } else if (is_chat()) {
        Json messages = Json::array();
        for (const auto& m : this->messages) messages.push_back({{"role", m.role}, {"content", m.content}});
        j["messages"] = std::move(messages);
    } else {
        j["prompt"] = prompt;
    }
    // Only scoring requests carry these, so every other request keeps its cache key.
    if (score) j["score"] = {{"context", score_context}};
    if (embed) j["embed"] = true;
    if (rank) j["rank"] = {{"query", rank_query}, {"api", reward_api}};
    const auto& s = sampling;
    j["sampling"] = {{"mode", s.mode == SamplingMode::deterministic ? "deterministic" : "stochastic"},
                     {"temperature", s.temperature},
                     {"top_p", s.top_p},
                     {"top_k", s.top_k},
                     {"min_p", s.min_p},
                     {"max_tokens", s.max_tokens},
                     {"stop", s.stop},
                     {"seed", s.seed ? Json(*s.seed) : Json()},
                     {"presence_penalty", s.presence_penalty},
                     {"frequency_penalty", s.frequency_penalty}};
    j["json_schema"] = json_schema ? *json_schema : Json();
    j["grammar"] = grammar;
    j["n_probs"] = n_probs;
    return j;
}

double TokenScore::perplexity() const {
    return tokens > 0 ? std::exp(-sum_logprob / static_cast<double>(tokens)) : 0.0;
}

Json Response::to_json() const {
    Json j = {{"text", text},
              {"finish_reason", finish_reason},
              {"usage", {{"prompt_tokens", usage.prompt_tokens}, {"completion_tokens", usage.completion_tokens}}},
              {"latency_ms", latency_ms},
              {"endpoint", endpoint}};
    if (score)
        j["score"] = {
            {"tokens", score->tokens}, {"sum_logprob", score->sum_logprob}, {"min_logprob", score->min_logprob}};
    if (!embedding.empty()) j["embedding"] = embedding;
    return j;
}

Response Response::from_json(const Json& j) {
    Response r;
    r.text = j.value("text", "");
    r.finish_reason = j.value("finish_reason", "");
    if (j.contains("usage")) {
        r.usage.prompt_tokens = j["usage"].value("prompt_tokens", int64_t{0});
        r.usage.completion_tokens = j["usage"].value("completion_tokens", int64_t{0});
    }
    r.latency_ms = j.value("latency_ms", 0.0);
    r.endpoint = j.value("endpoint", "");
    if (j.contains("score")) {
        const Json& s = j["score"];
        r.score = TokenScore{s.value("tokens", int64_t{0}), s.value("sum_logprob", 0.0), s.value("min_logprob", 0.0)};
    }
    if (j.contains("embedding")) r.embedding = j["embedding"].get<std::vector<float>>();
    return r;
}

}  // namespace synthforge::llm
