// Aggregate throughput of the in-process llama backend: NPL raw-prompt requests of NPP tokens,
// each generating NTG tokens, all in flight together. bench/llama_batched.sh compares the
// result with llama-batched-bench on the same model (same prompt/generation shape).
//
//   llama_batched_driver MODEL NPL NPP NTG THREADS [greedy|sample] [REPEATS]
//
// Prints one line: tokens/s over prompt + completion tokens, the way batched-bench's S column
// counts them, and the numbers it came from. The time includes everything the backend does
// per request: chat-free tokenising, queueing, batching, sampling, stop checks, hand-off.

#include "llm/llama_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace synthforge::llm;

int main(int argc, char** argv) {
    if (argc < 6) {
        std::fprintf(stderr, "usage: %s MODEL NPL NPP NTG THREADS [greedy|sample] [REPEATS]\n", argv[0]);
        return 2;
    }
    const int npl = std::atoi(argv[2]), npp = std::atoi(argv[3]), ntg = std::atoi(argv[4]);
    const std::string mode = argc > 6 ? argv[6] : "greedy";
    const int repeats = argc > 7 ? std::max(1, std::atoi(argv[7])) : 3;

    LlamaBackendOptions opt;
    opt.model = argv[1];
    opt.n_parallel = npl;
    // n_ctx is shared out equally among the sequences: each needs room for its prompt and
    // completion (and a little slack), so many parallel sequences need a larger context.
    // bench/run_all.py gives llama-batched-bench the same -c.
    opt.n_ctx = std::max(4096, npl * (npp + ntg + 16));
    opt.n_batch = 2048;
    opt.n_threads = std::atoi(argv[5]);
    auto backend = make_llama_backend(opt);

    // " the" is one token in the BPE vocabularies the tiny model uses, so NPP repeats make an
    // NPP-token prompt; usage.prompt_tokens reports what it really was.
    std::string prompt;
    for (int i = 0; i < npp; ++i) prompt += " the";

    auto run = [&](int n, int max_tokens, long long& prompt_tokens, long long& completion_tokens) {
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < n; ++i) {
            Request r;
            r.prompt = prompt;
            r.sampling.max_tokens = max_tokens;
            r.sampling.mode = mode == "greedy" ? SamplingMode::deterministic : SamplingMode::stochastic;
            r.sampling.seed = static_cast<uint64_t>(i);
            backend->submit(static_cast<uint64_t>(i), r);
        }
        int done = 0;
        while (done < n) {
            for (auto& [id, o] : backend->wait(std::chrono::milliseconds(1000))) {
                ++done;
                if (!o.ok()) {
                    std::fprintf(stderr, "request %llu failed: %s\n", static_cast<unsigned long long>(id),
                                 o.error.c_str());
                    std::exit(1);
                }
                prompt_tokens += o.response->usage.prompt_tokens;
                completion_tokens += o.response->usage.completion_tokens;
            }
        }
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };

    long long wp = 0, wc = 0;
    run(1, 4, wp, wc);  // warm-up: first decode allocates compute buffers
    double best = 0;
    long long pt = 0, ct = 0;
    for (int r = 0; r < repeats; ++r) {
        long long p = 0, c = 0;
        const double s = run(npl, ntg, p, c);
        const double tps = static_cast<double>(p + c) / s;
        if (tps > best) best = tps, pt = p, ct = c;
    }
    std::printf("synthforge llama backend (%s): %.1f t/s  (%lld prompt + %lld completion tokens, best of %d)\n",
                mode.c_str(), best, pt, ct, repeats);
    return 0;
}
