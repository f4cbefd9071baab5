#pragma once
// The LLM client: what blocks call. It answers from the run's response cache
// when it can, sends the rest to its backend with at most max_in_flight()
// outstanding (back-pressure, not an unbounded queue), stores every success in
// the cache the moment it arrives, and returns outcomes in submission order.

#include "synthforge/llm/backend.h"
#include "synthforge/llm/latency_histogram.h"
#include "synthforge/llm/response_cache.h"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace synthforge::llm {

// Counters for progress and metadata.json.
struct ClientStats {
    uint64_t requests = 0;   // asked of the client
    uint64_t cached = 0;     // answered from the run store
    uint64_t sent = 0;       // sent to the backend
    uint64_t failures = 0;   // ended without a response
    uint64_t attempts = 0;   // backend attempts, retries included
    uint64_t in_flight = 0;  // sent and not yet answered
    uint64_t prompt_tokens = 0;
    uint64_t completion_tokens = 0;
    LatencyHistogram latency_ms;  // of responses from the backend
    double busy_seconds = 0;      // wall time with requests in flight

    Json to_json() const;  // counts, tokens, tokens/s and latency p50/p90/p99
};

// An answer larger than this (its JSON as the run store keeps it) is a failed request
// unless the caller passes its own limit (a flow's limits.max_response_bytes).
inline constexpr size_t kDefaultMaxResponseBytes = 8u << 20;

class Client {
  public:
    // `cache` may be null (no caching, e.g. --dry-run or tests).
    Client(std::unique_ptr<Backend> backend, ResponseCache* cache);

    // Runs every request; outcomes come back in the same order. Failed outcomes are
    // never cached. `on_progress` (optional) is called as requests finish. An answer over
    // `max_response_bytes` becomes a failed outcome (not retried, not cached).
    std::vector<Outcome> run(std::vector<Request> requests,
                             const std::function<void(const ClientStats&)>& on_progress = nullptr,
                             size_t max_response_bytes = kDefaultMaxResponseBytes);

    const std::string& identity() const { return identity_; }
    Json backend_stats() const { return backend_->stats_json(); }
    ClientStats stats() const;

    // The cache key of a request for this backend: a hash of its identity and the request.
    std::string cache_key(const Request& request) const;

  private:
    std::unique_ptr<Backend> backend_;
    ResponseCache* cache_;
    std::string identity_;
    mutable std::mutex mutex_;
    ClientStats stats_;
};

}  // namespace synthforge::llm
