#include "privacy_level.h"

#include "synthforge/engine/registry.h"

#include <fmt/format.h>

#include <functional>
#include <set>

namespace synthforge::detail {
namespace {

// A block type that can send row text to a model: its config takes an `llm:`.
bool calls_a_model(const std::string& type) {
    const BlockType* t = BlockRegistry::global().find(type);
    return t && t->config_schema.contains("properties") && t->config_schema["properties"].contains("llm");
}

// Visits a block and every block a repeat or a sub-flow holds, depth first.
void for_each_block(const std::string& type, const Json& config,
                    const std::function<void(const std::string&, const Json&)>& fn) {
    fn(type, config);
    const Json* inner = nullptr;
    if (type == kRepeatType && config.contains("blocks")) inner = &config["blocks"];
    if (type == kFlowType && config.contains("resolved") && config["resolved"].contains("blocks"))
        inner = &config["resolved"]["blocks"];
    if (!inner) return;
    for (const auto& b : *inner) for_each_block(b.value("type", ""), b.value("config", Json::object()), fn);
}

Json pii_block(const std::string& name, const std::string& action, bool surrogate) {
    Json config = {{"action", action}};
    if (surrogate) config["surrogate"] = true;
    return {{"name", name}, {"type", "pii"}, {"config", std::move(config)}};
}

Json leakage_block(const std::string& field, const std::string& column, const std::string& reference_field,
                   bool strict) {
    Json config = {
        {"reference_inputs", true}, {"reference_field", reference_field}, {"field", field},
        {"output", column},         {"max_common_run", strict ? 20 : 50}, {"max_rougel", strict ? 0.7 : 0.9}};
    if (strict) config["max_jaccard"] = 0.5;
    return {{"name", "_privacy_leakage_" + field}, {"type", "leakage"}, {"config", std::move(config)}};
}

}  // namespace

PrivacyPlan plan_privacy(const Json& privacy, const std::vector<BlockSpec>& blocks) {
    PrivacyPlan plan;
    Json fields = Json::array();
    std::string reference_field = "*";
    if (privacy.is_string()) {
        plan.level = privacy.get<std::string>();
    } else {
        plan.level = privacy.value("level", "off");
        fields = privacy.value("fields", Json::array());
        reference_field = privacy.value("reference_field", "*");
    }
    if (plan.level == "off") return plan;

    if (plan.level == "dp") {
        // Whatever runs before the DP block sees the private rows: none of it may call a model.
        bool found = false;
        for (const auto& b : blocks) {
            if (b.type == "private_evolution") {
                found = true;
                break;
            }
            std::string offender;
            for_each_block(b.type, b.config, [&](const std::string& type, const Json&) {
                if (offender.empty() && calls_a_model(type)) offender = type;
            });
            if (!offender.empty())
                plan.problems.push_back(fmt::format(
                    "privacy: dp: block '{}' ({}) would send private rows to a model before the private_evolution "
                    "block; move it after, or use flows/dp_synthetic.yaml",
                    b.name, offender));
        }
        if (!found)
            plan.problems.push_back(
                "privacy: dp needs a differentially private mechanism in the flow: a private_evolution block "
                "(flows/dp_synthetic.yaml is the built-in one)");
        // The output is DP already; a scan of the output alone is post-processing and free. A
        // leakage check against the private inputs would not be: it is left out on purpose.
        plan.after.push_back(pii_block("_privacy_pii", "redact", false));
        return plan;
    }

    const bool strict = plan.level == "strict";
    if (plan.level != "standard" && !strict) {
        plan.problems.push_back("privacy: unknown level '" + plan.level + "'; use off, standard, strict or dp");
        return plan;
    }
    // Default output fields: what the model-calling blocks write.
    if (fields.empty()) {
        std::set<std::string> seen;
        for (const auto& b : blocks)
            for_each_block(b.type, b.config, [&](const std::string& type, const Json& config) {
                if (!calls_a_model(type) || !config.contains("output") || !config["output"].is_string()) return;
                const std::string out = config["output"].get<std::string>();
                if (!out.empty() && seen.insert(out).second) fields.push_back(out);
            });
    }
    if (strict) plan.before.push_back(pii_block("_privacy_pii_input", "redact", true));
    for (const auto& f : fields) {
        const std::string field = f.get<std::string>();
        plan.after.push_back(
            leakage_block(field, fields.size() == 1 ? "leakage" : "leakage_" + field, reference_field, strict));
    }
    Json scan = pii_block("_privacy_pii", strict ? "drop" : "redact", false);
    // strict: the input columns carried along hold surrogates by now, which look like PII on
    // purpose; only what the flow wrote decides whether a row goes.
    if (strict && !fields.empty()) scan["config"]["fields"] = fields;
    plan.after.push_back(std::move(scan));
    return plan;
}

}  // namespace synthforge::detail
