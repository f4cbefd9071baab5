// synthforge validate FLOW: report every problem of a flow with file:line:column.
#include "commands.h"
#include "synthforge/engine/flow.h"
#include "synthforge/engine/plugin.h"
#include "synthforge/errors.h"

#include <fmt/format.h>

namespace synthforge::cli {

Command add_validate_command(CLI::App& app) {
    struct Args {
        std::string flow;
        std::vector<std::string> sets;
        std::vector<std::string> plugins;
        std::vector<std::string> allow_paths;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("validate", "Check a flow against its schema and every block's options");
    cmd->add_option("flow", args->flow, "Flow file or built-in flow name")->required();
    cmd->add_option("--set", args->sets, "Parameter override NAME=VALUE, as for run");
    cmd->add_option("--plugin", args->plugins, "Load a plugin (.so) first");
    cmd->add_option("--allow-path", args->allow_paths, "Let the flow read files here, as for run");
    return [args] {
        for (const auto& p : args->plugins) load_plugin(p);
        FlowOptions options;
        for (const auto& p : args->allow_paths) options.allowed_paths.emplace_back(p);
        for (const auto& s : args->sets) {
            auto eq = s.find('=');
            if (eq == std::string::npos || eq == 0) throw UserError("--set expects NAME=VALUE, got '" + s + "'");
            options.overrides[s.substr(0, eq)] = s.substr(eq + 1);
        }
        auto path = resolve_flow_path(args->flow);
        auto diags = validate_flow(path, options);
        if (diags.empty()) {
            Flow flow = load_flow(path, options);
            fmt::print("{}: ok ({} block{}, {} parameter{})\n", path.string(), flow.blocks.size(),
                       flow.blocks.size() == 1 ? "" : "s", flow.params.size(), flow.params.size() == 1 ? "" : "s");
            return 0;
        }
        for (const auto& d : diags) fmt::print(stderr, "{}\n", d.str());
        fmt::print(stderr, "{} problem{} found\n", diags.size(), diags.size() == 1 ? "" : "s");
        return 2;
    };
}

}  // namespace synthforge::cli
