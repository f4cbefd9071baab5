// Pushes chat requests through make_openai_backend() against one endpoint for a while and
// prints the throughput; bench/http_dispatch.sh compares it with wrk against the same server.
//
//   http_dispatch_driver URL SECONDS CONCURRENCY [EVENT_LOOP_THREADS=0 (the backend's default)]
//   HTTP_TRANSPORT=curl|native|auto (environment; default auto, the backend's default) picks the
//   transport, so the native HTTP/1.1 client and libcurl can be compared on the same build.
//
// The caller side mimics the LLM client: it keeps max_in_flight() requests submitted and
// collects outcomes with wait(), so the number includes the submit/wait hand-off, not only HTTP.
// Latency is submit() to the outcome coming out of wait(), for the requests counted; against a
// server that answers at once (nginx with a fixed body) all of it is what the client adds.
// bench/run_all.py measures the driver's CPU time and peak RSS from outside (wait4), as it does
// for wrk and the Python client; "all" (every completed request, warm-up included) is what the
// CPU time is divided by.

#include "llm/openai_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace synthforge::llm;

int main(int argc, char** argv) {
    if (argc != 4 && argc != 5) {
        std::fprintf(stderr, "usage: %s URL SECONDS CONCURRENCY [EVENT_LOOP_THREADS]\n", argv[0]);
        return 2;
    }
    OpenAiBackendOptions opt;
    opt.base_urls = {argv[1]};
    opt.model = "bench-model";
    opt.max_concurrency = std::atoi(argv[3]);
    opt.timeout_s = 30;
    if (argc == 5) opt.event_loop_threads = std::atoi(argv[4]);
    if (const char* transport = std::getenv("HTTP_TRANSPORT"); transport && *transport) opt.http_transport = transport;
    const double duration_s = std::atof(argv[2]);
    auto backend = make_openai_backend(opt);

    Request request;
    request.messages = {{"system", "You are terse."}, {"user", "benchmark prompt number 12345"}};
    request.sampling.max_tokens = 64;

    // Keeps max_in_flight() requests submitted until `until`, then drains; returns completions
    // that finished before `until`, as wrk counts.
    uint64_t failed = 0, completed = 0;  // completed: all requests, warm-up and drain included
    using clock = std::chrono::steady_clock;
    std::vector<clock::time_point> submitted;  // by request id (ids are 0, 1, 2, ... per run)
    std::vector<double> latency_ms;
    auto run = [&](clock::time_point until) {
        uint64_t next = 0, done = 0, counted = 0;
        submitted.clear();
        latency_ms.clear();
        while (true) {
            bool open = clock::now() < until;
            if (!open && done == next) break;
            while (open && next - done < backend->max_in_flight()) {
                submitted.push_back(clock::now());
                backend->submit(next++, request);
            }
            for (auto& [id, outcome] : backend->wait(std::chrono::milliseconds(100))) {
                ++done;
                ++completed;
                const auto now = clock::now();
                if (now < until) {
                    ++counted;
                    latency_ms.push_back(std::chrono::duration<double, std::milli>(now - submitted[id]).count());
                }
                if (!outcome.ok() && failed++ < 3)
                    std::fprintf(stderr, "request %llu failed: %s\n", (unsigned long long)id, outcome.error.c_str());
            }
        }
        return counted;
    };
    // Warm-up: open the keep-alive connections before timing, as wrk does before it counts.
    run(std::chrono::steady_clock::now() + std::chrono::milliseconds(300));

    failed = 0;
    auto t0 = std::chrono::steady_clock::now();
    uint64_t total = run(t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(duration_s)));
    double s = duration_s;
    std::sort(latency_ms.begin(), latency_ms.end());
    auto pct = [&](double p) {
        return latency_ms.empty() ? 0.0 : latency_ms[static_cast<size_t>(p * (latency_ms.size() - 1))];
    };
    const std::string transport = backend->stats_json().value("transport", std::string("?"));
    std::printf(
        "requests %llu failed %llu seconds %.3f requests/s %.0f p50_ms %.3f p99_ms %.3f all %llu transport %s\n",
        (unsigned long long)total, (unsigned long long)failed, s, static_cast<double>(total) / s, pct(0.50), pct(0.99),
        (unsigned long long)completed, transport.c_str());
    return failed ? 1 : 0;
}
