#pragma once
// The openai backend's native HTTP/1.1 transport for plain-http endpoints: one instance per
// event-loop thread, owning an epoll set, an eventfd for wakeups and a pool of keep-alive
// connections per origin. It does only what a JSON API client needs, with the least work per
// request: the request goes out in one sendmsg() of a head prefix pre-serialised per endpoint,
// the Content-Length and the body; the answer comes back through Http1ResponseParser. libcurl
// (the `curl` transport) stays for https, proxies and anything unusual (docs/openai_backend.md).
//
// Not thread-safe except for wakeup(): the loop thread that owns it calls everything else.

#include "llm/http1_response_parser.h"

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace synthforge::llm {

// An http:// URL split for the native transport.
struct Http1Url {
    std::string host;         // without brackets for IPv6 literals
    std::string port;         // "80" when the URL has none
    std::string host_header;  // Host: value, as the URL spells host[:port]
    std::string path;         // "/..." ("" when the URL has no path)
};

// Parses "http://host[:port][/path]". Returns nullopt with `why` for anything else, including
// https, credentials in the URL, a query or a fragment: those stay with libcurl.
std::optional<Http1Url> parse_http1_url(const std::string& url, std::string* why = nullptr);

// True when a proxy environment variable (http_proxy, HTTP_PROXY, all_proxy, ALL_PROXY) would
// route a request to `host`, after no_proxy/NO_PROXY ("*", exact host names and domain
// suffixes; CIDR ranges are not understood and count as no match).
bool proxy_applies_to(const std::string& host);

class Http1Transport {
  public:
    using Clock = std::chrono::steady_clock;

    struct Options {
        double connect_timeout_s = 10;  // per connection attempt
        double timeout_s = 120;         // whole attempt, connect included
        Http1ResponseParser::Limits limits;
    };

    // Why an attempt failed; the backend maps these onto its retry classification.
    enum class Failure {
        none,
        resolve,      // the host name does not resolve
        connect,      // connection refused or unreachable
        timeout,      // connect timeout or whole-attempt timeout
        send,         // the connection broke while sending
        recv,         // the connection broke (reset) while waiting or reading
        empty_reply,  // closed before any response byte
        truncated,    // closed in the middle of a response
        protocol,     // a response that cannot be parsed or framed
        too_large,    // over the body size limit
    };

    struct Result {
        void* user = nullptr;
        Failure failure = Failure::none;
        std::string message;  // for failures, curl-like wording
        int status = 0;       // HTTP status when a response header arrived
        std::string retry_after;
        double latency_ms = 0;
        bool reused_connection = false;
    };

    // Throws std::system_error when epoll or the eventfd cannot be created.
    explicit Http1Transport(const Options& options);
    ~Http1Transport();
    Http1Transport(const Http1Transport&) = delete;
    Http1Transport& operator=(const Http1Transport&) = delete;

    // An origin (host, port) with its own connection pool; returns its id for start().
    int add_origin(const std::string& host, const std::string& port);

    // Starts a request: `head_prefix` is the request line and headers up to and including
    // "Content-Length: " (the transport writes the length and the blank line), then `body`.
    // head_prefix, body and response must stay alive and unchanged until the result comes out
    // of poll(); the response body is appended to `response`.
    void start(int origin, std::string_view head_prefix, const std::string& body, std::string& response, void* user);

    // Does the I/O that is ready, sleeping at most timeout_ms (-1: until something happens or
    // wakeup()), and appends the finished requests to `out`.
    void poll(int timeout_ms, std::vector<Result>& out);

    // Makes a sleeping poll() return; any thread.
    void wakeup();

    size_t running() const { return active_.size(); }

  private:
    struct Conn;
    struct Transfer;
    struct Origin;

    void open_connection(Transfer& t);
    void send_request(Transfer& t);
    void on_event(Conn& c, uint32_t events);
    void on_connected(Conn& c);
    void on_readable(Conn& c);
    // The server closed or reset a reused connection before answering: resend once on a new one.
    bool resend_if_stale(Transfer& t);
    void finish(Transfer& t, Failure failure, std::string message);
    void release_connection(Conn& c, bool keep);
    void close_connection(Conn& c);
    void set_events(Conn& c, uint32_t events);
    void check_deadlines();
    std::string describe(const Origin& o) const;
    static void forget_addresses(Origin& o);

    Options opt_;
    Clock::duration connect_timeout_{}, timeout_{};
    int epoll_fd_ = -1;
    int event_fd_ = -1;
    std::vector<std::unique_ptr<Origin>> origins_;
    std::vector<Transfer*> active_;  // running transfers, for deadlines
    std::vector<std::unique_ptr<Transfer>> free_transfers_;
    std::vector<Conn*> graveyard_;  // closed this turn; deleted after the epoll batch
    std::vector<Result> finished_;
    Clock::time_point now_{};
    Clock::time_point next_deadline_ = Clock::time_point::max();
    std::vector<char> read_buf_;
};

}  // namespace synthforge::llm
