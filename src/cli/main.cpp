// synthforge: generate, score, filter and export synthetic text datasets.
#include "commands.h"
#include "synthforge/engine/executor.h"
#include "synthforge/errors.h"

#include <fmt/format.h>

#include <cstdio>
#include <map>

int main(int argc, char** argv) {
    CLI::App app{"synthforge " SYNTHFORGE_VERSION
                 " - generate, score, filter and export synthetic text datasets for LLM training"};
    app.set_version_flag("--version", "synthforge " SYNTHFORGE_VERSION);
    app.require_subcommand(1);
    app.fallthrough();

    std::map<CLI::App*, synthforge::cli::Command> commands;
    auto add = [&](synthforge::cli::Command (*f)(CLI::App&)) {
        size_t before = app.get_subcommands({}).size();
        auto cmd = f(app);
        commands[app.get_subcommands({})[before]] = cmd;
    };
    add(synthforge::cli::add_run_command);
    add(synthforge::cli::add_validate_command);
    add(synthforge::cli::add_init_command);
    add(synthforge::cli::add_blocks_command);
    add(synthforge::cli::add_dedup_command);
    add(synthforge::cli::add_tiny_model_command);
    add(synthforge::cli::add_report_command);
    add(synthforge::cli::add_scan_command);
    add(synthforge::cli::add_privacy_command);
    add(synthforge::cli::add_merge_command);
    add(synthforge::cli::add_convert_command);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    try {
        for (auto& [sub, cmd] : commands)
            if (sub->parsed()) return cmd();
    } catch (const synthforge::RunInterrupted& e) {
        fmt::print(stderr, "synthforge: {}\n", e.what());
        return 1;
    } catch (const synthforge::UserError& e) {
        fmt::print(stderr, "synthforge: error: {}\n", e.what());
        return 2;
    } catch (const synthforge::RunError& e) {
        fmt::print(stderr, "synthforge: run failed: {}\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        fmt::print(stderr, "synthforge: internal error: {}\n", e.what());
        return 1;
    }
    return 2;
}
