#include "synthforge/llm/client.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <deque>

namespace synthforge::llm {
namespace {

// The wording of limits.max_response_bytes (engine/limits.h) without depending on the engine.
std::string response_too_large(size_t bytes, size_t limit) {
    return fmt::format("response is {} bytes, over the limit of {} (limits.max_response_bytes)", bytes, limit);
}

}  // namespace

Json ClientStats::to_json() const {
    return {{"requests", requests},
            {"cached", cached},
            {"sent", sent},
            {"failures", failures},
            {"in_flight", in_flight},
            {"retries", attempts > sent ? attempts - sent : 0},
            {"prompt_tokens", prompt_tokens},
            {"completion_tokens", completion_tokens},
            {"completion_tokens_per_s", busy_seconds > 0 ? completion_tokens / busy_seconds : 0.0},
            {"latency_ms",
             {{"p50", latency_ms.percentile(0.5)},
              {"p90", latency_ms.percentile(0.9)},
              {"p99", latency_ms.percentile(0.99)}}}};
}

Client::Client(std::unique_ptr<Backend> backend, ResponseCache* cache)
    : backend_(std::move(backend)), cache_(cache), identity_(backend_->identity()) {}

std::string Client::cache_key(const Request& request) const {
    std::string text = identity_ + "\n" + request.to_json().dump();
    XXH128_hash_t h = XXH3_128bits(text.data(), text.size());
    return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

ClientStats Client::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

std::vector<Outcome> Client::run(std::vector<Request> requests,
                                 const std::function<void(const ClientStats&)>& on_progress,
                                 size_t max_response_bytes) {
    std::vector<Outcome> outcomes(requests.size());
    std::vector<std::string> keys(requests.size());
    std::deque<size_t> pending;
    for (size_t i = 0; i < requests.size(); ++i) {
        keys[i] = cache_key(requests[i]);
        if (cache_) {
            if (auto hit = cache_->cached_response(keys[i])) {
                // Stored by a run with a larger limit: the same failure as a fresh answer,
                // so what a record becomes never depends on the cache.
                if (hit->size() > max_response_bytes) {
                    outcomes[i].error = response_too_large(hit->size(), max_response_bytes);
                    std::lock_guard lock(mutex_);
                    ++stats_.requests;
                    ++stats_.cached;
                    ++stats_.failures;
                    continue;
                }
                Response r = Response::from_json(Json::parse(*hit));
                r.cached = true;
                outcomes[i].response = std::move(r);
                std::lock_guard lock(mutex_);
                ++stats_.requests;
                ++stats_.cached;
                continue;
            }
        }
        pending.push_back(i);
    }
    const size_t window = std::max<size_t>(1, backend_->max_in_flight());
    size_t in_flight = 0;
    auto busy_since = std::chrono::steady_clock::now();
    while (!pending.empty() || in_flight > 0) {
        while (!pending.empty() && in_flight < window) {
            size_t i = pending.front();
            pending.pop_front();
            if (in_flight == 0) busy_since = std::chrono::steady_clock::now();
            backend_->submit(i, std::move(requests[i]));
            ++in_flight;
            {
                std::lock_guard lock(mutex_);
                ++stats_.in_flight;
            }
        }
        for (auto& [id, outcome] : backend_->wait(std::chrono::milliseconds(200))) {
            --in_flight;
            // The body is already in memory (the backend bounds it by its own means); this
            // keeps an oversized answer out of the run store, the rows and every later block.
            std::string stored;
            if (outcome.ok()) {
                stored = outcome.response->to_json().dump();
                if (stored.size() > max_response_bytes) {
                    outcome.error = response_too_large(stored.size(), max_response_bytes);
                    outcome.response.reset();
                    stored.clear();
                }
            }
            {
                std::lock_guard lock(mutex_);
                ++stats_.requests;
                ++stats_.sent;
                --stats_.in_flight;
                stats_.attempts += std::max(1, outcome.attempts);
                if (outcome.ok()) {
                    stats_.prompt_tokens += outcome.response->usage.prompt_tokens;
                    stats_.completion_tokens += outcome.response->usage.completion_tokens;
                    stats_.latency_ms.add(outcome.response->latency_ms);
                } else {
                    ++stats_.failures;
                }
                if (in_flight == 0)
                    stats_.busy_seconds +=
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - busy_since).count();
            }
            // Stored at once, each in its own transaction: a crash right after never
            // pays for this answer again.
            if (outcome.ok() && cache_) cache_->put_response(keys[id], stored);
            outcomes[id] = std::move(outcome);
        }
        if (on_progress) on_progress(stats());
    }
    return outcomes;
}

}  // namespace synthforge::llm
