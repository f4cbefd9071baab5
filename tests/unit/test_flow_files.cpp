// A flow reads files only from its own folder (engine/flow_files.h): every block option that
// names a file, sub-flows and plugins refuse a path that leads outside — by "..", an absolute
// path or a symlink — with an error naming the option and --allow-path; the person running
// the flow can allow a folder (--allow-path) or a file (typing it as a --set value); and
// templates themselves cannot open files at all.
#include "synthforge/engine/executor.h"
#include "synthforge/engine/flow.h"
#include "synthforge/engine/flow_files.h"
#include "synthforge/engine/template.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace synthforge;

namespace {

constexpr const char* kSecret = "SECRET-7f3a-do-not-send";

// dir/flows/ holds the flow; dir/outside/ is a sibling folder the flow must not read.
struct Sandbox {
    fs::path dir, flows, outside;

    explicit Sandbox(const std::string& name) {
        dir = fs::path(testing::TempDir()) / ("flow_files_" + std::to_string(getpid()) + "_" + name);
        fs::remove_all(dir);
        flows = dir / "flows";
        outside = dir / "outside";
        fs::create_directories(flows);
        fs::create_directories(outside);
        // The same secret in every format a block reads: a list line, a JSONL record, a template.
        write(outside / "secret.txt", std::string(kSecret) + "\n");
        write(outside / "secret.jsonl",
              std::string(R"({"text": ")") + kSecret + R"(", "user": "u", "assistant": "a"})" + "\n");
        write(outside / "sub.yaml",
              "version: 1\nblocks:\n  - {name: s, type: set, config: {column: x, template: \"1\"}}\n");
    }

    static fs::path write(const fs::path& p, const std::string& text) {
        fs::create_directories(p.parent_path());
        std::ofstream(p) << text;
        return p;
    }

    fs::path flow(const std::string& blocks) const {
        return write(
            flows / "flow.yaml",
            "version: 1\nllm: {backend: openai, base_url: \"http://127.0.0.1:9/v1\", model: m}\nblocks:\n" + blocks);
    }
};

std::string load_error(const fs::path& flow, const FlowOptions& options = {}) {
    try {
        load_flow(flow, options);
    } catch (const UserError& e) {
        return e.what();
    }
    return "";
}

// Every block option that names a file, each pointing at the sibling folder.
struct FileOption {
    const char* what;
    std::string block;  // one YAML list item; FILE is replaced by the path under test
    const char* key;    // what the error must name
};

std::vector<FileOption> file_options() {
    return {
        {"llm_generate prompt_file", "  - {name: b, type: llm_generate, config: {prompt_file: FILE, output: o}}\n",
         "config.prompt_file"},
        {"llm_generate system_file",
         "  - {name: b, type: llm_generate, config: {prompt: \"{{ text }}\", system_file: FILE, output: o}}\n",
         "config.system_file"},
        {"llm_generate prompt_files", "  - {name: b, type: llm_generate, config: {prompt_files: [FILE], output: o}}\n",
         "config.prompt_files[0]"},
        {"llm_generate examples_file",
         "  - {name: b, type: llm_generate, config: {prompt: \"{{ text }}\", examples_file: FILE, output: o}}\n",
         "config.examples_file"},
        {"llm_judge prompt_file", "  - {name: b, type: llm_judge, config: {prompt_file: FILE}}\n",
         "config.prompt_file"},
        {"pick from_file", "  - {name: b, type: pick, config: {column: c, from_file: FILE}}\n", "config.from_file"},
        {"pii deny_lists", "  - {name: b, type: pii, config: {deny_lists: [{name: CODENAME, file: FILE}]}}\n",
         "config.deny_lists[0].file"},
        {"safety deny_lists", "  - {name: b, type: safety, config: {deny_lists: [{category: violence, file: FILE}]}}\n",
         "config.deny_lists[0].file"},
        {"leakage reference", "  - {name: b, type: leakage, config: {reference: FILE}}\n", "config.reference"},
        {"leakage canaries", "  - {name: b, type: leakage, config: {reference: inside.jsonl, canaries: FILE}}\n",
         "config.canaries"},
        {"sub-flow file", "  - {name: b, type: flow, config: {file: FILE}}\n", "config.file"},
    };
}

std::string with_file(std::string block, const std::string& file) {
    block.replace(block.find("FILE"), 4, "\"" + file + "\"");
    return block;
}

// The file each option reads: a sub-flow wants a flow file, list options a text file, the rest JSONL.
std::string target(const FileOption& o) {
    const std::string k = o.key;
    if (k == "config.file") return "sub.yaml";
    if (k == "config.reference" || k == "config.examples_file") return "secret.jsonl";
    return "secret.txt";
}

TEST(FlowFiles, EveryFileOptionRefusesDotDotAbsoluteAndSymlinkPathsOutsideTheFlowFolder) {
    Sandbox box("refuse");
    Sandbox::write(box.flows / "inside.jsonl", R"({"text": "a seed"})"
                                               "\n");
    fs::create_symlink(box.outside, box.flows / "linked");
    for (const auto& o : file_options()) {
        for (const std::string& name : {"../outside/" + target(o), (box.outside / target(o)).string(),
                                        "linked/" + target(o), "prompts/../../outside/" + target(o)}) {
            SCOPED_TRACE(std::string(o.what) + " = " + name);
            const std::string err = load_error(box.flow(with_file(o.block, name)));
            EXPECT_NE(err.find(o.key), std::string::npos) << err;
            EXPECT_NE(err.find("outside the flow's folder"), std::string::npos) << err;
            EXPECT_NE(err.find("--allow-path " + fs::canonical(box.outside).string()), std::string::npos) << err;
            EXPECT_EQ(err.find(kSecret), std::string::npos) << "the refusal must not quote the file: " << err;
        }
    }
}

TEST(FlowFiles, TheSameFilesInsideTheFlowFolderLoad) {
    Sandbox box("inside");
    Sandbox::write(box.flows / "inside.jsonl", R"({"text": "a seed"})"
                                               "\n");
    for (const auto& f : {"secret.txt", "secret.jsonl", "sub.yaml"})
        fs::copy_file(box.outside / f, box.flows / "data" / f,
                      (fs::create_directories(box.flows / "data"), fs::copy_options::overwrite_existing));
    for (const auto& o : file_options()) {
        SCOPED_TRACE(o.what);
        EXPECT_EQ(load_error(box.flow(with_file(o.block, "data/" + target(o)))), "");
    }
}

TEST(FlowFiles, AllowPathGrantsAFolderAndASetValueGrantsTheFileTyped) {
    Sandbox box("allow");
    Sandbox::write(box.flows / "inside.jsonl", R"({"text": "a seed"})"
                                               "\n");
    for (const auto& o : file_options()) {
        SCOPED_TRACE(o.what);
        const fs::path flow = box.flow(with_file(o.block, (box.outside / target(o)).string()));
        FlowOptions allow;
        allow.allowed_paths = {box.outside};
        EXPECT_EQ(load_error(flow, allow), "");
        // A relative --allow-path is taken from the working directory.
        FlowOptions relative;
        relative.allowed_paths = {fs::relative(box.outside)};
        EXPECT_EQ(load_error(flow, relative), "");
        // A neighbour of the allowed folder is still refused ("outside" vs "outside-2").
        FlowOptions neighbour;
        neighbour.allowed_paths = {box.dir / "outsid"};
        EXPECT_NE(load_error(flow, neighbour), "");
    }

    // flows/stories.yaml's way: the flow names a parameter, the user types the path.
    const std::string params = "version: 1\nparams:\n  list: {default: words.txt}\nblocks:\n";
    const std::string pick = "  - {name: p, type: pick, config: {column: c, from_file: \"${list}\"}}\n";
    Sandbox::write(box.flows / "p.yaml", params + pick);
    FlowOptions typed;
    typed.overrides["list"] = (box.outside / "secret.txt").string();
    EXPECT_EQ(load_error(box.flows / "p.yaml", typed), "");
    // The Python module passes values as JSON text: a quoted path is the same grant.
    FlowOptions quoted;
    quoted.overrides["list"] = "\"" + (box.outside / "secret.txt").string() + "\"";
    EXPECT_EQ(load_error(box.flows / "p.yaml", quoted), "");
    // The grant is that one file, not its folder.
    Sandbox::write(box.outside / "other.txt", "other\n");
    Sandbox::write(box.flows / "p2.yaml",
                   params + pick + "  - {name: q, type: pick, config: {column: d, from_file: ../outside/other.txt}}\n");
    const std::string err = load_error(box.flows / "p2.yaml", typed);
    EXPECT_NE(err.find("config.from_file"), std::string::npos) << err;
    EXPECT_NE(err.find("other.txt"), std::string::npos) << err;
}

TEST(FlowFiles, SomethingThatIsNotARegularFileIsRefusedEvenWhenAllowed) {
    Sandbox box("special");
    FlowOptions allow;
    allow.allowed_paths = {"/dev"};
    const std::string err =
        load_error(box.flow("  - {name: b, type: pick, config: {column: c, from_file: /dev/zero}}\n"), allow);
    EXPECT_NE(err.find("config.from_file"), std::string::npos) << err;
    EXPECT_NE(err.find("not a regular file"), std::string::npos) << err;
}

TEST(FlowFiles, PluginsOutsideTheFlowFolderAreRefusedBeforeLoading) {
    Sandbox box("plugins");
    Sandbox::write(box.outside / "evil.so", "not a library");
    Sandbox::write(box.flows / "flow.yaml",
                   "version: 1\nplugins: [../outside/evil.so]\nblocks:\n"
                   "  - {name: s, type: set, config: {column: x, template: \"1\"}}\n");
    const std::string err = load_error(box.flows / "flow.yaml");
    EXPECT_NE(err.find("plugins[0]"), std::string::npos) << err;
    EXPECT_NE(err.find("outside the flow's folder"), std::string::npos) << err;
}

TEST(FlowFiles, ASubFlowsOwnFilesAreConfinedToTheSubFlowsFolder) {
    Sandbox box("subflow");
    // flows/parts/sub.yaml may read flows/parts/*, but not flows/parent-only.txt above it.
    Sandbox::write(box.flows / "parent-only.txt", "a\n");
    Sandbox::write(box.flows / "parts" / "words.txt", "b\n");
    Sandbox::write(box.flows / "parts" / "ok.yaml",
                   "version: 1\nblocks:\n  - {name: p, type: pick, config: {column: c, from_file: words.txt}}\n");
    Sandbox::write(
        box.flows / "parts" / "escape.yaml",
        "version: 1\nblocks:\n  - {name: p, type: pick, config: {column: c, from_file: ../parent-only.txt}}\n");
    EXPECT_EQ(load_error(box.flow("  - {name: s, type: flow, config: {file: parts/ok.yaml}}\n")), "");
    const std::string err = load_error(box.flow("  - {name: s, type: flow, config: {file: parts/escape.yaml}}\n"));
    EXPECT_NE(err.find("config.from_file"), std::string::npos) << err;
    EXPECT_NE(err.find("outside the flow's folder"), std::string::npos) << err;
}

TEST(FlowFiles, TemplatesCannotOpenFiles) {
    // The Jinja engine has no loader: include, import and extends fail to compile or to render,
    // and nothing of the file reaches the output.
    Sandbox box("templates");
    const std::string secret = (box.outside / "secret.txt").string();
    for (const std::string& source :
         {"{% include '" + secret + "' %}", "{% import '" + secret + "' as s %}{{ s }}",
          "{% extends '" + secret + "' %}", "{% from '" + secret + "' import x %}{{ x }}"}) {
        SCOPED_TRACE(source);
        std::string rendered;
        try {
            rendered = Template::compile(source, "config.prompt").render(Record{});
        } catch (const std::exception& e) {
            rendered = e.what();
        }
        EXPECT_EQ(rendered.find(kSecret), std::string::npos) << rendered;
    }
}

}  // namespace
