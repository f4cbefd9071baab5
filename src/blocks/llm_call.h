#pragma once
// What every block that calls a model shares: its merged `llm:` and `sampling:`
// settings, per-request seeds, --dry-run, asking again (with a new seed) when an
// answer is unusable, and the per-block figures for metadata.json. The block keeps
// what is its own: rendering requests and deciding whether an answer is usable.

#include "synthforge/data/record.h"
#include "synthforge/engine/block.h"
#include "synthforge/engine/template.h"
#include "synthforge/llm/client.h"
#include "synthforge/llm/request.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace synthforge::blocks {

// The text of a file named by config.<key>, relative to the flow's folder and confined to it
// (resolve_flow_file); ConfigError naming the key.
std::string read_config_file(const BlockEnv& env, const std::string& name, const std::string& key);

// A model prompt given inline (config.<key>) or in a file (config.<key>_file, relative to the
// flow), `fallback` when neither. Empty text: no template (an empty system message sends none),
// except for "prompt", which cannot be empty: `what` names it in the error ("the judge's prompt").
std::optional<Template> template_file_or_inline(const Json& config, const std::string& key, const BlockEnv& env,
                                                const char* fallback, const std::string& what);

// One request of a block, asked until its answer is accepted or the retries run out.
struct LlmCall {
    llm::Request request;
    std::string key;         // the request's canonical JSON before seeding: its seeds derive from it
    int sample = 0;          // sample number (n > 1 asks the same request several times)
    int attempt = 0;         // answers already refused
    std::string failure;     // set by LlmCaller::run: why there is no accepted answer; empty when accepted
    uint64_t seed_base = 0;  // what the request's seeds derive from (the sampling's seed or the run's)
};

// Requests, cache hits, failures, retries, tokens and latencies of one block.
struct LlmMetrics {
    uint64_t requests = 0, cached = 0, failures = 0, parse_failures = 0, retries = 0;
    uint64_t prompt_tokens = 0, completion_tokens = 0;
    llm::LatencyHistogram latency_ms;  // of answers not from the cache
    std::map<std::string, uint64_t> per_endpoint;

    void count(const llm::Outcome& o);
    Json to_json() const;
};

class LlmCaller {
  public:
    // `config` is the block's config (its `llm:` and `sampling:`). `default_preset` is used
    // when the block's own `sampling:` names none, as if the block had written it.
    LlmCaller(std::string block_name, const Json& config, const BlockEnv& env, const std::string& default_preset = "");

    const Json& llm_config() const { return llm_config_; }
    const llm::SamplingParams& sampling() const { return sampling_; }

    // A call for `request` (its sampling set from the block's), seeded for attempt 0.
    // `salt` joins the seed's source: requests that are the same for every record (a
    // Magpie pre-query) still get a seed of their own per record.
    LlmCall make_call(llm::Request request, int sample = 0, const std::string& salt = "") const;
    // The same with sampling of the call's own (a rotated temperature, seed, ...): its seed
    // field, when set, is the base the request's seed derives from, as for the block's.
    LlmCall make_call(llm::Request request, const llm::SamplingParams& sampling, int sample = 0,
                      const std::string& salt = "") const;

    // The block's sampling with `values` (a `sampling:` mapping of plain values) layered over
    // the block's own, under the --set overrides. Throws ConfigError naming a bad value.
    llm::SamplingParams sampling_with(const Json& values) const;

    // Under --dry-run: hands every request to the run and returns true. Otherwise false.
    bool dry_run(const std::vector<LlmCall>& calls) const;

    // Answers usable for the block: `accept(index, response)` returns an empty string and
    // keeps what it needs, or says why the answer cannot be used.
    using Accept = std::function<std::string(size_t, const llm::Response&)>;

    // Asks every call at once (outcomes in order), then again, with a new seed, those whose
    // answer was refused, up to `max_retries` times each. A call still without an accepted
    // answer gets `failure`: the backend's error, or "<refusal> after N attempts: <why>".
    void run(std::vector<LlmCall>& calls, int max_retries, const std::string& refusal, const Accept& accept);

    Json metrics() const { return metrics_.to_json(); }

  private:
    // Reproducible on every run and resume, different across blocks, samples and attempts.
    // `base`: the sampling's seed, or the run's when it has none.
    uint64_t derive_seed(uint64_t base, const std::string& request_key, int sample, int attempt) const;

    std::string block_name_;
    BlockEnv env_;
    Json llm_config_;
    llm::SamplingParams sampling_;
    Json block_sampling_;  // the block's own `sampling:` layer (with its default preset)
    LlmMetrics metrics_;
};

}  // namespace synthforge::blocks
