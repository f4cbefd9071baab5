#include "llm/openai_backend.h"

#include "llm/http1_transport.h"

#include "synthforge/errors.h"

#include <curl/curl.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <tuple>
#include <type_traits>
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
    // Native transport: the URL's path ("/v1"), Host header, and the request heads up to
    // "Content-Length: " for the two completion paths, serialised once.
    std::string native_path, native_host;
    std::string native_chat_head, native_completions_head;
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
    // A reward request (Request::rank) goes to its own endpoint and its answer is a score.
    bool reward = false;
    std::string reward_path;     // relative to base_url; "/..." relative to the server's root
    std::string reward_pointer;  // JSON pointer to the score in the answer
    std::string url;             // the reward endpoint's URL on the chosen endpoint
    std::string native_head;     // native transport: the reward request's head up to Content-Length
};

size_t on_body(char* data, size_t size, size_t nmemb, void* user) {
    auto* job = static_cast<Job*>(user);
    size_t n = size * nmemb;
    if (job->response.size() + n > kMaxResponseBytes) return 0;  // aborts with CURLE_WRITE_ERROR
    // Room for simdjson's padding from the start: the parser then reads the body in place
    // instead of reallocating it once more.
    const size_t need = job->response.size() + n + simdjson::SIMDJSON_PADDING;
    if (need > job->response.capacity()) job->response.reserve(std::max(need, 2 * job->response.capacity()));
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

// Reads the score of a reward request out of a 2xx body. An answer that parses but has no number
// where the pointer points is the configuration's fault (a wrong api.kind or api.score), which
// asking again will not mend: fatal. An unparseable body is a transient fault, as for chats.
AttemptResult parse_reward(const Job& job, AttemptResult r) {
    Json answer = Json::parse(job.response, nullptr, /*allow_exceptions=*/false);
    if (answer.is_discarded()) {
        r.message = "unparseable JSON response (" + std::to_string(job.response.size()) +
                    " bytes): " + one_line(job.response, 80);
        return r;
    }
    const Json::json_pointer pointer(job.reward_pointer);
    if (!answer.contains(pointer) || !answer[pointer].is_number()) {
        r.kind = AttemptKind::fatal;
        r.message = "the reward answer has no number at " + job.reward_pointer +
                    " (check the reward block's api): " + one_line(job.response, 160);
        return r;
    }
    r.response.embedding = {answer[pointer].get<float>()};
    r.response.finish_reason = "scored";
    const Json::json_pointer tokens("/usage/prompt_tokens");
    if (answer.contains(tokens) && answer[tokens].is_number_integer())
        r.response.usage.prompt_tokens = answer[tokens].get<int64_t>();
    r.kind = AttemptKind::success;
    return r;
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
    if (job.reward) return parse_reward(job, std::move(r));
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
    size_t chars = request.prompt.size() + request.rank_query.size();
    for (const auto& m : request.messages) chars += m.content.size();
    // A reward request generates nothing: its prompt is all it costs.
    return static_cast<double>(chars) / 4.0 + (request.rank ? 0 : std::max(0, request.sampling.max_tokens));
}

}  // namespace

namespace {

// Where a reward request goes and what it sends, per api.kind (docs/blocks/reward.md):
//   rerank    llama-server --rerank (and vLLM, Jina, Cohere-style): POST <base_url>/rerank
//             {"model", "query", "documents": [response]} -> /results/0/relevance_score
//   score     vLLM cross-encoders: POST <base_url>/score {"model", "text_1", "text_2"} -> /data/0/score
//   classify  vLLM sequence classifiers and reward models: POST /classify (server root) with the
//             pair as a chat, which the server formats with the model's template -> /data/0/probs/<label>
//   generic   POST `path` with `body`, where the strings {{query}}, {{document}} and {{model}} are
//             replaced, -> the number at JSON pointer `score`
struct RewardCall {
    std::string path, pointer;
    Json body;
};

void fill_template(Json& node, const Request& request, const std::string& model) {
    if (node.is_string()) {
        std::string text = node.get<std::string>();
        for (const auto& [key, value] : {std::pair<std::string, const std::string*>{"{{query}}", &request.rank_query},
                                         {"{{document}}", &request.prompt},
                                         {"{{model}}", &model}})
            for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value->size()))
                text.replace(at, key.size(), *value);
        node = std::move(text);
    } else if (node.is_array() || node.is_object()) {
        for (auto& child : node) fill_template(child, request, model);
    }
}

RewardCall reward_call(const Request& request, const std::string& model) {
    const Json& api = request.reward_api;
    const std::string kind = api.value("kind", "rerank");
    RewardCall c;
    if (kind == "rerank") {
        c.path = "rerank";
        c.pointer = "/results/0/relevance_score";
        c.body = {{"model", model}, {"query", request.rank_query}, {"documents", {request.prompt}}};
    } else if (kind == "score") {
        c.path = "score";
        c.pointer = "/data/0/score";
        c.body = {{"model", model}, {"text_1", request.rank_query}, {"text_2", request.prompt}};
    } else if (kind == "classify") {
        c.path = "/classify";
        c.pointer = "/data/0/probs/" + std::to_string(api.value("label", 0));
        c.body = {{"model", model},
                  {"messages",
                   {{{"role", "user"}, {"content", request.rank_query}},
                    {{"role", "assistant"}, {"content", request.prompt}}}}};
    } else if (kind == "generic") {
        c.body = api.value("body", Json::object());
        fill_template(c.body, request, model);
    } else {
        throw UserError("openai backend: unknown reward api kind '" + kind + "' (rerank, score, classify or generic)");
    }
    if (api.contains("path")) c.path = api["path"].get<std::string>();
    if (api.contains("score")) c.pointer = api["score"].get<std::string>();
    if (c.path.empty() || c.pointer.empty())
        throw UserError("openai backend: a generic reward api needs path, body and score");
    return c;
}

// base_url + "/" + path, or the server's root + path when path starts with '/'.
std::string reward_url(const std::string& base_url, const std::string& path) {
    if (path.empty() || path.front() != '/') return base_url + "/" + path;
    const size_t scheme = base_url.find("://");
    const size_t root_end = base_url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    return (root_end == std::string::npos ? base_url : base_url.substr(0, root_end)) + path;
}

void check_servable(const Request& request) {
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
}

// JSON text as nlohmann's dump(-1, ' ', false, replace) writes it, appended to `out`. Valid UTF-8
// (nearly always) is escaped here; anything else goes through nlohmann itself, so the U+FFFD
// replacement of invalid bytes stays exactly nlohmann's.
void append_json_string(std::string& out, std::string_view s) {
    if (!simdjson::validate_utf8(s.data(), s.size())) {
        out += Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
        return;
    }
    out += '"';
    size_t plain = 0;  // start of the run of bytes that need no escape
    for (size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(s.data() + plain, i - plain);
        plain = i + 1;
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default: {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            }
        }
    }
    out.append(s.data() + plain, s.size() - plain);
    out += '"';
}

// Floats in nlohmann's exact format (shortest round trip, "0.0" not "0", null for NaN and
// infinities), by the routine its serializer calls; Json(x).dump() would cost ~1k instructions.
template <typename Number>
void append_json_number(std::string& out, Number x) {
    if constexpr (std::is_floating_point_v<Number>) {
        if (!std::isfinite(x)) {
            out += "null";
            return;
        }
        char buf[64];
        char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, static_cast<double>(x));
        out.append(buf, end);
    } else {
        char buf[24];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
        out.append(buf, end);
    }
}

void append_key(std::string& out, std::string_view key) {
    // Keys are literals below: plain ASCII, nothing to escape.
    out += out.back() == '{' ? "\"" : ",\"";
    out += key;
    out += "\":";
}

}  // namespace

std::string openai_request_body_text(const Request& request, const std::string& model, bool use_completions_endpoint,
                                     bool max_completion_tokens) {
    // Field for field and in the same order as openai_request_body() below, which is the
    // reference (a unit test compares the two on many requests). Building the nlohmann object
    // and dumping it cost ~35k instructions per request on the caller's thread, about as much
    // as libcurl's whole transfer; this costs a few thousand.
    check_servable(request);
    if (request.rank) return reward_call(request, model).body.dump(-1, ' ', false, Json::error_handler_t::replace);
    std::string out;
    size_t chars = model.size() + request.prompt.size() + request.grammar.size() + 256;
    for (const auto& m : request.messages) chars += m.role.size() + m.content.size() + 32;
    out.reserve(chars + chars / 8);
    out += '{';
    append_key(out, "model");
    append_json_string(out, model);
    auto message = [&](std::string_view role, std::string_view content) {
        out += "{\"role\":";
        append_json_string(out, role);
        out += ",\"content\":";
        append_json_string(out, content);
        out += '}';
    };
    if (request.is_chat()) {
        append_key(out, "messages");
        out += '[';
        for (size_t i = 0; i < request.messages.size(); ++i) {
            if (i) out += ',';
            message(request.messages[i].role, request.messages[i].content);
        }
        out += ']';
    } else if (use_completions_endpoint) {
        append_key(out, "prompt");
        append_json_string(out, request.prompt);
    } else {
        append_key(out, "messages");
        out += '[';
        message("user", request.prompt);
        out += ']';
    }
    auto number = [&](std::string_view key, auto value) {
        append_key(out, key);
        append_json_number(out, value);
    };
    const SamplingParams& s = request.sampling;
    if (s.mode == SamplingMode::deterministic) {
        number("temperature", 0.0);
    } else {
        number("temperature", s.temperature);
        if (s.top_p < 1.0) number("top_p", s.top_p);
        if (s.top_k > 0) number("top_k", s.top_k);
        if (s.min_p > 0.0) number("min_p", s.min_p);
    }
    const bool to_chat = request.is_chat() || !use_completions_endpoint;
    if (s.max_tokens > 0)
        number(max_completion_tokens && to_chat ? "max_completion_tokens" : "max_tokens", s.max_tokens);
    if (!s.stop.empty()) {
        append_key(out, "stop");
        out += '[';
        for (size_t i = 0; i < s.stop.size(); ++i) {
            if (i) out += ',';
            append_json_string(out, s.stop[i]);
        }
        out += ']';
    }
    if (s.seed) number("seed", *s.seed);
    if (s.presence_penalty != 0.0) number("presence_penalty", s.presence_penalty);
    if (s.frequency_penalty != 0.0) number("frequency_penalty", s.frequency_penalty);
    if (request.json_schema) {
        append_key(out, "response_format");
        out += R"({"type":"json_schema","json_schema":{"name":"output","schema":)";
        out += request.json_schema->dump(-1, ' ', false, Json::error_handler_t::replace);
        out += R"(,"strict":true}})";
    }
    if (!request.grammar.empty()) {
        append_key(out, "grammar");
        append_json_string(out, request.grammar);
    }
    out += '}';
    return out;
}

Json openai_request_body(const Request& request, const std::string& model, bool use_completions_endpoint,
                         bool max_completion_tokens) {
    check_servable(request);
    if (request.rank) return reward_call(request, model).body;
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

namespace {

// A finished transfer, read out of its multi handle and classified on its loop thread without
// the shared lock, then applied to the shared state under it.
struct FinishedAttempt {
    std::unique_ptr<Job> job;
    CURLcode rc = CURLE_OK;
    long status = 0;
    double latency_ms = 0;
    AttemptResult result;
};

// One event-loop thread with its own transport (a native Http1Transport or a libcurl multi
// handle, and so its own connection cache). What it owns is touched only by its thread;
// `assigned` and the scheduling state are under state_mu.
struct EventLoop {
    CURLM* multi = nullptr;                  // the curl transport
    std::unique_ptr<Http1Transport> native;  // or the native one
    std::thread thread;
    std::unordered_map<CURL*, std::unique_ptr<Job>> running;
    std::vector<CURL*> idle_handles;
    std::unordered_map<Job*, std::unique_ptr<Job>> native_running;
    std::vector<Http1Transport::Result> native_results;
    simdjson::dom::parser json_parser;
    // Transfers handed to this loop and not yet applied back (state_mu): bounded by the share
    // below so that the loops split the work instead of the first awake one taking it all.
    size_t assigned = 0;
    // True while the loop is about to sleep or sleeping in curl_multi_poll: submit() and the
    // other loops then wake it. A busy loop looks at the queues on its next turn anyway, and a
    // wakeup would only cost syscalls.
    std::atomic<bool> idle{false};
};

}  // namespace

struct OpenAiBackend::Impl {
    OpenAiBackendOptions opt;
    std::string model;
    std::string identity;
    std::string api_key;  // never formatted into anything but the Authorization header
    curl_slist* headers = nullptr;
    bool native = false;             // which transport the loops use (http_transport)
    std::string native_header_tail;  // the native request head after Host:, up to "Content-Length: "
    std::vector<std::unique_ptr<EventLoop>> loops;
    size_t loop_share = 0;  // transfers one loop may run at once: its part of all windows, rounded up
    std::vector<Endpoint> endpoints;
    size_t max_in_flight = 0;

    // Shared with submit()/wait(); lock order: state_mu before queue_mu.
    std::mutex queue_mu;
    std::condition_variable finished_cv;
    std::deque<std::unique_ptr<Job>> incoming;
    std::vector<std::pair<uint64_t, Outcome>> finished;
    bool stopping = false;
    std::atomic<uint64_t> submitted{0};

    // Scheduling state shared by the loops (endpoints: windows, buckets, ejection, balancing;
    // the queues; the counters). Each loop holds state_mu only to read and update it, never
    // around libcurl's transfer work or its sleep, so stats() and the other loops get it fast.
    mutable std::mutex state_mu;
    std::deque<std::unique_ptr<Job>> ready;
    std::multimap<Clock::time_point, std::unique_ptr<Job>> backing_off;
    std::vector<std::pair<uint64_t, Outcome>> done;  // flushed to `finished` once per loop turn
    std::mt19937_64 rng{std::random_device{}()};
    size_t rotate = 0;  // round-robin start for ties in endpoint choice
    bool all_down = false;
    Clock::time_point all_down_since{};
    std::string last_endpoint_error;  // most recent attempt failure on any endpoint, for all-down messages
    uint64_t completed = 0, failures = 0, retries = 0;
    size_t unannounced = 0;     // outcomes moved to `finished` since the last notify
    size_t announce_batch = 1;  // a quarter of max_in_flight
    Clock::time_point last_announce{};

    explicit Impl(const OpenAiBackendOptions& options);
    ~Impl();

    void run(EventLoop& loop);
    void promote_due(Clock::time_point now);
    bool dispatch(EventLoop& loop, Clock::time_point now, std::vector<std::unique_ptr<Job>>& to_start);
    void wake_idle_loop(const EventLoop* except);
    bool others_idle(const EventLoop& self) const;
    int pick_endpoint(const Job& job, Clock::time_point now);
    void assign(Job& job, int ep, Clock::time_point now);
    void start_transfer(EventLoop& loop, std::unique_ptr<Job> job);
    void collect(EventLoop& loop, std::vector<FinishedAttempt>& out);
    void collect_native(EventLoop& loop, std::vector<FinishedAttempt>& out);
    void wake(EventLoop& loop);
    std::string native_head(const Endpoint& e, const std::string& path) const;
    void on_attempt_done(FinishedAttempt& f, Clock::time_point now);
    void endpoint_failed(Endpoint& e, bool was_probe, Clock::time_point now);
    void endpoint_ok(Endpoint& e);
    void fail_if_all_down(Clock::time_point now);
    bool all_down_expired(Clock::time_point now) const;  // every endpoint down for all_down_timeout_s
    std::string all_down_error(const Job& job) const;
    int poll_timeout_ms(Clock::time_point now);
    void finish_ok(Job& job, Response response);
    void finish_error(Job& job, const std::string& message);
    std::string redact(std::string s) const;
};

namespace {
unsigned default_event_loop_threads() {
    // Against a fast local server two loops carried a median 1.2x the requests/s of one on a
    // 2-core machine, three or four no more at a higher CPU cost per request (docs/openai_backend.md,
    // "Throughput"). Real model servers need one; an idle second loop only sleeps.
    unsigned hw = std::thread::hardware_concurrency();
    return std::clamp(hw, 1u, 2u);
}
}  // namespace

OpenAiBackend::Impl::Impl(const OpenAiBackendOptions& options) : opt(options), model(options.model) {
    if (opt.model.empty()) throw UserError("openai backend: 'model' is required");
    if (opt.max_concurrency < 1) throw UserError("openai backend: max_concurrency must be >= 1");
    if (opt.max_attempts < 1) throw UserError("openai backend: max_attempts must be >= 1");
    if (opt.timeout_s <= 0 || opt.connect_timeout_s <= 0)
        throw UserError("openai backend: timeout_s and connect_timeout_s must be > 0");
    if (opt.backoff_base_s < 0 || opt.backoff_cap_s < 0) throw UserError("openai backend: backoff must be >= 0");
    if (opt.eject_after_failures < 1) throw UserError("openai backend: eject_after_failures must be >= 1");
    if (opt.event_loop_threads < 0) throw UserError("openai backend: event_loop_threads must be >= 0 (0 = automatic)");

    std::vector<OpenAiEndpointOptions> specs;
    for (const auto& url : opt.base_urls) specs.push_back({url, 0, -1, -1});
    specs.insert(specs.end(), opt.endpoints.begin(), opt.endpoints.end());
    if (specs.empty()) throw UserError("openai backend: no base_urls given");

    Clock::time_point now = Clock::now();
    endpoints.resize(specs.size());
    size_t slots = 0;
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
        slots += static_cast<size_t>(e.max_concurrency);
    }
    // The transport: native for plain http:// endpoints without a proxy in the way.
    const std::string& mode = opt.http_transport;
    if (mode != "auto" && mode != "native" && mode != "curl")
        throw UserError("openai backend: http_transport must be auto, native or curl, not '" + mode + "'");
    std::string not_native;  // why the native transport cannot serve every endpoint
    std::vector<Http1Url> native_urls;
    for (const Endpoint& e : endpoints) {
        std::string why;
        auto u = parse_http1_url(e.base_url, &why);
        if (!u) {
            not_native = e.display + ": " + why;
            break;
        }
        if (mode == "auto" && proxy_applies_to(u->host)) {
            not_native = e.display + ": a proxy environment variable applies";
            break;
        }
        native_urls.push_back(std::move(*u));
    }
    if (mode == "native" && !not_native.empty())
        throw UserError("openai backend: http_transport: native serves plain http:// URLs only (" + not_native +
                        "); use auto or curl");
    native = mode == "native" || (mode == "auto" && not_native.empty());
    if (native)
        for (size_t i = 0; i < endpoints.size(); ++i) {
            endpoints[i].native_path = native_urls[i].path;
            endpoints[i].native_host = native_urls[i].host_header;
        }

    // Twice the combined window: the backend then always has the next request queued when a
    // transfer finishes, instead of idling until the caller's next submit().
    max_in_flight = 2 * slots;
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

    // A loop without a transfer to run would only be an idle thread.
    size_t n_loops = opt.event_loop_threads > 0 ? static_cast<size_t>(opt.event_loop_threads)
                                                : static_cast<size_t>(default_event_loop_threads());
    n_loops = std::min(n_loops, slots);
    // Every endpoint at its full window plus one probe each must fit into the loops' shares, or
    // a free slot could go unused while every loop is at its share.
    loop_share = (slots + endpoints.size() + n_loops - 1) / n_loops;

    init_curl_once();
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip for larger bodies
    // In the list rather than CURLOPT_USERAGENT: the same header on the wire, but libcurl formats
    // the option anew for every request, ~6k instructions against ~3k (callgrind, libcurl 7.88).
    headers = curl_slist_append(headers, "User-Agent: synthforge/" SYNTHFORGE_VERSION);
    if (!api_key.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + api_key).c_str());
    if (native) {
        // The same headers as the curl transport sends (Host first, as libcurl does).
        native_header_tail = "User-Agent: synthforge/" SYNTHFORGE_VERSION
                             "\r\nAccept: application/json\r\nContent-Type: application/json\r\n";
        if (!api_key.empty()) native_header_tail += "Authorization: Bearer " + api_key + "\r\n";
        native_header_tail += "Content-Length: ";
        for (Endpoint& e : endpoints) {
            e.native_chat_head = native_head(e, e.native_path + "/chat/completions");
            e.native_completions_head = native_head(e, e.native_path + "/completions");
        }
        Http1Transport::Options topt;
        topt.connect_timeout_s = opt.connect_timeout_s;
        topt.timeout_s = opt.timeout_s;
        topt.limits.max_body_bytes = kMaxResponseBytes;
        topt.limits.body_padding = simdjson::SIMDJSON_PADDING;
        for (size_t i = 0; i < n_loops; ++i) {
            auto loop = std::make_unique<EventLoop>();
            try {
                loop->native = std::make_unique<Http1Transport>(topt);
            } catch (const std::exception& ex) {
                curl_slist_free_all(headers);
                throw RunError(std::string("openai backend: cannot set up the native HTTP transport: ") + ex.what());
            }
            for (size_t k = 0; k < endpoints.size(); ++k)
                loop->native->add_origin(native_urls[k].host, native_urls[k].port);
            loops.push_back(std::move(loop));
        }
    }
    for (size_t i = 0; !native && i < n_loops; ++i) {
        auto loop = std::make_unique<EventLoop>();
        loop->multi = curl_multi_init();
        if (loop->multi)
            // Keep every window's connections alive between requests.
            curl_multi_setopt(loop->multi, CURLMOPT_MAXCONNECTS, static_cast<long>(max_in_flight + 8));
        bool ok = loop->multi != nullptr;
        loops.push_back(std::move(loop));
        if (!ok || !headers) {
            for (auto& l : loops)
                if (l->multi) curl_multi_cleanup(l->multi);
            curl_slist_free_all(headers);
            throw RunError("openai backend: libcurl initialisation failed");
        }
    }
    for (auto& loop : loops) loop->thread = std::thread([this, l = loop.get()] { run(*l); });
}

OpenAiBackend::Impl::~Impl() {
    {
        std::lock_guard lock(queue_mu);
        stopping = true;
    }
    for (auto& loop : loops) wake(*loop);
    for (auto& loop : loops)
        if (loop->thread.joinable()) loop->thread.join();
    for (auto& loop : loops) {
        if (!loop->multi) continue;  // native: the transport closes its connections itself
        for (auto& [handle, job] : loop->running) {
            curl_multi_remove_handle(loop->multi, handle);
            curl_easy_cleanup(handle);
        }
        for (CURL* h : loop->idle_handles) curl_easy_cleanup(h);
        curl_multi_cleanup(loop->multi);
    }
    curl_slist_free_all(headers);
}

void OpenAiBackend::Impl::wake(EventLoop& loop) {
    if (loop.native)
        loop.native->wakeup();
    else
        curl_multi_wakeup(loop.multi);
}

// "POST <path> HTTP/1.1" and the headers up to "Content-Length: ", which the transport completes.
std::string OpenAiBackend::Impl::native_head(const Endpoint& e, const std::string& path) const {
    return "POST " + path + " HTTP/1.1\r\nHost: " + e.native_host + "\r\n" + native_header_tail;
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
//
// One turn: libcurl's work (perform, reading finished transfers, parsing their bodies, starting
// new ones) without the shared lock; then, under it, apply the finished attempts to the
// endpoints, pick what to start next, and publish outcomes. With several loops, their libcurl
// work runs in parallel and only the short bookkeeping is serialised.
void OpenAiBackend::Impl::run(EventLoop& loop) {
    std::vector<FinishedAttempt> finished_attempts;
    std::vector<std::unique_ptr<Job>> to_start;
    while (true) {
        int timeout_ms = -1;  // >= 0: sleep in curl_multi_poll this long after the turn
        // Wakeups are sent after the lock is released: a woken thread can preempt this one on a
        // busy machine, and must not do so while this one holds the lock the other loops need.
        bool notify_caller = false, wake_another_loop = false;
        {
            std::lock_guard state(state_mu);
            {
                std::lock_guard lock(queue_mu);
                if (stopping) break;
                while (!incoming.empty()) {
                    ready.push_back(std::move(incoming.front()));
                    incoming.pop_front();
                }
            }
            const bool progressed = !finished_attempts.empty();
            Clock::time_point now = Clock::now();
            for (auto& f : finished_attempts) {
                loop.assigned--;
                on_attempt_done(f, now);
            }
            promote_due(now);
            wake_another_loop = dispatch(loop, now, to_start);
            fail_if_all_down(now);
            if (!done.empty()) {
                std::lock_guard lock(queue_mu);
                for (auto& d : done) finished.push_back(std::move(d));
                unannounced += done.size();
                done.clear();
            }
            // Finished transfers freed window slots and new ones were just started: turn again
            // before sleeping.
            const bool sleep = !progressed && to_start.empty();
            // Waking the caller per finished transfer would cost a context switch each on a busy
            // run; wake it per batch, when the last loop awake is about to sleep, or after a short
            // delay at the latest. (A loop going to sleep while another is awake leaves it to that
            // one: every caller wakeup can preempt a loop on a busy machine.)
            if (unannounced > 0 && ((sleep && others_idle(loop)) || unannounced >= announce_batch ||
                                    now - last_announce >= std::chrono::milliseconds(2))) {
                notify_caller = true;
                unannounced = 0;
                last_announce = now;
            }
            if (sleep) {
                loop.idle.store(true);
                // Checked after raising the flag: a submit() that this check misses sees the
                // flag. A loop that needs help looks at the flag after its own turn under
                // state_mu, so either that turn came first and its work is in `ready` for this
                // one's dispatch above, or it comes after this and sees the flag.
                bool more;
                {
                    std::lock_guard lock(queue_mu);
                    more = !incoming.empty() || stopping;
                }
                if (more)
                    loop.idle.store(false);
                else
                    timeout_ms = poll_timeout_ms(now);
            }
        }
        finished_attempts.clear();  // frees the finished jobs, outside the lock
        if (notify_caller) finished_cv.notify_all();
        if (wake_another_loop) wake_idle_loop(&loop);
        for (auto& job : to_start) start_transfer(loop, std::move(job));
        to_start.clear();
        if (loop.native) {
            // One epoll_wait does the sleeping and collects what is ready.
            loop.native->poll(std::max(timeout_ms, 0), loop.native_results);
            if (timeout_ms >= 0) loop.idle.store(false);
            collect_native(loop, finished_attempts);
            continue;
        }
        if (timeout_ms >= 0) {
            curl_multi_poll(loop.multi, nullptr, 0, timeout_ms, nullptr);
            loop.idle.store(false);
        }
        int still_running = 0;
        curl_multi_perform(loop.multi, &still_running);
        collect(loop, finished_attempts);
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

// Returns true when an endpoint has room for the head of the queue but this loop has its
// share: another loop should take the rest.
bool OpenAiBackend::Impl::dispatch(EventLoop& loop, Clock::time_point now,
                                   std::vector<std::unique_ptr<Job>>& to_start) {
    while (!ready.empty()) {
        int ep = pick_endpoint(*ready.front(), now);
        if (ep < 0) return false;  // head of line waits for a slot, a bucket refill or a probe time
        if (loop.assigned >= loop_share) return true;
        std::unique_ptr<Job> job = std::move(ready.front());
        ready.pop_front();
        assign(*job, ep, now);
        loop.assigned++;
        to_start.push_back(std::move(job));
    }
    return false;
}

// Wakes one sleeping loop (not `except`), if any: one is enough, it wakes the next when it
// reaches its share. Busy loops need no wakeup, they look at the queues on their next turn.
void OpenAiBackend::Impl::wake_idle_loop(const EventLoop* except) {
    for (auto& l : loops) {
        if (l.get() == except) continue;
        // A plain load first: the exchange would take the cache line even when the loop is busy.
        if (l->idle.load() && l->idle.exchange(false)) {
            wake(*l);
            return;
        }
    }
}

// Under state_mu, where the loops raise their flags before sleeping: of two loops going to
// sleep one after the other, the second sees the first one's flag.
bool OpenAiBackend::Impl::others_idle(const EventLoop& self) const {
    return std::all_of(loops.begin(), loops.end(), [&](const auto& l) { return l.get() == &self || l->idle.load(); });
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

// The bookkeeping half of starting an attempt, under state_mu: the slot, the buckets and the
// probe are taken here, so every loop sees them at once.
void OpenAiBackend::Impl::assign(Job& job, int ep, Clock::time_point now) {
    Endpoint& e = endpoints[static_cast<size_t>(ep)];
    e.in_flight++;
    e.attempts++;
    e.request_bucket.take(1);
    e.token_bucket.take(job.est_tokens);
    job.is_probe = e.ejected;
    if (e.ejected) e.probe_in_flight = true;
    job.attempts++;
    job.endpoint = ep;
    job.attempt_start = now;
    job.retry_after_s = -1;
    job.response.clear();
    job.errbuf[0] = '\0';
}

// The libcurl half, on the loop's thread without the lock. It reads only what never changes
// after construction (the endpoint's URLs, the options).
void OpenAiBackend::Impl::start_transfer(EventLoop& loop, std::unique_ptr<Job> job) {
    const Endpoint& e = endpoints[static_cast<size_t>(job->endpoint)];
    if (loop.native) {
        std::string_view head;
        if (job->reward) {
            const std::string& p = job->reward_path;
            job->native_head = native_head(e, !p.empty() && p.front() == '/' ? p : e.native_path + "/" + p);
            head = job->native_head;
        } else {
            head = job->to_completions ? e.native_completions_head : e.native_chat_head;
        }
        Job* raw = job.get();
        loop.native_running.emplace(raw, std::move(job));
        loop.native->start(raw->endpoint, head, raw->body, raw->response, raw);
        return;
    }
    CURL* h;
    if (!loop.idle_handles.empty()) {
        // Reused as they are: only the per-request options below change, the rest stays set.
        h = loop.idle_handles.back();
        loop.idle_handles.pop_back();
    } else {
        h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // signals and threads do not mix
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(opt.timeout_s * 1000));
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opt.connect_timeout_s * 1000));
    }
    if (job->reward) job->url = reward_url(e.base_url, job->reward_path);
    curl_easy_setopt(h, CURLOPT_URL,
                     job->reward           ? job->url.c_str()
                     : job->to_completions ? e.completions_url.c_str()
                                           : e.chat_url.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, job->body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(job->body.size()));
    curl_easy_setopt(h, CURLOPT_WRITEDATA, job.get());
    curl_easy_setopt(h, CURLOPT_HEADERDATA, job.get());
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, job->errbuf);
    curl_multi_add_handle(loop.multi, h);
    loop.running.emplace(h, std::move(job));
}

void OpenAiBackend::Impl::collect(EventLoop& loop, std::vector<FinishedAttempt>& out) {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(loop.multi, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL* h = msg->easy_handle;
        FinishedAttempt f;
        f.rc = msg->data.result;
        curl_off_t total_us = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &f.status);
        curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &total_us);
        f.latency_ms = static_cast<double>(total_us) / 1000.0;
        curl_multi_remove_handle(loop.multi, h);
        auto it = loop.running.find(h);
        f.job = std::move(it->second);
        loop.running.erase(it);
        loop.idle_handles.push_back(h);
        // Parsing the body needs nothing shared: it happens here, outside the lock.
        f.result = classify(loop.json_parser, *f.job, f.rc, f.status);
        out.push_back(std::move(f));
    }
}

// The native transport's results, in the curl transport's terms: the same CURLcode for the
// same kind of failure, so classify() and on_attempt_done() treat both transports alike.
void OpenAiBackend::Impl::collect_native(EventLoop& loop, std::vector<FinishedAttempt>& out) {
    using F = Http1Transport::Failure;
    for (auto& res : loop.native_results) {
        auto it = loop.native_running.find(static_cast<Job*>(res.user));
        FinishedAttempt f;
        f.job = std::move(it->second);
        loop.native_running.erase(it);
        switch (res.failure) {
            case F::none:
                f.rc = CURLE_OK;
                break;
            case F::resolve:
                f.rc = CURLE_COULDNT_RESOLVE_HOST;
                break;
            case F::connect:
                f.rc = CURLE_COULDNT_CONNECT;
                break;
            case F::timeout:
                f.rc = CURLE_OPERATION_TIMEDOUT;
                break;
            case F::send:
                f.rc = CURLE_SEND_ERROR;
                break;
            case F::recv:
                f.rc = CURLE_RECV_ERROR;
                break;
            case F::empty_reply:
                f.rc = CURLE_GOT_NOTHING;
                break;
            case F::truncated:
                f.rc = CURLE_PARTIAL_FILE;
                break;
            case F::protocol:
                f.rc = CURLE_WEIRD_SERVER_REPLY;
                break;
            case F::too_large:
                f.rc = CURLE_WRITE_ERROR;
                break;
        }
        if (f.rc != CURLE_OK) {
            const size_t n = std::min(res.message.size(), sizeof f.job->errbuf - 1);
            std::memcpy(f.job->errbuf, res.message.data(), n);
            f.job->errbuf[n] = '\0';
        }
        f.status = res.status;
        f.latency_ms = res.latency_ms;
        if (!res.retry_after.empty()) f.job->retry_after_s = parse_retry_after(res.retry_after);
        f.result = classify(loop.json_parser, *f.job, f.rc, f.status);
        out.push_back(std::move(f));
    }
    loop.native_results.clear();
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

void OpenAiBackend::Impl::on_attempt_done(FinishedAttempt& f, Clock::time_point now) {
    // The job stays in `f` unless it is retried: the caller frees it after releasing the lock.
    std::unique_ptr<Job>& job = f.job;
    const CURLcode rc = f.rc;
    const long status = f.status;
    const double latency_ms = f.latency_ms;
    Endpoint& e = endpoints[static_cast<size_t>(job->endpoint)];
    e.in_flight--;
    bool was_probe = job->is_probe;
    if (was_probe) e.probe_in_flight = false;
    job->is_probe = false;

    AttemptResult r = std::move(f.result);
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
    // Every endpoint has been down for all_down_timeout_s and this probe found one still down:
    // the job fails now. Retried, it would come back from its backoff just as the next probe is
    // due and be sent as that probe, again and again for as long as its attempts last, instead
    // of failing on time with the requests that were waiting.
    if (was_probe && all_down_expired(now)) {
        finish_error(*job, all_down_error(*job));
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
    if (!all_down_expired(now)) return;
    while (!ready.empty()) {
        finish_error(*ready.front(), all_down_error(*ready.front()));
        ready.pop_front();
    }
}

bool OpenAiBackend::Impl::all_down_expired(Clock::time_point now) const {
    return all_down && seconds(now - all_down_since) >= opt.all_down_timeout_s;
}

std::string OpenAiBackend::Impl::all_down_error(const Job& job) const {
    std::string msg = "no endpoint reachable for " + format_seconds(opt.all_down_timeout_s) + " s (all ejected)";
    if (job.attempts > 0) msg += " after " + std::to_string(job.attempts) + " attempts";
    const std::string& last = job.last_error.empty() ? last_endpoint_error : job.last_error;
    if (!last.empty()) msg += "; last error: " + last;
    return msg;
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
    if (request.rank) {
        RewardCall call = reward_call(request, impl_->model);
        job->reward = true;
        job->reward_path = std::move(call.path);
        job->reward_pointer = std::move(call.pointer);
    }
    // Invalid UTF-8 in a prompt becomes U+FFFD instead of an exception out of submit(): the
    // request still runs, and the server sees what a lenient reader of the input would.
    job->body = openai_request_body_text(request, impl_->model, impl_->opt.use_completions_endpoint,
                                         impl_->opt.max_completion_tokens);
    impl_->submitted++;
    {
        std::lock_guard lock(impl_->queue_mu);
        impl_->incoming.push_back(std::move(job));
    }
    impl_->wake_idle_loop(nullptr);
}

std::vector<std::pair<uint64_t, Outcome>> OpenAiBackend::wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->queue_mu);
    impl_->finished_cv.wait_for(lock, timeout, [&] { return !impl_->finished.empty(); });
    std::vector<std::pair<uint64_t, Outcome>> out;
    out.swap(impl_->finished);
    // Room for the next batch now, on the caller's thread, rather than growth step by step
    // on the loops' while they hold the scheduling lock.
    impl_->finished.reserve(out.size());
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
    s.transport = impl_->native ? "native" : "curl";
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
    return {{"requests", s.requests}, {"completed", s.completed}, {"failures", s.failures},
            {"retries", s.retries},   {"transport", s.transport}, {"endpoints", std::move(endpoints)}};
}

}  // namespace synthforge::llm
