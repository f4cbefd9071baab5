#pragma once
// Size limits that keep one bad input, answer or flow from exhausting memory or
// the stack. A flow sets them in its `limits:` section; each has a default that
// no real dataset comes near. Crossing a limit is never a crash and never silent:
// an input record or rendered prompt over its limit becomes a rejected row, an
// answer over its limit a failed (and uncached) request, a flow nested too deeply
// a validation error naming the file, line and column.

#include "synthforge/data/record.h"
#include "synthforge/llm/request.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace synthforge {

struct Limits {
    // An input record (a JSONL/text line, a JSON array element, a CSV row) larger
    // than this becomes a bad record: a rejected row with --on-bad-record skip.
    size_t max_record_bytes = 64u << 20;
    // An LLM answer larger than this (as stored in the run store) fails the request
    // without retrying and is not cached.
    size_t max_response_bytes = 8u << 20;
    // A request whose rendered prompt (all message contents, or the raw prompt) is
    // larger than this is not sent; its record is rejected.
    size_t max_prompt_bytes = 1u << 20;
    // Mappings and lists nested deeper than this in the flow file (the top-level
    // mapping is level 1) fail validation. Real flows use about 10.
    int max_flow_depth = 16;

    // The `limits:` mapping of a flow (already schema-checked); missing keys keep their default.
    static Limits from_json(const Json& j);
    Json to_json() const;
    bool operator==(const Limits&) const = default;
};

// However a flow sets max_flow_depth, no flow may nest deeper than this: the loader
// and the schema checker recurse once per level.
inline constexpr int kMaxFlowDepthCeiling = 256;

// What max_prompt_bytes measures: every message's content, the raw prompt and the
// scoring context, after templates are rendered.
size_t rendered_prompt_bytes(const llm::Request& request);

// "<what> is N bytes, over the limit of M (limits.<key>)": the one wording for every limit.
std::string over_limit_reason(std::string_view what, uint64_t bytes, uint64_t limit, std::string_view key);

}  // namespace synthforge
