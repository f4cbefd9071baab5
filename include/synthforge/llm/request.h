#pragma once
// What an LLM call is, independent of where it runs: chat messages or a raw
// prompt, sampling parameters, and optional constraints; and what comes back.
// Both backends (openai over HTTP, llama in-process) take the same Request.

#include "synthforge/data/record.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace synthforge::llm {

struct ChatMessage {
    std::string role;  // system | user | assistant
    std::string content;
};

enum class SamplingMode {
    stochastic,     // sample with temperature/top_p/top_k/min_p
    deterministic,  // greedy: always the most likely token (temperature 0)
};

struct SamplingParams {
    SamplingMode mode = SamplingMode::stochastic;
    double temperature = 0.7;       // softmax temperature; ignored when deterministic
    double top_p = 0.9;             // nucleus sampling mass; 1 disables
    int top_k = 0;                  // keep the k most likely tokens; 0 disables
    double min_p = 0.0;             // drop tokens below min_p * p(best); 0 disables
    int max_tokens = 512;           // completion length cap
    std::vector<std::string> stop;  // stop strings (not included in the text)
    std::optional<uint64_t> seed;   // per-request seed; the run's seed derives it when unset
    double presence_penalty = 0.0;
    double frequency_penalty = 0.0;
};

struct Request {
    std::vector<ChatMessage> messages;  // chat request when non-empty
    std::string prompt;                 // raw completion prompt when `messages` is empty
    SamplingParams sampling;
    std::optional<Json> json_schema;  // constrain the output to this JSON schema
    std::string grammar;              // or to this GBNF grammar
    int n_probs = 0;                  // return this many top log-probabilities per token (0: none)
    // Magpie (Xu et al. 2024): the model gets only its chat template's opening of a user
    // turn (after the system message in `messages`, if any) and writes the user's query.
    // Needs a backend that knows the template (llama); `prompt` is unused.
    bool pre_query = false;
    // Scoring instead of generating (perplexity): nothing is generated, and the response's
    // `score` sums the log-probabilities of the tokens of `prompt` given `score_context`
    // (tokenised apart, scored not). Both are plain text: special-token text is not parsed.
    // Needs a backend that exposes prompt log-probabilities (llama).
    bool score = false;
    std::string score_context;
    // Embedding instead of generating: the response's `embedding` is the pooled vector of
    // `prompt` (plain text). Needs a backend set up for embeddings (llama with embeddings: true).
    bool embed = false;
    // Reward scoring instead of generating: a reward or reranking model scores `prompt` (the
    // response, plain text) as an answer to `rank_query` (the instruction); the response's
    // `embedding` holds the classification head's outputs, the first being the score. Needs a
    // model with a classification head (llama: embeddings: true, pooling: rank) or a server's
    // reward endpoint (openai: `reward_api`).
    bool rank = false;
    std::string rank_query;
    // openai: which endpoint scores a `rank` request and how (docs/blocks/reward.md): api
    // (rerank | classify | score | generic), path, body (generic: a JSON template) and
    // score (a JSON pointer into the answer). Empty: llama-server's /v1/rerank.
    Json reward_api = Json::object();

    bool is_chat() const { return !messages.empty() && !pre_query; }
    // Canonical JSON of every field: equal requests serialise identically (the cache key).
    Json to_json() const;
};

struct Usage {
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
};

// Log-probabilities of the scored tokens of a `score` request (natural log).
struct TokenScore {
    int64_t tokens = 0;      // tokens scored
    double sum_logprob = 0;  // sum of log p(token | everything before it)
    double min_logprob = 0;  // the least likely token's log-probability
    // exp(-mean log-probability): the model's perplexity on the text; 0 when nothing was scored.
    double perplexity() const;
};

struct Response {
    std::string text;
    std::string finish_reason;  // stop | length | (backend-specific)
    Usage usage;
    double latency_ms = 0;            // from send to last byte (a cached answer keeps its original call's)
    std::string endpoint;             // which server or model answered
    bool cached = false;              // came from the run store, not the backend
    std::optional<TokenScore> score;  // set for `score` requests
    std::vector<float> embedding;     // set for `embed` requests (a reranker: its scores)

    Json to_json() const;
    static Response from_json(const Json& j);
};

// A finished call: a response, or why there is none after all attempts.
// Failures are values, not exceptions: the block decides what a failure means.
struct Outcome {
    std::optional<Response> response;
    std::string error;  // non-empty when response is empty
    int attempts = 0;

    bool ok() const { return response.has_value(); }
};

}  // namespace synthforge::llm
