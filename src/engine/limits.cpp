#include "synthforge/engine/limits.h"

#include "synthforge/llm/client.h"

namespace synthforge {

static_assert(Limits{}.max_response_bytes == llm::kDefaultMaxResponseBytes,
              "one default for callers of llm::Client that pass no limit and for flows");

size_t rendered_prompt_bytes(const llm::Request& request) {
    size_t bytes = request.prompt.size() + request.score_context.size();
    for (const auto& m : request.messages) bytes += m.content.size();
    return bytes;
}

Limits Limits::from_json(const Json& j) {
    Limits l;
    if (!j.is_object()) return l;
    l.max_record_bytes = j.value("max_record_bytes", l.max_record_bytes);
    l.max_response_bytes = j.value("max_response_bytes", l.max_response_bytes);
    l.max_prompt_bytes = j.value("max_prompt_bytes", l.max_prompt_bytes);
    l.max_flow_depth = j.value("max_flow_depth", l.max_flow_depth);
    return l;
}

Json Limits::to_json() const {
    return {{"max_record_bytes", max_record_bytes},
            {"max_response_bytes", max_response_bytes},
            {"max_prompt_bytes", max_prompt_bytes},
            {"max_flow_depth", max_flow_depth}};
}

std::string over_limit_reason(std::string_view what, uint64_t bytes, uint64_t limit, std::string_view key) {
    return std::string(what) + " is " + std::to_string(bytes) + " bytes, over the limit of " + std::to_string(limit) +
           " (limits." + std::string(key) + ")";
}

}  // namespace synthforge
