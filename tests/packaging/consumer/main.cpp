// Uses the installed library's public API end to end: the version header, a text
// algorithm, a PII scan, and a whole flow run through the block registry.
//   consumer FLOW INPUT RUN_DIR
#include <synthforge/data/reader.h>
#include <synthforge/engine/executor.h>
#include <synthforge/engine/flow.h>
#include <synthforge/errors.h>
#include <synthforge/privacy/pii.h>
#include <synthforge/text/rouge.h>
#include <synthforge/version.h>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: consumer FLOW INPUT RUN_DIR\n");
        return 2;
    }
    try {
        std::printf("version %s\n", SYNTHFORGE_VERSION);
        std::printf("rougeL %.4f\n", synthforge::text::rouge_l_f1("the cat sat", "the cat sat down"));
        synthforge::privacy::Scanner scanner({});
        std::printf("pii %zu\n", scanner.scan("write to jane@acme-corp.org").size());

        synthforge::Flow flow = synthforge::load_flow(argv[1]);
        synthforge::RunOptions options;
        options.inputs = {argv[2]};
        options.run_dir = argv[3];
        synthforge::RunSummary summary = synthforge::run_flow(flow, options);
        std::printf("rows %llu %llu %llu\n", static_cast<unsigned long long>(summary.rows_in),
                    static_cast<unsigned long long>(summary.rows_out),
                    static_cast<unsigned long long>(summary.rows_rejected));
        for (const auto& row : synthforge::read_all(summary.output)) std::printf("out %s\n", row.dump().c_str());
    } catch (const synthforge::UserError& e) {
        std::fprintf(stderr, "consumer: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "consumer: %s\n", e.what());
        return 1;
    }
    return 0;
}
