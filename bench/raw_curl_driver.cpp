// The ceiling for any libcurl-based client: bare curl multi loops that re-add the same easy
// handles as they finish. No JSON, no queues, no hand-off between threads. http_dispatch.sh
// prints it next to wrk and the openai backend, so the gap can be split into "libcurl" and
// "everything the backend adds". With THREADS > 1 each thread runs its own multi handle with its
// share of the connections, as the backend's event loops do.
//
//   raw_curl_driver URL SECONDS CONCURRENCY [THREADS=1]

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {
size_t discard(char*, size_t size, size_t n, void*) {
    return size * n;
}
}  // namespace

int main(int argc, char** argv) {
    if (argc != 4 && argc != 5) {
        std::fprintf(stderr, "usage: %s URL SECONDS CONCURRENCY [THREADS]\n", argv[0]);
        return 2;
    }
    const std::string url = std::string(argv[1]) + "/chat/completions";
    const double seconds = std::atof(argv[2]);
    const int concurrency = std::atoi(argv[3]);
    const int threads = argc == 5 ? std::max(1, std::atoi(argv[4])) : 1;
    // The body the backend sends for the driver's request (see http_dispatch_driver.cpp).
    const std::string body =
        R"({"model":"bench-model","messages":[{"role":"system","content":"You are terse."},)"
        R"({"role":"user","content":"benchmark prompt number 12345"}],"temperature":0.7,"top_p":0.9,"max_tokens":64})";

    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Expect:");
    std::atomic<uint64_t> total{0}, total_failed{0};

    auto worker = [&](int connections) {
        CURLM* multi = curl_multi_init();
        std::vector<CURL*> handles;
        for (int i = 0; i < connections; ++i) {
            CURL* h = curl_easy_init();
            curl_easy_setopt(h, CURLOPT_URL, url.c_str());
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
            curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
            handles.push_back(h);
        }
        auto run = [&](double for_s) {
            for (CURL* h : handles) curl_multi_add_handle(multi, h);
            uint64_t count = 0, failed = 0;
            auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(for_s);
            while (std::chrono::steady_clock::now() < until) {
                int running = 0, left = 0;
                curl_multi_perform(multi, &running);
                bool any = false;
                while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
                    if (msg->msg != CURLMSG_DONE) continue;
                    failed += msg->data.result != CURLE_OK;
                    curl_multi_remove_handle(multi, msg->easy_handle);
                    curl_multi_add_handle(multi, msg->easy_handle);
                    ++count;
                    any = true;
                }
                if (!any) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
            }
            for (CURL* h : handles) curl_multi_remove_handle(multi, h);
            return std::make_pair(count, failed);
        };
        run(0.3);  // warm-up: open the keep-alive connections
        auto [count, failed] = run(seconds);
        total += count;
        total_failed += failed;
        for (CURL* h : handles) curl_easy_cleanup(h);
        curl_multi_cleanup(multi);
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker, concurrency / threads + (t < concurrency % threads));
    for (auto& t : pool) t.join();

    std::printf("requests %llu failed %llu seconds %.3f requests/s %.0f\n", (unsigned long long)total.load(),
                (unsigned long long)total_failed.load(), seconds, static_cast<double>(total.load()) / seconds);
    curl_slist_free_all(headers);
    return total_failed.load() ? 1 : 0;
}
