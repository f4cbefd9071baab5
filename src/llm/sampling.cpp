#include "synthforge/llm/sampling.h"

#include "synthforge/errors.h"

#include <fmt/format.h>

namespace synthforge::llm {
namespace {

const Json& presets() {
    static const Json table = {
        {"instruction-tuning", {{"temperature", 0.7}, {"top_p", 0.9}}},
        {"domain-adaptation", {{"temperature", 0.5}, {"top_p", 0.85}, {"frequency_penalty", 0.2}}},
        {"creative", {{"temperature", 1.0}, {"top_p", 0.95}, {"presence_penalty", 0.4}}},
        {"judge", {{"mode", "deterministic"}, {"max_tokens", 512}}},
    };
    return table;
}

}  // namespace

std::vector<std::string> preset_names() {
    std::vector<std::string> out;
    for (const auto& [k, _] : presets().items()) out.push_back(k);
    return out;
}

Json preset_values(const std::string& name) {
    if (!presets().contains(name))
        throw ConfigError(
            fmt::format("sampling.preset: unknown preset '{}'; presets: {}", name, fmt::join(preset_names(), ", ")));
    return presets()[name];
}

Json merge_sampling(const std::vector<Json>& layers) {
    // A preset named at any layer applies beneath every explicit value; the highest
    // layer naming a preset wins.
    std::string preset;
    for (const auto& layer : layers)
        if (layer.is_object() && layer.contains("preset") && layer["preset"].is_string())
            preset = layer["preset"].get<std::string>();
    Json merged = preset.empty() ? Json::object() : preset_values(preset);
    for (const auto& layer : layers) {
        if (!layer.is_object()) continue;
        for (const auto& [k, v] : layer.items())
            if (k != "preset") merged[k] = v;
    }
    if (!preset.empty()) merged["preset"] = preset;
    return merged;
}

SamplingParams sampling_from_json(const Json& j) {
    SamplingParams p;
    auto number = [&](const char* key, double& out, double lo, double hi) {
        if (!j.contains(key)) return;
        if (!j[key].is_number()) throw ConfigError(fmt::format("sampling.{}: expected a number", key));
        out = j[key].get<double>();
        if (out < lo || out > hi)
            throw ConfigError(fmt::format("sampling.{}: {} is outside [{}, {}]", key, out, lo, hi));
    };
    for (const auto& [k, _] : j.items()) {
        static const std::vector<std::string> known = {"preset",
                                                       "mode",
                                                       "temperature",
                                                       "top_p",
                                                       "top_k",
                                                       "min_p",
                                                       "max_tokens",
                                                       "stop",
                                                       "seed",
                                                       "presence_penalty",
                                                       "frequency_penalty"};
        if (std::find(known.begin(), known.end(), k) == known.end())
            throw ConfigError(
                fmt::format("sampling.{}: unknown sampling option; options: {}", k, fmt::join(known, ", ")));
    }
    if (j.contains("mode")) {
        std::string mode = j["mode"].is_string() ? j["mode"].get<std::string>() : "";
        if (mode == "deterministic")
            p.mode = SamplingMode::deterministic;
        else if (mode == "stochastic")
            p.mode = SamplingMode::stochastic;
        else
            throw ConfigError("sampling.mode: expected deterministic or stochastic");
    }
    number("temperature", p.temperature, 0, 5);
    number("top_p", p.top_p, 0, 1);
    number("min_p", p.min_p, 0, 1);
    number("presence_penalty", p.presence_penalty, -2, 2);
    number("frequency_penalty", p.frequency_penalty, -2, 2);
    if (j.contains("top_k")) {
        if (!j["top_k"].is_number_integer() || j["top_k"].get<int64_t>() < 0)
            throw ConfigError("sampling.top_k: expected an integer >= 0");
        p.top_k = j["top_k"].get<int>();
    }
    if (j.contains("max_tokens")) {
        if (!j["max_tokens"].is_number_integer() || j["max_tokens"].get<int64_t>() < 1)
            throw ConfigError("sampling.max_tokens: expected an integer >= 1");
        p.max_tokens = j["max_tokens"].get<int>();
    }
    if (j.contains("stop")) {
        const Json& s = j["stop"];
        if (s.is_string())
            p.stop = {s.get<std::string>()};
        else if (s.is_array() && std::all_of(s.begin(), s.end(), [](const Json& x) { return x.is_string(); }))
            p.stop = s.get<std::vector<std::string>>();
        else
            throw ConfigError("sampling.stop: expected a string or a list of strings");
    }
    if (j.contains("seed") && !j["seed"].is_null()) {
        if (!j["seed"].is_number_integer()) throw ConfigError("sampling.seed: expected an integer");
        p.seed = j["seed"].get<uint64_t>();
    }
    return p;
}

Json sampling_schema() {
    return Json::parse(R"json({
      "type": "object",
      "description": "Sampling: a preset and/or explicit values (preset < flow < block < --set sampling.NAME=VALUE)",
      "additionalProperties": false,
      "properties": {
        "preset": {"enum": ["instruction-tuning", "domain-adaptation", "creative", "judge"], "description": "Named starting values (docs/sampling.md)"},
        "mode": {"enum": ["stochastic", "deterministic"], "description": "deterministic = greedy decoding"},
        "temperature": {"type": "number", "minimum": 0, "description": "Softmax temperature (default 0.7)"},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1, "description": "Nucleus mass (default 0.9)"},
        "top_k": {"type": "integer", "minimum": 0, "description": "Keep the k most likely tokens; 0 = off"},
        "min_p": {"type": "number", "minimum": 0, "maximum": 1, "description": "Drop tokens under min_p x p(best); 0 = off"},
        "max_tokens": {"type": "integer", "minimum": 1, "description": "Completion length cap (default 512)"},
        "stop": {"type": ["string", "array"], "description": "Stop strings"},
        "seed": {"type": ["integer", "null"], "description": "Base seed; default the run's --seed"},
        "presence_penalty": {"type": "number", "description": "Penalty on tokens already present"},
        "frequency_penalty": {"type": "number", "description": "Penalty growing with token frequency"}
      }
    })json");
}

}  // namespace synthforge::llm
