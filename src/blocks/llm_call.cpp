#include "llm_call.h"

#include "synthforge/engine/flow_files.h"
#include "synthforge/engine/limits.h"
#include "synthforge/errors.h"
#include "synthforge/llm/client_pool.h"
#include "synthforge/llm/sampling.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace synthforge::blocks {
namespace {

uint64_t hash64(std::string_view s, uint64_t seed) {
    return XXH3_64bits_withSeed(s.data(), s.size(), seed);
}

}  // namespace

std::string read_config_file(const BlockEnv& env, const std::string& name, const std::string& key) {
    const std::filesystem::path p = resolve_flow_file(env, name, "config." + key);
    std::ifstream in(p, std::ios::binary);
    if (!in) throw ConfigError("config." + key + ": cannot read " + p.string() + ": " + std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::optional<Template> template_file_or_inline(const Json& config, const std::string& key, const BlockEnv& env,
                                                const char* fallback, const std::string& what) {
    std::string source = fallback;
    if (config.contains(key + "_file")) {
        if (config.contains(key))
            throw ConfigError("config." + key + ": give " + key + " or " + key + "_file, not both");
        source = read_config_file(env, config[key + "_file"].get<std::string>(), key + "_file");
    } else if (config.contains(key)) {
        source = config[key].get<std::string>();
    }
    if (source.empty()) {
        if (key == "prompt") throw ConfigError("config.prompt: " + what + " cannot be empty");
        return std::nullopt;  // an empty system message: send none
    }
    return Template::compile(source, "config." + key);
}

void LlmMetrics::count(const llm::Outcome& o) {
    ++requests;
    if (!o.ok()) {
        ++failures;
        return;
    }
    const auto& r = *o.response;
    if (r.cached)
        ++cached;
    else
        latency_ms.add(r.latency_ms);
    prompt_tokens += r.usage.prompt_tokens;
    completion_tokens += r.usage.completion_tokens;
    ++per_endpoint[r.endpoint.empty() ? "(unknown)" : r.endpoint];
}

Json LlmMetrics::to_json() const {
    return {{"requests", requests},
            {"cached", cached},
            {"failures", failures},
            {"parse_failures", parse_failures},
            {"parse_retries", retries},
            {"prompt_tokens", prompt_tokens},
            {"completion_tokens", completion_tokens},
            {"latency_ms",
             {{"p50", latency_ms.percentile(0.5)},
              {"p90", latency_ms.percentile(0.9)},
              {"p99", latency_ms.percentile(0.99)}}},
            {"requests_per_endpoint", per_endpoint}};
}

LlmCaller::LlmCaller(std::string block_name, const Json& config, const BlockEnv& env, const std::string& default_preset)
    : block_name_(std::move(block_name)), env_(env) {
    llm_config_ = env.llm_defaults;
    const Json block_llm = config.value("llm", Json::object());  // kept alive: items() refers to it
    for (const auto& [k, v] : block_llm.items()) llm_config_[k] = v;
    for (const auto& [k, v] : env.llm_overrides.items()) llm_config_[k] = v;
    Json block_sampling = config.value("sampling", Json::object());
    // The default preset belongs to the block's own layer, so a flow-wide preset meant for
    // generation does not replace it; explicit flow values still layer on top as usual.
    if (!default_preset.empty() && block_sampling.is_object() && !block_sampling.contains("preset"))
        block_sampling["preset"] = default_preset;
    sampling_ =
        llm::sampling_from_json(llm::merge_sampling({env.sampling_defaults, block_sampling, env.sampling_overrides}));
    block_sampling_ = std::move(block_sampling);
}

llm::SamplingParams LlmCaller::sampling_with(const Json& values) const {
    Json layer = block_sampling_.is_object() ? block_sampling_ : Json::object();
    for (const auto& [k, v] : values.items()) layer[k] = v;
    return llm::sampling_from_json(llm::merge_sampling({env_.sampling_defaults, layer, env_.sampling_overrides}));
}

LlmCall LlmCaller::make_call(llm::Request request, const llm::SamplingParams& sampling, int sample,
                             const std::string& salt) const {
    LlmCall c;
    c.request = std::move(request);
    c.sample = sample;
    c.request.sampling = sampling;
    c.key = c.request.to_json().dump() + salt;
    c.seed_base = sampling.seed.value_or(env_.seed);
    c.request.sampling.seed = derive_seed(c.seed_base, c.key, sample, 0);
    return c;
}

LlmCall LlmCaller::make_call(llm::Request request, int sample, const std::string& salt) const {
    LlmCall c;
    c.request = std::move(request);
    c.sample = sample;
    if (c.request.score || c.request.embed || c.request.rank) {
        // Scoring, embedding and reward requests sample nothing: fixed sampling fields and no seed keep one cache
        // entry per text, whatever the run's seed or the flow's sampling settings.
        c.request.sampling = llm::SamplingParams{};
        c.request.sampling.mode = llm::SamplingMode::deterministic;
        c.key = c.request.to_json().dump() + salt;
        return c;
    }
    c.request.sampling = sampling_;
    c.key = c.request.to_json().dump() + salt;
    c.seed_base = sampling_.seed.value_or(env_.seed);
    c.request.sampling.seed = derive_seed(c.seed_base, c.key, sample, 0);
    return c;
}

bool LlmCaller::dry_run(const std::vector<LlmCall>& calls) const {
    if (!env_.on_dry_run_request) return false;
    for (const auto& c : calls) {
        Json shown = c.request.to_json();
        shown["llm"] = llm_config_;
        shown["block"] = block_name_;
        env_.on_dry_run_request(shown);
    }
    return true;
}

void LlmCaller::run(std::vector<LlmCall>& calls, int max_retries, const std::string& refusal, const Accept& accept) {
    if (calls.empty()) return;
    if (!env_.llm) throw std::logic_error("block '" + block_name_ + "' has no LLM client");
    llm::Client& client = env_.llm->get(llm_config_);
    std::vector<size_t> todo;
    for (size_t i = 0; i < calls.size(); ++i) {
        // Never sent: a prompt this large is a runaway template or input, and the
        // record is rejected with why instead of costing a request.
        const size_t bytes = rendered_prompt_bytes(calls[i].request);
        if (bytes > env_.limits.max_prompt_bytes) {
            calls[i].failure =
                over_limit_reason("rendered prompt", bytes, env_.limits.max_prompt_bytes, "max_prompt_bytes");
            continue;
        }
        todo.push_back(i);
    }
    while (!todo.empty()) {
        std::vector<llm::Request> requests;
        for (size_t i : todo) requests.push_back(calls[i].request);
        auto outcomes = client.run(
            std::move(requests),
            [this](const llm::ClientStats&) {
                if (env_.on_progress) env_.on_progress();
            },
            env_.limits.max_response_bytes);
        std::vector<size_t> again;
        for (size_t k = 0; k < todo.size(); ++k) {
            size_t i = todo[k];
            LlmCall& c = calls[i];
            auto& o = outcomes[k];
            metrics_.count(o);
            if (!o.ok()) {
                c.failure = "LLM request failed: " + o.error;
                continue;
            }
            std::string why = accept(i, *o.response);
            if (why.empty()) {
                c.failure.clear();
                continue;
            }
            ++metrics_.parse_failures;
            if (c.attempt < max_retries) {
                ++c.attempt;
                ++metrics_.retries;
                c.request.sampling.seed = derive_seed(c.seed_base, c.key, c.sample, c.attempt);
                again.push_back(i);
            } else {
                c.failure = fmt::format("{} after {} attempt{}: {}", refusal, c.attempt + 1, c.attempt ? "s" : "", why);
            }
        }
        todo = std::move(again);
    }
}

uint64_t LlmCaller::derive_seed(uint64_t base, const std::string& request_key, int sample, int attempt) const {
    uint64_t h = hash64(request_key, hash64(block_name_, base));
    h = hash64(fmt::format("{}:{}", sample, attempt), h);
    // Inside a repeat, each round asks afresh (outside one the seed is unchanged).
    if (uint64_t round = current_round(env_)) h = hash64(fmt::format("round:{}", round), h);
    return h & 0x7fffffffffffffffULL;  // JSON-friendly and positive for every server
}

}  // namespace synthforge::blocks
