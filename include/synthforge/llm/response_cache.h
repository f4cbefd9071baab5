#pragma once
// Where the client keeps successful responses, keyed by a hash of the request
// and the backend's identity. The run store implements it (engine layer), so
// the LLM layer needs no knowledge of SQLite or runs.

#include <optional>
#include <string>

namespace synthforge::llm {

class ResponseCache {
  public:
    virtual ~ResponseCache() = default;
    virtual std::optional<std::string> cached_response(const std::string& key) const = 0;
    // Must be durable when it returns: a crash afterwards never loses the answer.
    virtual void put_response(const std::string& key, const std::string& response) = 0;
};

}  // namespace synthforge::llm
