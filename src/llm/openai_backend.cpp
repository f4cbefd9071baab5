#include "llm/openai_backend.h"

#include "synthforge/errors.h"

#include <curl/curl.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <tuple>
#include <unordered_map>

namespace synthforge::llm {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxResponseBytes = 64u << 20;  // a chat completion is never this big; a runaway body is
constexpr size_t kLatencySamples = 2048;         // recent successes kept per endpoint for percentiles
constexpr int kMaxPollMs = 1000;                 // upper bound on one sleep of the loop thread

double seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}
Clock::duration from_seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::max(0.0, s)));
}

void init_curl_once() {
    static std::once_flag once;
    // curl_global_init is not guaranteed thread-safe on every build; do it once, never clean up
    // (other libraries in the process may share libcurl).
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string trim(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return std::string(s.substr(b, e - b));
}

// One line, bounded: server error bodies can be whole HTML pages.
std::string one_line(std::string_view s, size_t max_chars = 300) {
    std::string out;
    for (char c : s) {
        if (out.size() >= max_chars) {
            out += "...";
            break;
        }
        out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    }
    return trim(out);
}

// Credentials can hide in a URL (user:pass@host, ?api_key=...): they must not reach
// error messages, Response::endpoint or the run store.
std::string mask_url(const std::string& url) {
    std::string out = url;
    size_t scheme = out.find("://");
    size_t host_start = scheme == std::string::npos ? 0 : scheme + 3;
    size_t path_start = out.find('/', host_start);
    size_t at = out.find('@', host_start);
    if (at != std::string::npos && (path_start == std::string::npos || at < path_start))
        out.replace(host_start, at - host_start, "***");
    size_t q = out.find('?');
    if (q != std::string::npos) out = out.substr(0, q) + "?***";
    return out;
}

std::string format_seconds(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", s);
    return buf;
}

// Token bucket; rate 0 means unlimited. Capacity is one second of refill (at least one unit),
// which smooths bursts instead of firing a minute's budget at once. A cost larger than the
// capacity is admitted when the bucket is full and drives the level negative (a debt), so big
// requests are slowed down rather than starved.
class TokenBucket {
  public:
    void configure(double per_minute, Clock::time_point now) {
        rate_ = per_minute > 0 ? per_minute / 60.0 : 0;
        capacity_ = std::max(1.0, rate_);
        level_ = capacity_;
        last_ = now;
    }
    bool unlimited() const { return rate_ <= 0; }
    bool can_take(double cost, Clock::time_point now) {
        if (unlimited()) return true;
        refill(now);
        return level_ >= std::min(cost, capacity_);
    }
    void take(double cost) {
        if (!unlimited()) level_ -= cost;
    }
    // Positive: give back an overestimate; negative: charge an underestimate.
    void adjust(double amount) {
        if (!unlimited()) level_ = std::min(capacity_, level_ + amount);
    }
    Clock::duration time_until(double cost, Clock::time_point now) {
        if (unlimited()) return Clock::duration::zero();
        refill(now);
        double missing = std::min(cost, capacity_) - level_;
        return missing <= 0 ? Clock::duration::zero() : from_seconds(missing / rate_);
    }

  private:
    void refill(Clock::time_point now) {
        level_ = std::min(capacity_, level_ + seconds(now - last_) * rate_);
        last_ = now;
    }
    double rate_ = 0, capacity_ = 1, level_ = 1;
    Clock::time_point last_{};
};

struct Endpoint {
    std::string base_url;  // as given, without a trailing slash
    std::string display;   // masked, for messages and Response::endpoint
    std::string chat_url, completions_url;
    int max_concurrency = 1;
    int window = 1;  // adaptive: halved on 429, +1 per `window` successes
    int in_flight = 0;
    int successes_since_growth = 0;
    Clock::time_point last_cut{};
    TokenBucket request_bucket, token_bucket;
    int consecutive_failures = 0;
    bool ejected = false;
    bool probe_in_flight = false;
    Clock::time_point probe_at{};
    uint64_t attempts = 0, successes = 0, errors = 0;
    std::vector<double> latency_ms;  // ring buffer
    size_t latency_next = 0;

    void record_latency(double ms) {
        if (latency_ms.size() < kLatencySamples) {
            latency_ms.push_back(ms);
        } else {
            latency_ms[latency_next] = ms;
            latency_next = (latency_next + 1) % kLatencySamples;
        }
    }
};

struct Job {
    uint64_t id = 0;
    std::string body;  // serialised once at submit time, resent on every attempt
    bool to_completions = false;
    double est_tokens = 0;
    int attempts = 0;
    std::string last_error;
    int endpoint = -1;
    int last_failed_endpoint = -1;
    bool is_probe = false;
    Clock::time_point attempt_start{};
    double retry_after_s = -1;  // from the last response's Retry-After header; < 0 when absent
    std::string response;
    char errbuf[CURL_ERROR_SIZE] = {};
};

size_t on_body(char* data, size_t size, size_t nmemb, void* user) {
    auto* job = static_cast<Job*>(user);
    size_t n = size * nmemb;
    if (job->response.size() + n > kMaxResponseBytes) return 0;  // aborts with CURLE_WRITE_ERROR
    job->response.append(data, n);
    return n;
}

// Retry-After is either delta-seconds or an HTTP date.
double parse_retry_after(const std::string& value) {
    if (value.empty()) return -1;
    char* end = nullptr;
    double s = std::strtod(value.c_str(), &end);
    if (end && *end == '\0' && std::isfinite(s)) return std::max(0.0, s);
    time_t when = curl_getdate(value.c_str(), nullptr);
    if (when < 0) return -1;
    return std::max(0.0, std::difftime(when, std::time(nullptr)));
}

size_t on_header(char* data, size_t size, size_t nmemb, void* user) {
    auto* job = static_cast<Job*>(user);
    size_t n = size * nmemb;
    static constexpr std::string_view kName = "retry-after:";
    if (n > kName.size()) {
        bool match = true;
        for (size_t i = 0; i < kName.size() && match; ++i)
            match = std::tolower(static_cast<unsigned char>(data[i])) == kName[i];
        if (match)
            job->retry_after_s = parse_retry_after(trim(std::string_view(data + kName.size(), n - kName.size())));
    }
    return n;
}

// A message from an error body: OpenAI style {"error": {"message": ...}}, a few common
// variants, or the raw text.
std::string server_message(const std::string& body) {
    if (body.empty()) return "";
    Json j = Json::parse(body, nullptr, false);
    if (!j.is_discarded() && j.is_object()) {
        auto str_at = [&](const Json& o, const char* key) -> std::string {
            auto it = o.find(key);
            return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
        };
        if (auto it = j.find("error"); it != j.end()) {
            if (it->is_string()) return one_line(it->get<std::string>());
            if (it->is_object()) {
                std::string m = str_at(*it, "message");
                if (!m.empty()) return one_line(m);
            }
        }
        for (const char* key : {"message", "detail"}) {
            std::string m = str_at(j, key);
            if (!m.empty()) return one_line(m);
        }
    }
    return one_line(body);
}

bool retryable_status(long status) {
    return status == 408 || status == 409 || status == 429 || status >= 500;
}

// Curl failures that another attempt cannot fix: the configuration is wrong.
bool fatal_curl_error(CURLcode rc) {
    switch (rc) {
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
        case CURLE_NOT_BUILT_IN:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_BAD_FUNCTION_ARGUMENT:
        case CURLE_WRITE_ERROR:  // our response size cap
        case CURLE_LOGIN_DENIED:
            return true;
        default:
            return false;
    }
}

enum class AttemptKind { success, retryable, fatal };

struct AttemptResult {
    AttemptKind kind = AttemptKind::retryable;
    std::string message;  // what went wrong (without the endpoint)
    long status = 0;
    Response response;
};

// Reads a completion out of a 2xx body. simdjson instead of nlohmann here: this runs on the
// event-loop thread once per request and was its largest single cost.
std::optional<std::string> parse_completion(simdjson::dom::parser& parser, std::string& body, Response& out) {
    using namespace simdjson;
    // The padding simdjson reads past the end: reserve it so parsing needs no copy.
    body.reserve(body.size() + SIMDJSON_PADDING);
    dom::element root;
    if (parser.parse(body.data(), body.size(), false).get(root))
        return "unparseable JSON response (" + std::to_string(body.size()) + " bytes): " + one_line(body, 80);
    dom::object obj;
    if (root.get_object().get(obj)) return "unparseable JSON response: not an object: " + one_line(body, 80);
    dom::array choices;
    dom::object choice;
    if (obj["choices"].get_array().get(choices) || choices.size() == 0 || choices.at(0).get_object().get(choice)) {
        std::string m = obj["error"].error() ? std::string() : server_message(body);
        return "response without choices" + (m.empty() ? std::string() : ": " + m);
    }
    bool have_text = false;
    dom::object message;
    if (!choice["message"].get_object().get(message)) {
        dom::element content;
        if (!message["content"].get(content)) {
            std::string_view text;
            if (!content.get_string().get(text)) {
                out.text.assign(text);
                have_text = true;
            } else if (content.is_null()) {
                have_text = true;  // e.g. a refusal or tool call: an empty answer, not a broken response
            }
        }
    }
    if (!have_text) {
        std::string_view text;
        if (!choice["text"].get_string().get(text)) {
            out.text.assign(text);
            have_text = true;
        }
    }
    if (!have_text) return std::string("response without message content or text");
    std::string_view finish;
    if (!choice["finish_reason"].get_string().get(finish)) out.finish_reason.assign(finish);
    dom::object usage;
    if (!obj["usage"].get_object().get(usage)) {
        auto count = [&](const char* key) -> int64_t {
            dom::element v;
            if (usage[key].get(v)) return 0;
            int64_t i = 0;
            double d = 0;
            if (!v.get_int64().get(i)) return i;
            if (!v.get_double().get(d)) return static_cast<int64_t>(d);
            return 0;
        };
        out.usage.prompt_tokens = count("prompt_tokens");
        out.usage.completion_tokens = count("completion_tokens");
    }
    return std::nullopt;
}

AttemptResult classify(simdjson::dom::parser& parser, Job& job, CURLcode rc, long status) {
    AttemptResult r;
    r.status = status;
    if (rc != CURLE_OK) {
        std::string detail = job.errbuf[0] ? one_line(job.errbuf) : curl_easy_strerror(rc);
        if (rc == CURLE_WRITE_ERROR)
            detail = "response larger than " + std::to_string(kMaxResponseBytes >> 20) + " MiB";
        r.kind = fatal_curl_error(rc) ? AttemptKind::fatal : AttemptKind::retryable;
        r.message = detail;
        return r;
    }
    if (status < 200 || status >= 300) {
        r.kind = retryable_status(status) ? AttemptKind::retryable : AttemptKind::fatal;
        r.message = "HTTP " + std::to_string(status);
        std::string m = server_message(job.response);
        if (!m.empty()) r.message += ": " + m;
        return r;
    }
    // A 2xx whose body is not a usable completion is treated as a transient server fault:
    // proxies and overloaded servers do send truncated or garbled bodies.
    if (auto problem = parse_completion(parser, job.response, r.response)) {
        r.message = std::move(*problem);
        return r;
    }
    r.kind = AttemptKind::success;
    return r;
}

double estimate_tokens(const Request& request) {
    size_t chars = request.prompt.size();
    for (const auto& m : request.messages) chars += m.content.size();
    return static_cast<double>(chars) / 4.0 + std::max(0, request.sampling.max_tokens);
}

}  // namespace

Json openai_request_body(const Request& request, const std::string& model, bool use_completions_endpoint,
                         bool max_completion_tokens) {
    // The server applies its own template; only a raw prompt written by the flow can stop
    // at the opening of a user turn (llm_generate's pre_query_template does that).
    if (request.pre_query)
        throw UserError(
            "openai backend: a pre-query (Magpie) request needs the served model's user-turn opening as a raw "
            "prompt: set pre_query_template in the llm_generate block and llm.endpoint: completions");
    // OpenAI-compatible servers disagree on prompt log-probabilities (vLLM's echo or
    // prompt_logprobs, none in llama-server's OpenAI API), so scoring stays in-process.
    if (request.score)
        throw UserError(
            "openai backend: scoring a text (perplexity) needs the log-probabilities of its tokens, which this "
            "backend does not ask servers for; use llm.backend: llama with a small GGUF model");
    if (request.embed)
        throw UserError(
            "openai backend: embedding requests are not sent to servers; use llm.backend: llama with embeddings: true "
            "and an embedding GGUF");
    Json body = Json::object();
    body["model"] = model;
    if (request.is_chat()) {
        Json messages = Json::array();
        for (const auto& m : request.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
        body["messages"] = std::move(messages);
    } else if (use_completions_endpoint) {
        body["prompt"] = request.prompt;
    } else {
        body["messages"] = Json::array({{{"role", "user"}, {"content", request.prompt}}});
    }
    const SamplingParams& s = request.sampling;
    if (s.mode == SamplingMode::deterministic) {
        body["temperature"] = 0.0;
    } else {
        body["temperature"] = s.temperature;
        // Hosted APIs reject unknown fields, so the extensions go out only when they do something.
        if (s.top_p < 1.0) body["top_p"] = s.top_p;
        if (s.top_k > 0) body["top_k"] = s.top_k;
        if (s.min_p > 0.0) body["min_p"] = s.min_p;
    }
    const bool to_chat = request.is_chat() || !use_completions_endpoint;
    if (s.max_tokens > 0)
        body[max_completion_tokens && to_chat ? "max_completion_tokens" : "max_tokens"] = s.max_tokens;
    if (!s.stop.empty()) body["stop"] = s.stop;
    if (s.seed) body["seed"] = *s.seed;
    if (s.presence_penalty != 0.0) body["presence_penalty"] = s.presence_penalty;
    if (s.frequency_penalty != 0.0) body["frequency_penalty"] = s.frequency_penalty;
    if (request.json_schema) {
        body["response_format"] = {
            {"type", "json_schema"},
            {"json_schema", {{"name", "output"}, {"schema", *request.json_schema}, {"strict", true}}}};
    }
    if (!request.grammar.empty()) body["grammar"] = request.grammar;
    return body;
}

struct OpenAiBackend::Impl {
    OpenAiBackendOptions opt;
    std::string model;
    std::string identity;
    std::string api_key;  // never formatted into anything but the Authorization header
    curl_slist* headers = nullptr;
    CURLM* multi = nullptr;
    std::vector<Endpoint> endpoints;
    size_t max_in_flight = 0;

    // Shared with submit()/wait(); lock order: state_mu before queue_mu.
    std::mutex queue_mu;
    std::condition_variable finished_cv;
    std::deque<std::unique_ptr<Job>> incoming;
    std::vector<std::pair<uint64_t, Outcome>> finished;
    bool stopping = false;
    std::atomic<uint64_t> submitted{0};
    // True while the loop thread is about to sleep or sleeping in curl_multi_poll: submit() then
    // wakes it. While it is busy it drains the queue anyway, and a wakeup would only cost syscalls.
    std::atomic<bool> loop_idle{false};

    // Loop-thread state; stats() reads it under state_mu.
    mutable std::mutex state_mu;
    std::deque<std::unique_ptr<Job>> ready;
    std::multimap<Clock::time_point, std::unique_ptr<Job>> backing_off;
    std::unordered_map<CURL*, std::unique_ptr<Job>> running;
    std::vector<CURL*> idle_handles;
    std::vector<std::pair<uint64_t, Outcome>> done;  // flushed to `finished` once per loop turn
    std::mt19937_64 rng{std::random_device{}()};
    simdjson::dom::parser json_parser;
    size_t rotate = 0;  // round-robin start for ties in endpoint choice
    bool all_down = false;
    Clock::time_point all_down_since{};
    std::string last_endpoint_error;  // most recent attempt failure on any endpoint, for all-down messages
    uint64_t completed = 0, failures = 0, retries = 0;
    size_t unannounced = 0;     // outcomes moved to `finished` since the last notify
    size_t announce_batch = 1;  // a quarter of max_in_flight
    Clock::time_point last_announce{};

    std::thread loop;

    explicit Impl(const OpenAiBackendOptions& options);
    ~Impl();

    void run();
    void promote_due(Clock::time_point now);
    void dispatch(Clock::time_point now);
    int pick_endpoint(const Job& job, Clock::time_point now);
    void start(std::unique_ptr<Job> job, int ep, Clock::time_point now);
    bool collect(Clock::time_point now);
    void on_attempt_done(std::unique_ptr<Job> job, CURLcode rc, long status, double latency_ms, Clock::time_point now);
    void endpoint_failed(Endpoint& e, bool was_probe, Clock::time_point now);
    void endpoint_ok(Endpoint& e);
    void fail_if_all_down(Clock::time_point now);
    int poll_timeout_ms(Clock::time_point now);
    void finish_ok(Job& job, Response response);
    void finish_error(Job& job, const std::string& message);
    std::string redact(std::string s) const;
};

OpenAiBackend::Impl::Impl(const OpenAiBackendOptions& options) : opt(options), model(options.model) {
    if (opt.model.empty()) throw UserError("openai backend: 'model' is required");
    if (opt.max_concurrency < 1) throw UserError("openai backend: max_concurrency must be >= 1");
    if (opt.max_attempts < 1) throw UserError("openai backend: max_attempts must be >= 1");
    if (opt.timeout_s <= 0 || opt.connect_timeout_s <= 0)
        throw UserError("openai backend: timeout_s and connect_timeout_s must be > 0");
    if (opt.backoff_base_s < 0 || opt.backoff_cap_s < 0) throw UserError("openai backend: backoff must be >= 0");
    if (opt.eject_after_failures < 1) throw UserError("openai backend: eject_after_failures must be >= 1");

    std::vector<OpenAiEndpointOptions> specs;
    for (const auto& url : opt.base_urls) specs.push_back({url, 0, -1, -1});
    specs.insert(specs.end(), opt.endpoints.begin(), opt.endpoints.end());
    if (specs.empty()) throw UserError("openai backend: no base_urls given");

    Clock::time_point now = Clock::now();
    endpoints.resize(specs.size());
    for (size_t i = 0; i < specs.size(); ++i) {
        const auto& spec = specs[i];
        Endpoint& e = endpoints[i];
        e.base_url = spec.base_url;
        while (!e.base_url.empty() && e.base_url.back() == '/') e.base_url.pop_back();
        e.display = mask_url(e.base_url);
        if (e.base_url.rfind("http://", 0) != 0 && e.base_url.rfind("https://", 0) != 0)
            throw UserError("openai backend: base URL '" + e.display + "' must start with http:// or https://");
        e.chat_url = e.base_url + "/chat/completions";
        e.completions_url = e.base_url + "/completions";
        e.max_concurrency = spec.max_concurrency > 0 ? spec.max_concurrency : opt.max_concurrency;
        e.window = e.max_concurrency;
        e.request_bucket.configure(spec.requests_per_minute >= 0 ? spec.requests_per_minute : opt.requests_per_minute,
                                   now);
        e.token_bucket.configure(spec.tokens_per_minute >= 0 ? spec.tokens_per_minute : opt.tokens_per_minute, now);
        max_in_flight += static_cast<size_t>(e.max_concurrency);
    }
    // Twice the combined window: the backend then always has the next request queued when a
    // transfer finishes, instead of idling until the caller's next submit().
    max_in_flight *= 2;
    announce_batch = std::max<size_t>(1, max_in_flight / 4);

    if (!opt.api_key_env.empty()) {
        const char* key = std::getenv(opt.api_key_env.c_str());
        if (!key) throw UserError("environment variable " + opt.api_key_env + " is not set (api_key_env)");
        if (!*key) throw UserError("environment variable " + opt.api_key_env + " is empty (api_key_env)");
        api_key = key;
    }
    identity = "openai:" + opt.model;
    // Raw prompts sent as a chat message go through the server's chat template: different answers.
    if (opt.use_completions_endpoint) identity += ":completions";

    init_curl_once();
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip for larger bodies
    if (!api_key.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + api_key).c_str());
    multi = curl_multi_init();
    if (!multi || !headers) {
        curl_slist_free_all(headers);
        throw RunError("openai backend: libcurl initialisation failed");
    }
    // Keep every window's connections alive between requests.
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(max_in_flight + 8));
    loop = std::thread([this] { run(); });
}

OpenAiBackend::Impl::~Impl() {
    {
        std::lock_guard lock(queue_mu);
        stopping = true;
    }
    curl_multi_wakeup(multi);
    if (loop.joinable()) loop.join();
    for (auto& [handle, job] : running) {
        curl_multi_remove_handle(multi, handle);
        curl_easy_cleanup(handle);
    }
    for (CURL* h : idle_handles) curl_easy_cleanup(h);
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
}

std::string OpenAiBackend::Impl::redact(std::string s) const {
    if (api_key.empty()) return s;
    for (size_t pos = s.find(api_key); pos != std::string::npos; pos = s.find(api_key, pos))
        s.replace(pos, api_key.size(), "[redacted]");
    return s;
}

// curl_multi_perform + curl_multi_poll rather than curl_multi_socket_action + epoll: the latter
// was measured slower here at 32 and at 256 connections (every keep-alive socket leaves and
// re-enters the epoll set per request), and the simple loop is easier to reason about.
void OpenAiBackend::Impl::run() {
    std::unique_lock state(state_mu);
    while (true) {
        {
            std::lock_guard lock(queue_mu);
            if (stopping) break;
            while (!incoming.empty()) {
                ready.push_back(std::move(incoming.front()));
                incoming.pop_front();
            }
        }
        Clock::time_point now = Clock::now();
        promote_due(now);
        dispatch(now);
        fail_if_all_down(now);
        int still_running = 0;
        curl_multi_perform(multi, &still_running);
        bool progressed = collect(Clock::now());
        if (!done.empty()) {
            std::lock_guard lock(queue_mu);
            for (auto& d : done) finished.push_back(std::move(d));
            unannounced += done.size();
            done.clear();
        }
        // Waking the caller per finished transfer would cost a context switch each on a busy run;
        // wake it per batch, when the loop is about to sleep, or after a short delay at the latest.
        if (unannounced > 0) {
            Clock::time_point t = Clock::now();
            if (!progressed || unannounced >= announce_batch || t - last_announce >= std::chrono::milliseconds(2)) {
                finished_cv.notify_all();
                unannounced = 0;
                last_announce = t;
            }
        }
        // Finished transfers free window slots: refill them before sleeping.
        if (progressed) continue;
        int timeout_ms = poll_timeout_ms(Clock::now());
        loop_idle.store(true);
        {
            // Checked after raising the flag: a submit() that this check misses sees the flag.
            std::lock_guard lock(queue_mu);
            if (!incoming.empty() || stopping) {
                loop_idle.store(false);
                continue;
            }
        }
        state.unlock();
        curl_multi_poll(multi, nullptr, 0, timeout_ms, nullptr);
        loop_idle.store(false);
        state.lock();
    }
}

void OpenAiBackend::Impl::promote_due(Clock::time_point now) {
    // Retries go to the front: they have waited already, and finishing old requests first
    // keeps the caller's in-order delivery moving.
    std::vector<std::unique_ptr<Job>> due;
    while (!backing_off.empty() && backing_off.begin()->first <= now) {
        due.push_back(std::move(backing_off.begin()->second));
        backing_off.erase(backing_off.begin());
    }
    for (auto it = due.rbegin(); it != due.rend(); ++it) ready.push_front(std::move(*it));
}

void OpenAiBackend::Impl::dispatch(Clock::time_point now) {
    while (!ready.empty()) {
        int ep = pick_endpoint(*ready.front(), now);
        if (ep < 0) return;  // head of line waits for a slot, a bucket refill or a probe time
        std::unique_ptr<Job> job = std::move(ready.front());
        ready.pop_front();
        start(std::move(job), ep, now);
    }
}

int OpenAiBackend::Impl::pick_endpoint(const Job& job, Clock::time_point now) {
    const size_t n = endpoints.size();
    int best = -1;
    // Lower is better: (avoid the endpoint that just failed this job, prefer due probes, fewest outstanding).
    std::tuple<bool, bool, int> best_key{};
    for (size_t k = 0; k < n; ++k) {
        size_t i = (rotate + k) % n;
        Endpoint& e = endpoints[i];
        bool probe = false;
        if (e.ejected) {
            if (e.probe_in_flight || now < e.probe_at) continue;
            probe = true;
        } else if (e.in_flight >= e.window) {
            continue;
        }
        if (!e.request_bucket.can_take(1, now) || !e.token_bucket.can_take(job.est_tokens, now)) continue;
        std::tuple<bool, bool, int> key{n > 1 && static_cast<int>(i) == job.last_failed_endpoint, !probe, e.in_flight};
        if (best < 0 || key < best_key) {
            best = static_cast<int>(i);
            best_key = key;
        }
    }
    rotate = (rotate + 1) % n;
    return best;
}

void OpenAiBackend::Impl::start(std::unique_ptr<Job> job, int ep, Clock::time_point now) {
    Endpoint& e = endpoints[static_cast<size_t>(ep)];
    e.in_flight++;
    e.attempts++;
    e.request_bucket.take(1);
    e.token_bucket.take(job->est_tokens);
    job->is_probe = e.ejected;
    if (e.ejected) e.probe_in_flight = true;
    job->attempts++;
    job->endpoint = ep;
    job->attempt_start = now;
    job->retry_after_s = -1;
    job->response.clear();
    job->errbuf[0] = '\0';

    CURL* h;
    if (!idle_handles.empty()) {
        h = idle_handles.back();
        idle_handles.pop_back();
    } else {
        h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // signals and threads do not mix
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "synthforge/" SYNTHFORGE_VERSION);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(opt.timeout_s * 1000));
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opt.connect_timeout_s * 1000));
    }
    curl_easy_setopt(h, CURLOPT_URL, job->to_completions ? e.completions_url.c_str() : e.chat_url.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, job->body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(job->body.size()));
    curl_easy_setopt(h, CURLOPT_WRITEDATA, job.get());
    curl_easy_setopt(h, CURLOPT_HEADERDATA, job.get());
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, job->errbuf);
    curl_multi_add_handle(multi, h);
    running.emplace(h, std::move(job));
}

bool OpenAiBackend::Impl::collect(Clock::time_point now) {
    bool any = false;
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL* h = msg->easy_handle;
        CURLcode rc = msg->data.result;
        long status = 0;
        curl_off_t total_us = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &total_us);
        curl_multi_remove_handle(multi, h);
        auto it = running.find(h);
        std::unique_ptr<Job> job = std::move(it->second);
        running.erase(it);
        idle_handles.push_back(h);
        on_attempt_done(std::move(job), rc, status, static_cast<double>(total_us) / 1000.0, now);
        any = true;
    }
    return any;
}

void OpenAiBackend::Impl::endpoint_ok(Endpoint& e) {
    e.consecutive_failures = 0;
    e.ejected = false;
}

void OpenAiBackend::Impl::endpoint_failed(Endpoint& e, bool was_probe, Clock::time_point now) {
    e.consecutive_failures++;
    if (was_probe) {
        e.probe_at = now + from_seconds(opt.probe_after_s);  // still down: next probe later
    } else if (!e.ejected && e.consecutive_failures >= opt.eject_after_failures) {
        e.ejected = true;
        e.probe_at = now + from_seconds(opt.probe_after_s);
    }
}

void OpenAiBackend::Impl::on_attempt_done(std::unique_ptr<Job> job, CURLcode rc, long status, double latency_ms,
                                          Clock::time_point now) {
    Endpoint& e = endpoints[static_cast<size_t>(job->endpoint)];
    e.in_flight--;
    bool was_probe = job->is_probe;
    if (was_probe) e.probe_in_flight = false;
    job->is_probe = false;

    AttemptResult r = classify(json_parser, *job, rc, status);
    if (r.kind == AttemptKind::success) {
        e.successes++;
        e.record_latency(latency_ms);
        endpoint_ok(e);
        // Additive increase: one more slot per window's worth of successes.
        if (e.window < e.max_concurrency && ++e.successes_since_growth >= e.window) {
            e.window++;
            e.successes_since_growth = 0;
        }
        const Usage& u = r.response.usage;
        if (u.prompt_tokens > 0 || u.completion_tokens > 0)
            e.token_bucket.adjust(job->est_tokens - static_cast<double>(u.prompt_tokens + u.completion_tokens));
        r.response.latency_ms = latency_ms;
        r.response.endpoint = e.display;
        finish_ok(*job, std::move(r.response));
        return;
    }

    e.errors++;
    e.token_bucket.adjust(job->est_tokens);  // a failed call consumed (almost) nothing upstream
    std::string where = e.display + ": ";
    if (r.kind == AttemptKind::fatal) {
        // A rejected request says nothing bad about the server; a curl config error does.
        if (rc == CURLE_OK) {
            endpoint_ok(e);
        } else {
            endpoint_failed(e, was_probe, now);
            last_endpoint_error = where + r.message;
        }
        finish_error(*job, where + r.message + " (not retried)");
        return;
    }

    if (status == 429) {
        // Multiplicative decrease, once per round trip: 429s from requests sent before the last
        // cut describe the old window, not the current one.
        if (job->attempt_start >= e.last_cut) {
            e.window = std::max(1, e.window / 2);
            e.last_cut = now;
            e.successes_since_growth = 0;
        }
        if (was_probe) endpoint_ok(e);  // alive, just busy
    } else {
        endpoint_failed(e, was_probe, now);
    }
    job->last_error = where + r.message;
    last_endpoint_error = job->last_error;
    job->last_failed_endpoint = job->endpoint;
    if (job->attempts >= opt.max_attempts) {
        finish_error(*job, where + "gave up after " + std::to_string(job->attempts) + " attempts: " + r.message);
        return;
    }
    // Full jitter: uniform over the whole exponential window, so clients that failed together
    // do not retry together. Retry-After is a floor, not a replacement.
    double window = std::min(opt.backoff_cap_s, opt.backoff_base_s * std::ldexp(1.0, job->attempts - 1));
    double delay = std::uniform_real_distribution<double>(0.0, std::max(window, 0.0))(rng);
    if (job->retry_after_s >= 0) delay = std::max(delay, std::min(job->retry_after_s, opt.max_retry_after_s));
    retries++;
    Clock::time_point at = now + from_seconds(delay);
    backing_off.emplace(at, std::move(job));
}

void OpenAiBackend::Impl::fail_if_all_down(Clock::time_point now) {
    bool down = std::all_of(endpoints.begin(), endpoints.end(), [](const Endpoint& e) { return e.ejected; });
    if (!down) {
        all_down = false;
        return;
    }
    if (!all_down) {
        all_down = true;
        all_down_since = now;
    }
    if (seconds(now - all_down_since) < opt.all_down_timeout_s) return;
    while (!ready.empty()) {
        Job& job = *ready.front();
        std::string msg = "no endpoint reachable for " + format_seconds(opt.all_down_timeout_s) + " s (all ejected)";
        if (job.attempts > 0) msg += " after " + std::to_string(job.attempts) + " attempts";
        const std::string& last = job.last_error.empty() ? last_endpoint_error : job.last_error;
        if (!last.empty()) msg += "; last error: " + last;
        finish_error(job, msg);
        ready.pop_front();
    }
}

int OpenAiBackend::Impl::poll_timeout_ms(Clock::time_point now) {
    Clock::duration wait = std::chrono::milliseconds(kMaxPollMs);
    if (!backing_off.empty()) wait = std::min(wait, backing_off.begin()->first - now);
    if (!ready.empty()) {
        // The head of the queue is blocked; wake when some endpoint could take it.
        const Job& head = *ready.front();
        for (Endpoint& e : endpoints) {
            Clock::duration at = Clock::duration::zero();
            if (e.ejected) {
                if (e.probe_in_flight) continue;
                at = e.probe_at - now;
            } else if (e.in_flight >= e.window) {
                continue;  // a finishing transfer wakes the poll
            }
            at = std::max({at, e.request_bucket.time_until(1, now), e.token_bucket.time_until(head.est_tokens, now)});
            wait = std::min(wait, at);
        }
        if (all_down) wait = std::min(wait, all_down_since + from_seconds(opt.all_down_timeout_s) - now);
    }
    if (wait <= Clock::duration::zero()) return 0;
    // Round up: waking a hair early would only spin once more.
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(wait).count();
    return static_cast<int>((us + 999) / 1000);
}

void OpenAiBackend::Impl::finish_ok(Job& job, Response response) {
    completed++;
    Outcome out;
    out.response = std::move(response);
    out.attempts = job.attempts;
    done.emplace_back(job.id, std::move(out));
}

void OpenAiBackend::Impl::finish_error(Job& job, const std::string& message) {
    failures++;
    Outcome out;
    out.error = redact(message);
    out.attempts = job.attempts;
    done.emplace_back(job.id, std::move(out));
}

OpenAiBackend::OpenAiBackend(const OpenAiBackendOptions& options) : impl_(std::make_unique<Impl>(options)) {}
OpenAiBackend::~OpenAiBackend() = default;

std::string OpenAiBackend::identity() const {
    return impl_->identity;
}
size_t OpenAiBackend::max_in_flight() const {
    return impl_->max_in_flight;
}

void OpenAiBackend::submit(uint64_t id, Request request) {
    auto job = std::make_unique<Job>();
    job->id = id;
    job->to_completions = !request.is_chat() && impl_->opt.use_completions_endpoint;
    job->est_tokens = estimate_tokens(request);
    // Invalid UTF-8 in a prompt becomes U+FFFD instead of an exception out of submit(): the
    // request still runs, and the server sees what a lenient reader of the input would.
    job->body = openai_request_body(request, impl_->model, impl_->opt.use_completions_endpoint,
                                    impl_->opt.max_completion_tokens)
                    .dump(-1, ' ', false, Json::error_handler_t::replace);
    impl_->submitted++;
    {
        std::lock_guard lock(impl_->queue_mu);
        impl_->incoming.push_back(std::move(job));
    }
    if (impl_->loop_idle.exchange(false)) curl_multi_wakeup(impl_->multi);
}

std::vector<std::pair<uint64_t, Outcome>> OpenAiBackend::wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->queue_mu);
    impl_->finished_cv.wait_for(lock, timeout, [&] { return !impl_->finished.empty(); });
    std::vector<std::pair<uint64_t, Outcome>> out;
    out.swap(impl_->finished);
    return out;
}

OpenAiStats OpenAiBackend::stats() const {
    std::lock_guard lock(impl_->state_mu);
    OpenAiStats s;
    s.requests = impl_->submitted.load();
    s.completed = impl_->completed;
    s.failures = impl_->failures;
    s.retries = impl_->retries;
    s.in_flight = s.requests - s.completed - s.failures;
    for (const Endpoint& e : impl_->endpoints) {
        OpenAiEndpointStats es;
        es.base_url = e.display;
        es.attempts = e.attempts;
        es.successes = e.successes;
        es.errors = e.errors;
        es.in_flight = static_cast<uint64_t>(e.in_flight);
        es.window = e.window;
        es.ejected = e.ejected;
        if (!e.latency_ms.empty()) {
            std::vector<double> v = e.latency_ms;
            auto pct = [&](double p) {
                size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
                std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
                return v[k];
            };
            es.p50_ms = pct(0.50);
            es.p95_ms = pct(0.95);
            es.p99_ms = pct(0.99);
        }
        s.endpoints.push_back(std::move(es));
    }
    return s;
}

std::unique_ptr<Backend> make_openai_backend(const OpenAiBackendOptions& options) {
    return std::make_unique<OpenAiBackend>(options);
}

}  // namespace synthforge::llm

namespace synthforge::llm {

Json OpenAiBackend::stats_json() const {
    OpenAiStats s = stats();
    Json endpoints = Json::array();
    for (const auto& e : s.endpoints)
        endpoints.push_back({{"base_url", e.base_url},
                             {"attempts", e.attempts},
                             {"successes", e.successes},
                             {"errors", e.errors},
                             {"ejected", e.ejected},
                             {"latency_ms", {{"p50", e.p50_ms}, {"p95", e.p95_ms}, {"p99", e.p99_ms}}}});
    return {{"requests", s.requests},
            {"completed", s.completed},
            {"failures", s.failures},
            {"retries", s.retries},
            {"endpoints", std::move(endpoints)}};
}

}  // namespace synthforge::llm
