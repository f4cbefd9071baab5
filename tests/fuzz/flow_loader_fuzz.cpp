// libFuzzer target: the flow loader (YAML -> JSON -> schema -> block configs) on arbitrary
// text. Every input must give a list of diagnostics (or a valid flow), never a crash,
// unbounded recursion or a sanitizer report.
#include "fuzz_input_file.h"
#include "synthforge/engine/flow.h"
#include "synthforge/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto path = synthforge::fuzz::write_input(data, size, ".yaml");
    synthforge::FlowOptions options;
    options.load_plugins = false;  // a fuzzed `plugins:` must not dlopen whatever it names
    try {
        for (const auto& d : synthforge::validate_flow(path, options))
            if (d.message.empty()) std::abort();  // every problem says what it is
    } catch (const synthforge::UserError&) {
        // An unreadable file is reported this way; the flow's own problems are diagnostics.
    }
    return 0;
}
