#pragma once
// The `openai` backend: any server speaking the OpenAI HTTP API (vLLM, SGLang,
// llama-server, Ollama, hosted APIs). A small fixed number of event-loop threads
// (event_loop_threads, default min(2, cores)) drive every transfer over
// keep-alive connections, through the native HTTP/1.1 client (http1_transport.h)
// for plain http:// endpoints or libcurl's multi interface for the rest
// (http_transport), so thousands of requests in flight cost a thread or two.
//
// Policy in one paragraph (docs/openai_backend.md has the long version):
// requests go to the endpoint with the fewest outstanding requests that still
// has room in its concurrency window and its rate-limit buckets; retryable
// failures (408/409/429/5xx, timeouts, resets, truncated or unparseable bodies)
// are retried with full-jitter exponential backoff, never sooner than the
// server's Retry-After; an endpoint that keeps failing is ejected and probed
// back later. The API key is read from an environment variable once and is
// redacted from everything this backend produces.

#include "synthforge/llm/backend.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace synthforge::llm {

// Per-endpoint overrides; a value <= 0 (or < 0 for the rates) keeps the backend-wide default.
struct OpenAiEndpointOptions {
    std::string base_url;             // e.g. http://10.0.0.5:8000/v1
    int max_concurrency = 0;          // window cap for this endpoint; 0 = OpenAiBackendOptions::max_concurrency
    double requests_per_minute = -1;  // < 0 = backend default; 0 = unlimited
    double tokens_per_minute = -1;    // < 0 = backend default; 0 = unlimited
};

struct OpenAiBackendOptions {
    std::vector<std::string> base_urls;            // equivalent replicas, e.g. http://127.0.0.1:8080/v1
    std::vector<OpenAiEndpointOptions> endpoints;  // more replicas, with their own limits (added after base_urls)
    std::string model;                             // "model" field of every request; part of identity()
    std::string api_key_env;                       // name of the env var holding the key; "" = send no key
    bool use_completions_endpoint = false;         // raw prompts: true -> /completions; false -> one user message
                                                   // on /chat/completions. Chat requests always use the latter.
    // OpenAI's newer chat models refuse `max_tokens` and want `max_completion_tokens`; vLLM
    // and SGLang accept both, llama-server only the former. /completions always gets max_tokens.
    bool max_completion_tokens = false;
    int max_concurrency = 16;         // in-flight requests per endpoint (the adaptive window's ceiling)
    double requests_per_minute = 0;   // per endpoint; 0 = unlimited
    double tokens_per_minute = 0;     // per endpoint, prompt chars/4 + max_tokens; 0 = unlimited
    double timeout_s = 120;           // whole-attempt timeout (connect + send + wait + receive)
    double connect_timeout_s = 10;    // TCP (+TLS) connect timeout per attempt
    int max_attempts = 5;             // attempts per request, the first one included
    double backoff_base_s = 0.5;      // retry n sleeps uniform(0, min(cap, base * 2^n))
    double backoff_cap_s = 30;        // ceiling of the backoff window above
    int eject_after_failures = 5;     // consecutive endpoint failures before it is taken out of rotation
    double probe_after_s = 10;        // an ejected endpoint gets one probe request after this long
    double all_down_timeout_s = 300;  // queued requests fail once every endpoint was down this long
    double max_retry_after_s = 600;   // larger Retry-After values are clamped to this
    // Threads driving transfers, each with its own transport and connections; they share the
    // endpoint state (balancing, windows, buckets, ejection). 0 = automatic: min(2, hardware threads).
    // One loop carries tens of thousands of requests/s, far beyond any model server; a second
    // one only pays against very fast servers (see docs/openai_backend.md, "Throughput").
    int event_loop_threads = 0;
    // How requests go on the wire: "native" (the built-in HTTP/1.1 keep-alive client, plain
    // http:// endpoints only), "curl" (libcurl: https, proxies, credentials in the URL), or
    // "auto": native when every endpoint is a plain http:// URL and no proxy variable applies.
    std::string http_transport = "auto";
};

// A snapshot for progress lines and run metadata.
struct OpenAiEndpointStats {
    std::string base_url;                       // credentials in the URL, if any, are masked
    uint64_t attempts = 0;                      // transfers started on this endpoint
    uint64_t successes = 0;                     // attempts that returned a usable response
    uint64_t errors = 0;                        // attempts that failed (any reason)
    uint64_t in_flight = 0;                     // transfers running now
    int window = 0;                             // current adaptive concurrency window
    bool ejected = false;                       // out of rotation, waiting for a probe
    double p50_ms = 0, p95_ms = 0, p99_ms = 0;  // latency of recent successful attempts
};

struct OpenAiStats {
    uint64_t requests = 0;   // submitted
    uint64_t completed = 0;  // finished with a response
    uint64_t failures = 0;   // finished with an error Outcome
    uint64_t retries = 0;    // attempts after the first, summed over requests
    uint64_t in_flight = 0;  // submitted and not yet finished (running, queued or backing off)
    std::string transport;   // "native" or "curl": what auto (or the option) chose
    std::vector<OpenAiEndpointStats> endpoints;
};

class OpenAiBackend final : public Backend {
  public:
    // Throws UserError for a bad configuration or a missing API key variable.
    explicit OpenAiBackend(const OpenAiBackendOptions& options);
    ~OpenAiBackend() override;

    OpenAiBackend(const OpenAiBackend&) = delete;
    OpenAiBackend& operator=(const OpenAiBackend&) = delete;

    std::string identity() const override;
    size_t max_in_flight() const override;
    void submit(uint64_t id, Request request) override;
    std::vector<std::pair<uint64_t, Outcome>> wait(std::chrono::milliseconds timeout) override;

    OpenAiStats stats() const;
    Json stats_json() const override;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

std::unique_ptr<Backend> make_openai_backend(const OpenAiBackendOptions& options);

// The JSON body sent for `request` (exposed for tests and for logging a request's shape).
Json openai_request_body(const Request& request, const std::string& model, bool use_completions_endpoint,
                         bool max_completion_tokens = false);

// The same body as JSON text, byte for byte what openai_request_body(...).dump() gives with
// invalid UTF-8 replaced by U+FFFD, written directly: this is what submit() sends.
std::string openai_request_body_text(const Request& request, const std::string& model, bool use_completions_endpoint,
                                     bool max_completion_tokens = false);

}  // namespace synthforge::llm
