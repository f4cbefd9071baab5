#pragma once
// A flow's `privacy:` level (off | standard | strict | dp) turned into the blocks it stands for:
// PII scans before and after the flow's own blocks, leakage checks of the outputs against the
// run's input files, and, for dp, the rule that nothing reaches a model before the DP block.
// docs/privacy.md states what each level guarantees and costs.

#include "synthforge/data/record.h"
#include "synthforge/engine/flow.h"

#include <string>
#include <vector>

namespace synthforge::detail {

struct PrivacyPlan {
    std::string level = "off";
    Json before = Json::array();        // blocks run before the flow's own, as written in a flow
    Json after = Json::array();         // blocks run after them
    std::vector<std::string> problems;  // each names what to change, for a Diagnostic at `privacy`
};

// `privacy` as written (a level name, or {level, fields, reference_field}) and the flow's
// blocks as loaded. Output fields default to the columns the flow's model-calling blocks write.
PrivacyPlan plan_privacy(const Json& privacy, const std::vector<BlockSpec>& blocks);

}  // namespace synthforge::detail
