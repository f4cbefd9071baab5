// synthforge init [NAME] [-o FILE]: write a starter flow, or copy a built-in one.
#include "commands.h"
#include "synthforge/data/writer.h"
#include "synthforge/errors.h"

#include <fmt/format.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

namespace synthforge::cli {
namespace {

constexpr const char* kStarterFlow = R"yaml(# A synthforge flow. Run it with:
#   synthforge run flow.yaml -i input.jsonl -o output.jsonl
# Check it with `synthforge validate flow.yaml`; list block types with `synthforge blocks`.
version: 1
name: starter
description: Keep well-formed instruction records and drop duplicates.

# Parameters: use them as ${name} in any config value; override with --set name=value.
params:
  min_words: 3          # shortest instruction kept, in words
  max_words: 150        # longest instruction kept, in words

# What every input record must look like (any | instruction | chat | text).
input:
  schema: instruction

blocks:
  # Keep instructions of a reasonable length; rejected rows go to the rejects file with a reason.
  - name: length
    type: filter
    config:
      where:
        - {column: instruction, length: words, op: ">=", value: "${min_words}"}
        - {column: instruction, length: words, op: "<=", value: "${max_words}"}

  # Drop repeated instructions (case and spacing ignored); the first one wins.
  - name: unique
    type: dedup_exact
    config:
      columns: [instruction]

  # Add a column built from the others with a Jinja template.
  - name: prompt
    type: set
    config:
      column: prompt
      template: "{{ instruction }}{% if input %}\n\n{{ input }}{% endif %}"
)yaml";

std::string exe_dir() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0) return ".";
    buf[n] = 0;
    return std::filesystem::path(buf).parent_path().string();
}

}  // namespace

std::filesystem::path builtin_flows_dir() {
    if (const char* env = std::getenv("SYNTHFORGE_FLOWS_DIR")) return env;
    auto installed = std::filesystem::path(exe_dir()) / ".." / "share" / "synthforge" / "flows";
    if (std::filesystem::is_directory(installed)) return installed.lexically_normal();
    return SYNTHFORGE_SOURCE_DIR "/flows";
}

std::filesystem::path resolve_flow_path(const std::string& name) {
    std::filesystem::path p(name);
    if (std::filesystem::exists(p)) return p;
    if (p.extension().empty() && p.parent_path().empty()) {
        auto builtin = builtin_flows_dir() / (name + ".yaml");
        if (std::filesystem::exists(builtin)) return builtin;
    }
    throw UserError("no flow file '" + name + "' (and no built-in flow of that name; `synthforge init --list`)");
}

Command add_init_command(CLI::App& app) {
    struct Args {
        std::string name;
        std::string output;
        bool list = false;
        bool force = false;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("init", "Write a commented starter flow, or a copy of a built-in flow");
    cmd->add_option("name", args->name, "Built-in flow to copy (see --list); none: the starter flow");
    cmd->add_option("-o,--output", args->output, "Where to write it (default NAME.yaml or flow.yaml)");
    cmd->add_flag("--list", args->list, "List the built-in flows");
    cmd->add_flag("-f,--force", args->force, "Overwrite an existing file");
    return [args] {
        auto dir = builtin_flows_dir();
        if (args->list) {
            std::vector<std::filesystem::path> flows;
            if (std::filesystem::is_directory(dir))
                for (const auto& e : std::filesystem::directory_iterator(dir))
                    if (e.path().extension() == ".yaml") flows.push_back(e.path());
            std::sort(flows.begin(), flows.end());
            for (const auto& f : flows) {
                std::string description;
                try {
                    description = YAML::LoadFile(f.string())["description"].as<std::string>("");
                } catch (const YAML::Exception&) {
                    description = "(does not parse)";
                }
                fmt::print("  {:<16} {}\n", f.stem().string(), description);
            }
            fmt::print("\n`synthforge init NAME` copies one; `synthforge run NAME ...` runs it directly.\n");
            return 0;
        }
        std::string content = kStarterFlow;
        if (!args->name.empty()) {
            auto src = dir / (args->name + ".yaml");
            std::ifstream in(src);
            if (!in) throw UserError("no built-in flow '" + args->name + "'; `synthforge init --list` shows them");
            std::stringstream ss;
            ss << in.rdbuf();
            content = ss.str();
        }
        std::filesystem::path out = !args->output.empty() ? args->output
                                    : args->name.empty()  ? std::string("flow.yaml")
                                                          : args->name + ".yaml";
        if (std::filesystem::exists(out) && !args->force)
            throw UserError(out.string() + " exists already; pass --force to overwrite it");
        write_file_atomic(out, content);
        fmt::print("wrote {}", out.string());
        // A built-in flow's prompts and data files live beside it (prompts/NAME, data/NAME) and are
        // named relative to it: copy them along so the copy runs and can be edited as a whole.
        if (!args->name.empty()) {
            auto target = std::filesystem::absolute(out).parent_path();
            for (const char* folder : {"prompts", "data"}) {
                auto from = dir / folder / args->name;
                if (!std::filesystem::is_directory(from)) continue;
                auto to = target / folder / args->name;
                if (std::filesystem::exists(to) && !args->force)
                    throw UserError(to.string() + " exists already; pass --force to overwrite it");
                std::filesystem::create_directories(to);
                std::filesystem::copy(
                    from, to,
                    std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
                fmt::print(", {}", (std::filesystem::path(folder) / args->name).string() + "/");
            }
        }
        fmt::print("; check it with `synthforge validate {}`\n", out.string());
        return 0;
    };
}

}  // namespace synthforge::cli
