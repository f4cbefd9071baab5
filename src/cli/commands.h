#pragma once
// The synthforge subcommands. Each registers its options on the CLI11 app and
// returns the process exit code: 0 ok, 1 the run failed, 2 usage/config/input error.

#include <CLI/CLI.hpp>

#include <functional>

namespace synthforge::cli {

using Command = std::function<int()>;

Command add_run_command(CLI::App& app);
Command add_validate_command(CLI::App& app);
Command add_init_command(CLI::App& app);
Command add_blocks_command(CLI::App& app);
Command add_dedup_command(CLI::App& app);
Command add_tiny_model_command(CLI::App& app);
Command add_report_command(CLI::App& app);
Command add_scan_command(CLI::App& app);
Command add_privacy_command(CLI::App& app);
Command add_merge_command(CLI::App& app);
Command add_convert_command(CLI::App& app);

// Built-in flows: `run NAME` and `init NAME` find flows/NAME.yaml here.
std::filesystem::path builtin_flows_dir();
// A path as given, or a built-in flow's file when `name` names one and no such file exists.
std::filesystem::path resolve_flow_path(const std::string& name);

}  // namespace synthforge::cli
