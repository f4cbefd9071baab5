#pragma once
// A backend runs LLM requests: many in flight, results as they finish. The
// LlmClient above it adds the response cache and hands results back in
// submission order, so output never depends on timing.

#include "synthforge/llm/request.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace synthforge::llm {

class Backend {
  public:
    virtual ~Backend() = default;

    // Identity for the cache key: backend kind, model, and anything else that
    // changes answers (never secrets such as API keys).
    virtual std::string identity() const = 0;

    // How many requests may be in flight at once; submit() is only called while
    // fewer than this are outstanding (back-pressure lives in the client).
    virtual size_t max_in_flight() const = 0;

    // Starts a request; `id` comes back with its outcome. Never blocks on the network.
    virtual void submit(uint64_t id, Request request) = 0;

    // Waits until at least one request finishes or `timeout` passes; returns the
    // finished ones (possibly none on timeout). Retries happen inside the backend:
    // an outcome is final.
    virtual std::vector<std::pair<uint64_t, Outcome>> wait(std::chrono::milliseconds timeout) = 0;

    // Backend-specific figures for metadata.json (per-endpoint latency, ejections, ...); null when none.
    virtual Json stats_json() const { return nullptr; }
};

}  // namespace synthforge::llm
