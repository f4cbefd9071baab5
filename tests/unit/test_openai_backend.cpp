// The openai backend against the fixture server (tests/fixture_server/fixture_server.py) on
// loopback: answer mapping, retries, Retry-After, jitter, timeouts, ejection, limits, secrets.
// Every test runs twice, once per HTTP transport (native and curl): the policy on top must not
// be able to tell them apart.

#include "fixture_server_process.h"
#include "llm/openai_backend.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace synthforge;
using namespace synthforge::llm;
using synthforge::testing::FixtureOptions;
using synthforge::testing::FixtureServerProcess;
using Ms = std::chrono::milliseconds;

namespace {

constexpr const char* kKeyEnv = "SYNTHFORGE_TEST_OPENAI_KEY";
constexpr const char* kKey = "sk-fixture-7f3a9c41-DO-NOT-LEAK";

Request chat(const std::string& text) {
    Request r;
    r.messages = {{"system", "You are terse."}, {"user", text}};
    r.sampling.max_tokens = 64;
    return r;
}

std::string expected_answer(const std::string& prompt) {
    return "Here is a response to: " + prompt.substr(0, 60);
}

// The transport of the running test (its parameter); quick_options() puts it in the options.
std::string g_transport = "auto";

OpenAiBackendOptions quick_options(std::vector<std::string> urls) {
    OpenAiBackendOptions o;
    o.http_transport = g_transport;
    o.base_urls = std::move(urls);
    o.model = "fixture-model";
    o.timeout_s = 10;
    o.connect_timeout_s = 2;
    o.backoff_base_s = 0.05;
    o.backoff_cap_s = 0.5;
    o.probe_after_s = 0.2;
    return o;
}

// Submits everything under the backend's in-flight bound; returns outcomes by id.
std::map<uint64_t, Outcome> run_all(Backend& backend, const std::vector<Request>& requests,
                                    std::chrono::seconds limit = std::chrono::seconds(40)) {
    std::map<uint64_t, Outcome> results;
    size_t next = 0, outstanding = 0;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (results.size() < requests.size() && std::chrono::steady_clock::now() < deadline) {
        while (next < requests.size() && outstanding < backend.max_in_flight()) {
            backend.submit(next, requests[next]);
            ++next;
            ++outstanding;
        }
        for (auto& [id, outcome] : backend.wait(Ms(100))) {
            EXPECT_FALSE(results.count(id)) << "id " << id << " finished twice";
            results.emplace(id, std::move(outcome));
            --outstanding;
        }
    }
    EXPECT_EQ(results.size(), requests.size()) << "timed out waiting for outcomes";
    return results;
}

std::vector<Request> numbered(int n, const std::string& stem = "prompt") {
    std::vector<Request> out;
    for (int i = 0; i < n; ++i) out.push_back(chat(stem + " #" + std::to_string(i)));
    return out;
}

// Receipt times of every request for each prompt, in order, with the status each got.
std::map<std::string, std::vector<std::pair<double, int>>> by_prompt(const std::vector<Json>& log) {
    std::map<std::string, std::vector<std::pair<double, int>>> out;
    for (const auto& e : log) out[e["prompt"].get<std::string>()].emplace_back(e["ts"].get<double>(), e["status"]);
    for (auto& [_, v] : out) std::sort(v.begin(), v.end());
    return out;
}

void expect_all_answered(const std::vector<Request>& requests, const std::map<uint64_t, Outcome>& results) {
    for (const auto& [id, outcome] : results) {
        ASSERT_TRUE(outcome.ok()) << "id " << id << ": " << outcome.error;
        EXPECT_EQ(outcome.response->text, expected_answer(requests[id].messages.back().content)) << "id " << id;
    }
}

class OpenAiTransport : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override { g_transport = GetParam(); }
    void TearDown() override { g_transport = "auto"; }
};

}  // namespace

INSTANTIATE_TEST_SUITE_P(Transports, OpenAiTransport, ::testing::Values("native", "curl"),
                         [](const auto& info) { return info.param; });

TEST_P(OpenAiTransport, MapsAnswersToPromptsAtConcurrency32) {
    FixtureServerProcess server;
    auto opt = quick_options({server.base_url()});
    opt.max_concurrency = 32;
    OpenAiBackend backend(opt);
    EXPECT_EQ(backend.identity(), "openai:fixture-model");

    auto requests = numbered(200);
    auto results = run_all(backend, requests);
    expect_all_answered(requests, results);
    for (const auto& [id, outcome] : results) {
        EXPECT_EQ(outcome.attempts, 1);
        EXPECT_EQ(outcome.response->endpoint, server.base_url());
        EXPECT_EQ(outcome.response->finish_reason, "stop");
        EXPECT_GT(outcome.response->usage.prompt_tokens, 0);
        EXPECT_GT(outcome.response->latency_ms, 0);
    }
    auto log = server.log();
    EXPECT_EQ(log.size(), 200u);
    int peak = 0;
    for (const auto& e : log) peak = std::max(peak, e["in_flight"].get<int>());
    EXPECT_LE(peak, 32);

    OpenAiStats s = backend.stats();
    EXPECT_EQ(s.requests, 200u);
    EXPECT_EQ(s.completed, 200u);
    EXPECT_EQ(s.failures, 0u);
    EXPECT_EQ(s.retries, 0u);
    EXPECT_EQ(s.in_flight, 0u);
    ASSERT_EQ(s.endpoints.size(), 1u);
    EXPECT_EQ(s.endpoints[0].successes, 200u);
    EXPECT_GT(s.endpoints[0].p50_ms, 0);
    EXPECT_LE(s.endpoints[0].p50_ms, s.endpoints[0].p99_ms);
}

TEST_P(OpenAiTransport, RetriesOn429AndHonoursRetryAfter) {
    FixtureServerProcess server({.faults = {{"rate_429", 0.3}, {"retry_after", 1}, {"seed", 11}}});
    auto opt = quick_options({server.base_url()});
    opt.max_attempts = 10;
    OpenAiBackend backend(opt);

    auto requests = numbered(40);
    auto results = run_all(backend, requests);
    expect_all_answered(requests, results);
    int retried = 0;
    for (const auto& [_, o] : results) retried += o.attempts > 1;
    EXPECT_GT(retried, 0);

    int gaps = 0;
    for (const auto& [prompt, hits] : by_prompt(server.log())) {
        for (size_t i = 0; i + 1 < hits.size(); ++i) {
            ASSERT_EQ(hits[i].second, 429) << prompt;  // only the last request of a prompt succeeded
            EXPECT_GE(hits[i + 1].first - hits[i].first, 1.0) << prompt << ": retried before Retry-After";
            ++gaps;
        }
        EXPECT_EQ(hits.back().second, 200) << prompt;
    }
    EXPECT_GT(gaps, 0);
    // 429s shrink the adaptive window; 40 requests are too few to grow it back to the ceiling.
    EXPECT_LT(backend.stats().endpoints[0].window, opt.max_concurrency);
}

TEST_P(OpenAiTransport, RetryAfterAsHttpDateIsHonoured) {
    FixtureServerProcess server(
        {.faults = {{"rate_429", 0.5}, {"retry_after", 2}, {"retry_after_date", true}, {"seed", 5}}});
    auto opt = quick_options({server.base_url()});
    opt.max_attempts = 10;
    OpenAiBackend backend(opt);
    auto requests = numbered(6);
    expect_all_answered(requests, run_all(backend, requests));
    int gaps = 0;
    for (const auto& [prompt, hits] : by_prompt(server.log())) {
        for (size_t i = 0; i + 1 < hits.size(); ++i, ++gaps)
            EXPECT_GE(hits[i + 1].first - hits[i].first, 1.0) << prompt;  // the date has 1 s resolution
    }
    EXPECT_GT(gaps, 0);
}

TEST_P(OpenAiTransport, RetryDelaysOf500sAreJittered) {
    FixtureServerProcess server({.faults = {{"rate_500", 0.5}, {"seed", 3}}});
    auto opt = quick_options({server.base_url()});
    opt.backoff_base_s = 0.2;
    opt.backoff_cap_s = 0.4;
    opt.max_attempts = 12;
    opt.eject_after_failures = 1000;  // an ejection would stretch some gaps past the backoff window
    OpenAiBackend backend(opt);
    auto requests = numbered(40);
    auto results = run_all(backend, requests);
    expect_all_answered(requests, results);

    // First-retry gaps are uniform over [0, 0.2 s]: clearly spread, none longer than the window
    // by more than scheduling noise.
    std::vector<double> first_gaps;
    for (const auto& [prompt, hits] : by_prompt(server.log()))
        if (hits.size() > 1 && hits[0].second == 500) first_gaps.push_back(hits[1].first - hits[0].first);
    ASSERT_GE(first_gaps.size(), 8u);
    auto [lo, hi] = std::minmax_element(first_gaps.begin(), first_gaps.end());
    EXPECT_GT(*hi - *lo, 0.06) << "retry delays are not spread";
    std::set<long> distinct;
    for (double g : first_gaps) distinct.insert(std::lround(g * 1000));
    EXPECT_GE(distinct.size(), first_gaps.size() / 2);
    EXPECT_LT(*hi, 0.2 + 0.8);  // the window plus generous scheduling noise on a busy machine
    EXPECT_GT(backend.stats().retries, 0u);
}

TEST_P(OpenAiTransport, ClientErrorIsNotRetried) {
    Json script = Json::array({{{"match", "^bad request"}, {"status", 400}, {"error", "model 'x' not found"}}});
    FixtureServerProcess server({.script = script});
    OpenAiBackend backend(quick_options({server.base_url()}));
    std::vector<Request> requests = {chat("bad request please"), chat("fine")};
    auto results = run_all(backend, requests);
    ASSERT_FALSE(results[0].ok());
    EXPECT_EQ(results[0].error, server.base_url() + ": HTTP 400: model 'x' not found (not retried)");
    EXPECT_EQ(results[0].attempts, 1);
    EXPECT_TRUE(results[1].ok());
    EXPECT_EQ(by_prompt(server.log())["bad request please"].size(), 1u);
}

TEST_P(OpenAiTransport, UnknownModelIs404NotRetried) {
    FixtureServerProcess server({.model = "served-model"});
    OpenAiBackend backend(quick_options({server.base_url()}));
    auto results = run_all(backend, {chat("hello")});
    ASSERT_FALSE(results[0].ok());
    EXPECT_NE(results[0].error.find("HTTP 404: model 'fixture-model' not found (not retried)"), std::string::npos)
        << results[0].error;
    EXPECT_EQ(server.log().size(), 1u);
}

TEST_P(OpenAiTransport, TruncatedGarbledAndResetResponsesAreRetried) {
    FixtureServerProcess server(
        {.faults = {{"rate_truncate", 0.15}, {"rate_reset", 0.15}, {"rate_garbage", 0.1}, {"seed", 7}}});
    auto opt = quick_options({server.base_url()});
    opt.max_attempts = 12;
    opt.eject_after_failures = 1000;  // one endpoint: keep it in rotation whatever happens
    OpenAiBackend backend(opt);
    auto requests = numbered(60);
    auto results = run_all(backend, requests);
    expect_all_answered(requests, results);
    std::map<std::string, int> faults;
    for (const auto& e : server.log())
        if (e["fault"].is_string()) faults[e["fault"]]++;
    EXPECT_GT(faults["truncate"], 0);
    EXPECT_GT(faults["reset"], 0);
    EXPECT_GT(faults["garbage"], 0);
    // Truncated and garbled bodies each cost one retry. A reset on a reused keep-alive connection
    // before any byte arrived is re-sent by libcurl itself on a fresh connection, so resets may
    // cost none (ResetsAreRetryableErrors covers the ones libcurl gives up on).
    int retries = 0;
    for (const auto& [_, o] : results) retries += o.attempts - 1;
    EXPECT_GE(retries, faults["truncate"] + faults["garbage"]);
    EXPECT_LE(retries, faults["truncate"] + faults["garbage"] + faults["reset"]);
}

TEST_P(OpenAiTransport, ResetsAreRetryableErrors) {
    FixtureServerProcess server({.faults = {{"rate_reset", 1.0}}});
    auto opt = quick_options({server.base_url()});
    opt.max_attempts = 3;
    opt.eject_after_failures = 1000;
    OpenAiBackend backend(opt);
    auto results = run_all(backend, {chat("reset me")});
    ASSERT_FALSE(results[0].ok());
    EXPECT_EQ(results[0].attempts, 3);
    EXPECT_EQ(results[0].error.rfind(server.base_url() + ": gave up after 3 attempts: ", 0), 0u) << results[0].error;
    EXPECT_GE(server.log().size(), 3u);
}

TEST_P(OpenAiTransport, HungServerTimesOutAfterMaxAttempts) {
    FixtureServerProcess server({.faults = {{"hang_rate", 1.0}, {"hang_s", 5}}});
    auto opt = quick_options({server.base_url()});
    opt.timeout_s = 0.3;
    opt.max_attempts = 2;
    opt.eject_after_failures = 1000;
    auto t0 = std::chrono::steady_clock::now();
    {
        OpenAiBackend backend(opt);
        auto results = run_all(backend, {chat("anyone there?"), chat("hello?")});
        double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_LT(elapsed, 3.0);
        for (const auto& [_, o] : results) {
            ASSERT_FALSE(o.ok());
            EXPECT_EQ(o.attempts, 2);
            EXPECT_EQ(o.error.rfind(server.base_url() + ": gave up after 2 attempts: ", 0), 0u) << o.error;
            EXPECT_NE(o.error.find("timed out"), std::string::npos) << o.error;
        }
        EXPECT_EQ(server.log().size(), 4u);
        // Destroying the backend with a transfer in flight returns promptly.
        backend.submit(99, chat("abandoned"));
        t0 = std::chrono::steady_clock::now();
    }
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
}

TEST_P(OpenAiTransport, DeadEndpointIsEjectedAndLiveOneServesEverything) {
    FixtureServerProcess server;
    std::string dead = "http://127.0.0.1:" + std::to_string(synthforge::testing::unused_loopback_port()) + "/v1";
    auto opt = quick_options({dead, server.base_url()});
    opt.max_concurrency = 8;
    opt.eject_after_failures = 3;
    opt.probe_after_s = 30;
    OpenAiBackend backend(opt);
    auto requests = numbered(100);
    auto results = run_all(backend, requests);
    expect_all_answered(requests, results);
    for (const auto& [_, o] : results) EXPECT_EQ(o.response->endpoint, server.base_url());
    EXPECT_EQ(server.log().size(), 100u);
    OpenAiStats s = backend.stats();
    ASSERT_EQ(s.endpoints.size(), 2u);
    EXPECT_TRUE(s.endpoints[0].ejected);
    EXPECT_GE(s.endpoints[0].errors, 3u);
    EXPECT_EQ(s.endpoints[0].successes, 0u);
    EXPECT_FALSE(s.endpoints[1].ejected);
    EXPECT_EQ(s.endpoints[1].successes, 100u);
}

TEST_P(OpenAiTransport, EjectedEndpointIsProbedBackWhenItRecovers) {
    int port = synthforge::testing::unused_loopback_port();
    auto opt = quick_options({"http://127.0.0.1:" + std::to_string(port) + "/v1"});
    opt.eject_after_failures = 1;
    opt.probe_after_s = 0.2;
    opt.max_attempts = 30;
    OpenAiBackend backend(opt);
    auto requests = numbered(5);
    for (size_t i = 0; i < requests.size(); ++i) backend.submit(i, requests[i]);
    std::this_thread::sleep_for(Ms(400));  // everything fails fast and waits: the only endpoint is ejected
    EXPECT_TRUE(backend.stats().endpoints[0].ejected);
    EXPECT_TRUE(backend.wait(Ms(0)).empty()) << "requests failed instead of waiting for a probe";

    FixtureServerProcess server({.port = port});
    std::map<uint64_t, Outcome> results;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (results.size() < requests.size() && std::chrono::steady_clock::now() < deadline)
        for (auto& [id, o] : backend.wait(Ms(100))) results.emplace(id, std::move(o));
    ASSERT_EQ(results.size(), requests.size());
    expect_all_answered(requests, results);
    EXPECT_FALSE(backend.stats().endpoints[0].ejected);
}

TEST_P(OpenAiTransport, AllEndpointsDownFailsAfterAllDownTimeout) {
    auto opt =
        quick_options({"http://127.0.0.1:" + std::to_string(synthforge::testing::unused_loopback_port()) + "/v1"});
    opt.eject_after_failures = 1;
    opt.probe_after_s = 0.1;
    opt.all_down_timeout_s = 0.5;
    opt.max_attempts = 100;
    OpenAiBackend backend(opt);
    auto results = run_all(backend, numbered(3), std::chrono::seconds(5));
    for (const auto& [_, o] : results) {
        ASSERT_FALSE(o.ok());
        EXPECT_NE(o.error.find("no endpoint reachable for 0.5 s"), std::string::npos) << o.error;
        EXPECT_NE(o.error.find("last error: http://127.0.0.1:"), std::string::npos) << o.error;
    }
}

// Probes due more often than the backoff: a job back from its backoff always finds a probe
// due. Once the all-down timeout has passed, its next failed probe ends it; it is not sent as
// the next probe again and again until its 100 attempts run out (about 25 s here).
TEST_P(OpenAiTransport, AllDownJobsStopProbingOnceTheTimeoutHasPassed) {
    auto opt =
        quick_options({"http://127.0.0.1:" + std::to_string(synthforge::testing::unused_loopback_port()) + "/v1"});
    opt.eject_after_failures = 1;
    opt.probe_after_s = 0.01;
    opt.backoff_base_s = 0.2;
    opt.backoff_cap_s = 0.5;
    opt.all_down_timeout_s = 0.3;
    opt.max_attempts = 100;
    OpenAiBackend backend(opt);
    const auto start = std::chrono::steady_clock::now();
    auto results = run_all(backend, numbered(3), std::chrono::seconds(10));
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_EQ(results.size(), 3u);
    for (const auto& [_, o] : results) {
        ASSERT_FALSE(o.ok());
        EXPECT_NE(o.error.find("no endpoint reachable for 0.3 s"), std::string::npos) << o.error;
        EXPECT_LT(o.attempts, 20) << o.error;
    }
    // The timeout, one backoff and one probe at most; generous for a loaded machine.
    EXPECT_LT(took, 5.0);
}

TEST_P(OpenAiTransport, MaxConcurrencyIsNeverExceeded) {
    FixtureServerProcess server({.faults = {{"slow_ms", 60}}});
    auto opt = quick_options({server.base_url()});
    opt.max_concurrency = 4;
    OpenAiBackend backend(opt);
    EXPECT_EQ(backend.max_in_flight(), 8u);  // twice the window: the next request is always queued
    auto requests = numbered(32);
    expect_all_answered(requests, run_all(backend, requests));
    int peak = 0;
    for (const auto& e : server.log()) peak = std::max(peak, e["in_flight"].get<int>());
    EXPECT_LE(peak, 4);
    EXPECT_GE(peak, 2);  // the window was used (exactly 4 unless the machine is very busy)
}

TEST_P(OpenAiTransport, RequestsPerMinuteIsEnforced) {
    FixtureServerProcess server;
    auto opt = quick_options({server.base_url()});
    opt.requests_per_minute = 1200;  // 20/s with a burst of 20
    OpenAiBackend backend(opt);
    auto requests = numbered(32);
    expect_all_answered(requests, run_all(backend, requests));
    auto log = server.log();
    ASSERT_EQ(log.size(), 32u);
    std::vector<double> ts;
    for (const auto& e : log) ts.push_back(e["ts"]);
    std::sort(ts.begin(), ts.end());
    // 12 requests beyond the burst at 20/s take at least ~0.6 s.
    EXPECT_GE(ts.back() - ts.front(), 0.5);
}

TEST_P(OpenAiTransport, TokensPerMinuteUsesEstimateThenActualUsage) {
    FixtureServerProcess server;
    auto opt = quick_options({server.base_url()});
    opt.tokens_per_minute = 6000;  // 100 tokens/s, bucket of 100
    OpenAiBackend backend(opt);
    // Each request is estimated at ~206 tokens (prompt chars/4 + max_tokens 200) but uses ~13.
    // Without the correction by `usage`, every request would wait ~2 s for the bucket to refill;
    // with it, ~0.13 s.
    auto requests = numbered(10);
    for (auto& r : requests) r.sampling.max_tokens = 200;
    auto t0 = std::chrono::steady_clock::now();
    expect_all_answered(requests, run_all(backend, requests));
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(elapsed, 0.8);
    EXPECT_LT(elapsed, 5.0);
}

TEST_P(OpenAiTransport, PerEndpointLimitsAndLeastOutstandingBalancing) {
    FixtureServerProcess small({.faults = {{"slow_ms", 40}}});
    FixtureServerProcess big({.faults = {{"slow_ms", 40}}});
    auto opt = quick_options({});
    opt.endpoints = {{small.base_url(), 2, -1, -1}, {big.base_url(), 6, -1, -1}};
    OpenAiBackend backend(opt);
    EXPECT_EQ(backend.max_in_flight(), 16u);
    auto requests = numbered(64);
    auto results = run_all(backend, requests);
    expect_all_answered(requests, results);
    auto peak = [](const std::vector<Json>& log) {
        int p = 0;
        for (const auto& e : log) p = std::max(p, e["in_flight"].get<int>());
        return p;
    };
    auto small_log = small.log(), big_log = big.log();
    EXPECT_LE(peak(small_log), 2);
    EXPECT_LE(peak(big_log), 6);
    EXPECT_EQ(small_log.size() + big_log.size(), 64u);
    // Same latency, three times the window: roughly three times the requests.
    EXPECT_GT(big_log.size() * 2, small_log.size() * 3);
    EXPECT_GT(small_log.size(), 8u);
}

TEST_P(OpenAiTransport, ApiKeyIsSentButNeverLeaks) {
    ::setenv(kKeyEnv, kKey, 1);
    // A careless server that echoes credentials in its error messages.
    Json script = Json::array({{{"match", "^reject"}, {"status", 401}, {"error", "invalid key: {authorization}"}},
                               {{"match", "^flaky"}, {"status", 503}, {"error", "busy, {authorization}"}}});
    FixtureServerProcess server({.script = script});
    auto opt = quick_options({server.base_url()});
    opt.api_key_env = kKeyEnv;
    opt.max_attempts = 2;
    OpenAiBackend backend(opt);
    EXPECT_EQ(backend.identity().find(kKey), std::string::npos);
    auto results = run_all(backend, {chat("reject me"), chat("flaky one"), chat("fine")});
    ASSERT_FALSE(results[0].ok());
    ASSERT_FALSE(results[1].ok());
    EXPECT_TRUE(results[2].ok());
    for (const auto& [_, o] : results) {
        EXPECT_EQ(o.error.find(kKey), std::string::npos) << o.error;
        if (o.ok()) EXPECT_EQ(o.response->text.find(kKey), std::string::npos);
    }
    EXPECT_NE(results[0].error.find("HTTP 401: invalid key: Bearer [redacted] (not retried)"), std::string::npos)
        << results[0].error;
    EXPECT_NE(results[1].error.find("gave up after 2 attempts: HTTP 503: busy, Bearer [redacted]"), std::string::npos)
        << results[1].error;
    for (const auto& e : server.log()) EXPECT_EQ(e["headers"]["Authorization"], std::string("Bearer ") + kKey);
    for (const auto& es : backend.stats().endpoints) EXPECT_EQ(es.base_url.find(kKey), std::string::npos);
    ::unsetenv(kKeyEnv);
}

TEST_P(OpenAiTransport, MissingApiKeyVariableIsAUserError) {
    ::unsetenv("SYNTHFORGE_TEST_MISSING_KEY");
    auto opt = quick_options({"http://127.0.0.1:9/v1"});
    opt.api_key_env = "SYNTHFORGE_TEST_MISSING_KEY";
    try {
        OpenAiBackend backend(opt);
        FAIL() << "expected UserError";
    } catch (const UserError& e) {
        EXPECT_STREQ(e.what(), "environment variable SYNTHFORGE_TEST_MISSING_KEY is not set (api_key_env)");
    }
}

TEST_P(OpenAiTransport, InvalidOptionsAreUserErrors) {
    auto opt = quick_options({"127.0.0.1:8080/v1"});
    EXPECT_THROW(OpenAiBackend{opt}, UserError);
    opt = quick_options({});
    EXPECT_THROW(OpenAiBackend{opt}, UserError);
    opt = quick_options({"http://127.0.0.1:8080/v1"});
    opt.model = "";
    EXPECT_THROW(OpenAiBackend{opt}, UserError);
    opt = quick_options({"http://127.0.0.1:8080/v1"});
    opt.event_loop_threads = -1;
    EXPECT_THROW(OpenAiBackend{opt}, UserError);
}

TEST_P(OpenAiTransport, CredentialsInBaseUrlAreMasked) {
    auto opt = quick_options({"http://user:hunter2@127.0.0.1:9/v1?api_key=hunter2"});
    opt.max_attempts = 1;
    if (GetParam() == "native") {
        // The native transport sends no credentials from URLs: it refuses them, without echoing them.
        try {
            OpenAiBackend refused(opt);
            ADD_FAILURE() << "native transport accepted credentials in the URL";
        } catch (const UserError& e) {
            EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
        }
        opt.http_transport = "auto";  // which picks curl for them
    }
    OpenAiBackend backend(opt);
    EXPECT_EQ(backend.stats().transport, "curl");
    auto results = run_all(backend, {chat("x")});
    EXPECT_EQ(results[0].error.find("hunter2"), std::string::npos) << results[0].error;
    EXPECT_EQ(backend.stats().endpoints[0].base_url, "http://***@127.0.0.1:9/v1?***");
}

TEST_P(OpenAiTransport, RequestBodyCarriesSamplingAndConstraints) {
    Request r = chat("hi");
    r.sampling.temperature = 0.8;
    r.sampling.top_p = 0.95;
    r.sampling.top_k = 40;
    r.sampling.min_p = 0.05;
    r.sampling.seed = 1234;
    r.sampling.stop = {"\n\n"};
    r.sampling.presence_penalty = 0.5;
    r.json_schema = Json{{"type", "object"}, {"properties", {{"score", {{"type", "integer"}}}}}};
    r.grammar = "root ::= \"a\"";
    Json b = openai_request_body(r, "m", false);
    EXPECT_EQ(b["model"], "m");
    EXPECT_EQ(b["messages"].size(), 2u);
    EXPECT_EQ(b["temperature"], 0.8);
    EXPECT_EQ(b["top_p"], 0.95);
    EXPECT_EQ(b["top_k"], 40);
    EXPECT_EQ(b["min_p"], 0.05);
    EXPECT_EQ(b["seed"], 1234);
    EXPECT_EQ(b["stop"], Json::array({"\n\n"}));
    EXPECT_EQ(b["presence_penalty"], 0.5);
    EXPECT_FALSE(b.contains("frequency_penalty"));
    EXPECT_EQ(b["max_tokens"], 64);
    EXPECT_EQ(b["response_format"]["type"], "json_schema");
    EXPECT_EQ(b["response_format"]["json_schema"]["name"], "output");
    EXPECT_EQ(b["response_format"]["json_schema"]["strict"], true);
    EXPECT_EQ(b["response_format"]["json_schema"]["schema"], *r.json_schema);
    EXPECT_EQ(b["grammar"], r.grammar);

    Request d = chat("hi");
    d.sampling.mode = SamplingMode::deterministic;
    d.sampling.top_k = 40;
    Json db = openai_request_body(d, "m", false);
    EXPECT_EQ(db["temperature"], 0.0);
    EXPECT_FALSE(db.contains("top_p"));
    EXPECT_FALSE(db.contains("top_k"));
    EXPECT_FALSE(db.contains("min_p"));
    EXPECT_FALSE(db.contains("seed"));

    // Newer OpenAI chat models take the cap as max_completion_tokens; /completions never does.
    // Scoring and embedding stay in-process: the body builder refuses them rather than send a chat.
    Request scored = r, embedded = r;
    scored.score = true;
    embedded.embed = true;
    EXPECT_THROW(openai_request_body(scored, "m", false), UserError);
    EXPECT_THROW(openai_request_body(embedded, "m", false), UserError);

    Json newer = openai_request_body(r, "m", false, /*max_completion_tokens=*/true);
    EXPECT_EQ(newer["max_completion_tokens"], 64);
    EXPECT_FALSE(newer.contains("max_tokens"));

    Request raw;
    raw.prompt = "Once upon a time";
    EXPECT_EQ(openai_request_body(raw, "m", true)["prompt"], "Once upon a time");
    EXPECT_EQ(openai_request_body(raw, "m", true, true)["max_tokens"], 512);
    EXPECT_EQ(openai_request_body(raw, "m", false, true)["max_completion_tokens"], 512);
    Json wrapped = openai_request_body(raw, "m", false);
    EXPECT_FALSE(wrapped.contains("prompt"));
    EXPECT_EQ(wrapped["messages"], Json::array({{{"role", "user"}, {"content", "Once upon a time"}}}));
}

TEST_P(OpenAiTransport, RequestBodyTextIsByteForByteTheDumpOfTheRequestBody) {
    // submit() writes the body directly; openai_request_body() is the reference it must match.
    const std::vector<std::string> texts = {
        "plain",
        "",
        "quote \" backslash \\ slash / tab \t newline \n cr \r bs \b ff \f",
        std::string("controls \x01\x1f\x7f and a nul ") + '\0' + " inside",
        "unicode: caf\xc3\xa9, \xe6\x97\xa5\xe6\x9c\xac, \xf0\x9f\x98\x80",
        "invalid: caf\xe9 au lait",
        "truncated at the end \xe6\x97",
        "overlong \xc0\xaf and surrogate \xed\xa0\x80 and \xf5\x80\x80\x80 and \xff",
        "mixed \xe6\x97\x22 quote after a cut sequence",
    };
    std::vector<Request> requests;
    for (const auto& t : texts) {
        Request c;
        c.messages = {{"system", t}, {"user", "q: " + t}, {"assistant" + t, "a"}};
        requests.push_back(c);
        Request raw;
        raw.prompt = t;
        raw.sampling.stop = {t, "\n\n", ""};
        raw.grammar = t.empty() ? "" : "root ::= \"" + t + "\"";
        requests.push_back(raw);
    }
    Request full = chat("hi");
    full.sampling.temperature = 1.0;
    full.sampling.top_p = 0.95;
    full.sampling.top_k = 40;
    full.sampling.min_p = 0.05;
    full.sampling.seed = std::numeric_limits<uint64_t>::max();
    full.sampling.stop = {"\n\n", "END"};
    full.sampling.presence_penalty = -0.5;
    full.sampling.frequency_penalty = 1e-7;
    full.json_schema = Json{{"type", "object"}, {"properties", {{"sc\xc3\xb6re", {{"type", "integer"}}}}}};
    full.grammar = "root ::= \"a\"";
    requests.push_back(full);
    for (double t : {0.0, 0.0001, 0.1 + 0.2, 2.5, 1e21, std::nan("")}) {
        Request r = chat("temperature");
        r.sampling.temperature = t;
        r.sampling.top_p = 1.0;
        r.sampling.max_tokens = 0;
        requests.push_back(r);
    }
    Request deterministic = full;
    deterministic.sampling.mode = SamplingMode::deterministic;
    requests.push_back(deterministic);
    for (const auto& model : {std::string("m"), std::string("org/model \"q\" \xe9")})
        for (const Request& r : requests)
            for (bool completions : {false, true})
                for (bool mct : {false, true})
                    EXPECT_EQ(openai_request_body_text(r, model, completions, mct),
                              openai_request_body(r, model, completions, mct)
                                  .dump(-1, ' ', false, Json::error_handler_t::replace));
    Request score;
    score.prompt = "x";
    score.score = true;
    EXPECT_THROW(openai_request_body_text(score, "m", true), UserError);
    Request pre = chat("x");
    pre.pre_query = true;
    EXPECT_THROW(openai_request_body_text(pre, "m", true), UserError);
}

TEST_P(OpenAiTransport, RawPromptsUseCompletionsEndpointAndLimitsAreReported) {
    FixtureServerProcess server;
    auto opt = quick_options({server.base_url()});
    opt.use_completions_endpoint = true;
    OpenAiBackend backend(opt);
    EXPECT_EQ(backend.identity(), "openai:fixture-model:completions");
    Request raw;
    raw.prompt = "Once upon a time";
    raw.sampling.max_tokens = 3;
    Request schema = chat("rate this");
    schema.json_schema = Json{{"type", "object"}, {"properties", {{"score", {{"type", "integer"}}}}}};
    auto results = run_all(backend, {raw, schema});
    ASSERT_TRUE(results[0].ok()) << results[0].error;
    EXPECT_EQ(results[0].response->text, "Here is a");
    EXPECT_EQ(results[0].response->finish_reason, "length");
    EXPECT_EQ(results[0].response->usage.completion_tokens, 3);
    ASSERT_TRUE(results[1].ok()) << results[1].error;
    EXPECT_EQ(Json::parse(results[1].response->text), Json({{"score", 0}}));
    auto log = server.log();
    ASSERT_EQ(log.size(), 2u);
    std::set<std::string> paths;
    for (const auto& e : log) {
        paths.insert(e["path"].get<std::string>());
        EXPECT_EQ(e["headers"]["Content-Type"], "application/json");
        EXPECT_EQ(e["headers"].value("User-Agent", "").rfind("synthforge/", 0), 0u) << e["headers"].dump();
        EXPECT_FALSE(e["headers"].contains("Expect"));
        EXPECT_FALSE(e["headers"].contains("Authorization"));
    }
    EXPECT_EQ(paths, (std::set<std::string>{"/v1/completions", "/v1/chat/completions"}));
}

TEST_P(OpenAiTransport, InvalidUtf8InAPromptIsReplacedNotThrown) {
    FixtureServerProcess server;
    OpenAiBackend backend(quick_options({server.base_url()}));
    std::map<uint64_t, Outcome> results;
    ASSERT_NO_THROW(results = run_all(backend, {chat("caf\xe9 au lait")}));
    ASSERT_TRUE(results[0].ok()) << results[0].error;
    EXPECT_EQ(server.log().at(0)["prompt"], "caf\xef\xbf\xbd au lait");
}

TEST_P(OpenAiTransport, FaultsCanBeChangedAtRuntimeThroughControl) {
    FixtureServerProcess server;
    Json reply = server.control({{"faults", {{"fail_first_n", 2}}}});
    EXPECT_EQ(reply["faults"]["fail_first_n"], 2);
    auto opt = quick_options({server.base_url()});
    OpenAiBackend backend(opt);
    auto requests = numbered(5);
    auto results = run_all(backend, requests);
    expect_all_answered(requests, results);
    for (const auto& [_, o] : results) EXPECT_EQ(o.attempts, 3);
    EXPECT_EQ(backend.stats().retries, 10u);
}

// Several event loops share one set of endpoint state; these tests run the policies above with
// more loops than the default, so every decision (slots, buckets, probes, retries) is made by
// whichever loop gets there first.

TEST_P(OpenAiTransport, ManyEventLoopsAndSubmittersDeliverEveryOutcomeOnceByItsId) {
    FixtureServerProcess server({.faults = {{"rate_429", 0.1}, {"rate_500", 0.1}, {"retry_after", 0}, {"seed", 5}}});
    auto opt = quick_options({server.base_url()});
    opt.max_concurrency = 16;
    opt.event_loop_threads = 4;
    opt.max_attempts = 30;
    opt.eject_after_failures = 1000;  // faults are random here, not a dead server
    OpenAiBackend backend(opt);
    const int n = 400, submitters = 4;
    auto requests = numbered(n);
    // Each submitter owns the ids i with i % submitters == its index and keeps its share of
    // max_in_flight() outstanding; one collector hands outcomes back.
    std::atomic<int> outstanding{0};
    std::mutex results_mu;
    std::map<uint64_t, Outcome> results;
    std::atomic<bool> duplicate{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < submitters; ++t)
        threads.emplace_back([&, t] {
            for (int i = t; i < n; i += submitters) {
                while (outstanding.load() >= static_cast<int>(backend.max_in_flight()))
                    std::this_thread::sleep_for(Ms(1));
                outstanding++;
                backend.submit(static_cast<uint64_t>(i), requests[static_cast<size_t>(i)]);
            }
        });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
        {
            std::lock_guard lock(results_mu);
            if (results.size() == static_cast<size_t>(n)) break;
        }
        for (auto& [id, outcome] : backend.wait(Ms(100))) {
            std::lock_guard lock(results_mu);
            if (!results.emplace(id, std::move(outcome)).second) duplicate = true;
            outstanding--;
        }
    }
    for (auto& t : threads) t.join();
    EXPECT_FALSE(duplicate) << "an id finished twice";
    ASSERT_EQ(results.size(), static_cast<size_t>(n));
    expect_all_answered(requests, results);
    OpenAiStats s = backend.stats();
    EXPECT_EQ(s.requests, static_cast<uint64_t>(n));
    EXPECT_EQ(s.completed, static_cast<uint64_t>(n));
    EXPECT_EQ(s.in_flight, 0u);
    EXPECT_GT(s.retries, 0u);
    uint64_t attempts = 0;
    for (const auto& [_, o] : results) attempts += static_cast<uint64_t>(o.attempts);
    EXPECT_EQ(attempts, s.endpoints[0].attempts);
    EXPECT_EQ(server.log().size(), attempts);
    EXPECT_EQ(s.endpoints[0].in_flight, 0u);
}

TEST_P(OpenAiTransport, WindowAndRateLimitHoldAcrossEventLoops) {
    FixtureServerProcess server({.faults = {{"slow_ms", 30}}});
    auto opt = quick_options({server.base_url()});
    opt.max_concurrency = 6;
    opt.event_loop_threads = 3;
    opt.requests_per_minute = 3000;  // 50/s with a burst of 50
    OpenAiBackend backend(opt);
    auto requests = numbered(120);
    expect_all_answered(requests, run_all(backend, requests));
    auto log = server.log();
    ASSERT_EQ(log.size(), 120u);
    int peak = 0;
    std::vector<double> ts;
    for (const auto& e : log) {
        peak = std::max(peak, e["in_flight"].get<int>());
        ts.push_back(e["ts"]);
    }
    EXPECT_LE(peak, 6);
    EXPECT_GE(peak, 2);
    std::sort(ts.begin(), ts.end());
    // 70 requests beyond the burst at 50/s take at least 1.4 s, whichever loop sends them.
    EXPECT_GE(ts.back() - ts.front(), 1.2);
    // No window of 0.5 s holds more than the burst plus 0.5 s of refill (and a little slack for
    // receipt-time jitter).
    for (size_t i = 0, j = 0; i < ts.size(); ++i) {
        while (j < ts.size() && ts[j] < ts[i] + 0.5) ++j;
        EXPECT_LE(j - i, 50u + 25u + 3u) << "burst starting at request " << i;
    }
}

TEST_P(OpenAiTransport, EjectionAndBalancingHoldAcrossEventLoops) {
    FixtureServerProcess a({.faults = {{"slow_ms", 20}}});
    FixtureServerProcess b({.faults = {{"slow_ms", 20}}});
    std::string dead = "http://127.0.0.1:" + std::to_string(synthforge::testing::unused_loopback_port()) + "/v1";
    auto opt = quick_options({a.base_url(), dead, b.base_url()});
    opt.max_concurrency = 4;
    opt.event_loop_threads = 3;
    opt.eject_after_failures = 3;
    opt.probe_after_s = 30;
    OpenAiBackend backend(opt);
    auto requests = numbered(120);
    auto results = run_all(backend, requests);
    expect_all_answered(requests, results);
    auto a_log = a.log(), b_log = b.log();
    EXPECT_EQ(a_log.size() + b_log.size(), 120u);
    // Equal servers, equal windows: least-outstanding splits the work roughly evenly.
    EXPECT_GT(a_log.size(), 30u);
    EXPECT_GT(b_log.size(), 30u);
    OpenAiStats s = backend.stats();
    ASSERT_EQ(s.endpoints.size(), 3u);
    EXPECT_TRUE(s.endpoints[1].ejected);
    EXPECT_EQ(s.endpoints[1].successes, 0u);
    // Ejected after exactly eject_after_failures consecutive failures, not one per loop more.
    EXPECT_LE(s.endpoints[1].errors, 3u + 3u);
    EXPECT_GE(s.endpoints[1].errors, 3u);
}

TEST_P(OpenAiTransport, MoreEventLoopsThanSlotsStillWork) {
    FixtureServerProcess server;
    auto opt = quick_options({server.base_url()});
    opt.max_concurrency = 1;
    opt.event_loop_threads = 8;  // capped at the one slot there is
    OpenAiBackend backend(opt);
    auto requests = numbered(20);
    expect_all_answered(requests, run_all(backend, requests));
    int peak = 0;
    for (const auto& e : server.log()) peak = std::max(peak, e["in_flight"].get<int>());
    EXPECT_EQ(peak, 1);
}

TEST_P(OpenAiTransport, EveryOutcomeWakesTheCallerWhateverLoopFinishesIt) {
    // Loops going to sleep leave waking the caller to the last one awake; a lost wakeup would
    // leave wait() blocked for its whole timeout here.
    FixtureServerProcess server;
    auto opt = quick_options({server.base_url()});
    opt.max_concurrency = 8;
    opt.event_loop_threads = 4;
    OpenAiBackend backend(opt);
    auto start = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < 30; ++i) {
        // One at a time, and every few a burst of three, so outcomes finish on different loops.
        const uint64_t burst = i % 5 == 4 ? 3 : 1;
        for (uint64_t k = 0; k < burst; ++k) backend.submit(100 * i + k, chat("prompt #" + std::to_string(i)));
        size_t got = 0;
        auto t0 = std::chrono::steady_clock::now();
        while (got < burst && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10))
            got += backend.wait(Ms(5000)).size();
        EXPECT_EQ(got, burst);
        EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0) << "request " << i;
    }
    // ~0.2 s when every outcome is announced at once; a wakeup lost until a loop's next timer
    // (up to 1 s) makes it ~15 s.
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}
