// The native HTTP/1.1 transport against a scripted raw-socket server on loopback: response
// framings the fixture server never sends (chunked, close-delimited, 100 Continue), a keep-alive
// connection closed under a request (resent once, not an attempt), limits, and how the openai
// backend chooses between the native transport and libcurl.

#include "llm/http1_transport.h"
#include "llm/openai_backend.h"
#include "synthforge/errors.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using namespace synthforge;
using namespace synthforge::llm;

namespace {

// Reads one request (head and Content-Length body); false when the client closed first.
bool read_request(int fd, std::string& pending) {
    while (true) {
        size_t end = pending.find("\r\n\r\n");
        if (end != std::string::npos) {
            size_t length = 0;
            size_t cl = pending.find("Content-Length: ");
            if (cl != std::string::npos && cl < end) length = std::stoul(pending.substr(cl + 16));
            if (pending.size() >= end + 4 + length) {
                pending.erase(0, end + 4 + length);
                return true;
            }
        }
        char buf[4096];
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return false;
        pending.append(buf, static_cast<size_t>(n));
    }
}

void write_all(int fd, const std::string& s) {
    size_t at = 0;
    while (at < s.size()) {
        ssize_t n = ::write(fd, s.data() + at, s.size() - at);
        if (n <= 0) return;
        at += static_cast<size_t>(n);
    }
}

// Accepts connections on a loopback port and runs `handler(fd, connection_number)` for each,
// one at a time, on its own thread.
class ScriptedServer {
  public:
    explicit ScriptedServer(std::function<void(int, int)> handler) : handler_(std::move(handler)) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 16) != 0 ||
            ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            throw std::runtime_error("cannot listen on loopback");
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] {
            for (int k = 0;; ++k) {
                int fd = ::accept(listen_fd_, nullptr, nullptr);
                if (fd < 0 || stop_) {
                    if (fd >= 0) ::close(fd);
                    return;
                }
                connections_++;
                handler_(fd, k);
                ::close(fd);
            }
        });
    }
    ~ScriptedServer() {
        stop_ = true;
        ::shutdown(listen_fd_, SHUT_RDWR);
        ::close(listen_fd_);
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
    int port() const { return port_; }
    int connections() const { return connections_; }

  private:
    std::function<void(int, int)> handler_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    std::thread thread_;
};

std::string completion_json(const std::string& text) {
    return R"({"choices":[{"message":{"role":"assistant","content":")" + text +
           R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}})";
}

std::string ok_response(const std::string& body, const std::string& extra = "") {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Runs one request through a bare transport and returns its result.
Http1Transport::Result run_one(Http1Transport& t, int origin, std::string& response, const std::string& body = "{}") {
    std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ";
    t.start(origin, head, body, response, &response);
    std::vector<Http1Transport::Result> out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (out.empty() && std::chrono::steady_clock::now() < deadline) t.poll(100, out);
    if (out.empty()) throw std::runtime_error("no result");
    EXPECT_EQ(out[0].user, &response);
    return out[0];
}

Request chat(const std::string& text) {
    Request r;
    r.messages = {{"user", text}};
    r.sampling.max_tokens = 8;
    return r;
}

Outcome one_outcome(Backend& backend, uint64_t id, const Request& r) {
    backend.submit(id, r);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline)
        for (auto& [got, outcome] : backend.wait(std::chrono::milliseconds(100)))
            if (got == id) return outcome;
    throw std::runtime_error("no outcome");
}

OpenAiBackendOptions options(const std::string& url, const std::string& transport) {
    OpenAiBackendOptions o;
    o.base_urls = {url};
    o.model = "m";
    o.http_transport = transport;
    o.max_concurrency = 1;
    o.max_attempts = 2;
    o.timeout_s = 10;
    o.backoff_base_s = 0.01;
    o.backoff_cap_s = 0.02;
    o.event_loop_threads = 1;
    return o;
}

}  // namespace

TEST(Http1Transport, ChunkedCloseDelimitedAndInterimResponses) {
    const std::string chunked =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\n\r\n";
    const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n" + ok_response("second");
    const std::string until_close = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close";
    ScriptedServer server([&](int fd, int k) {
        std::string pending;
        if (k == 0) {
            // Both keep-alive answers on one connection, written in small pieces.
            for (const std::string& answer : {chunked, interim}) {
                if (!read_request(fd, pending)) return;
                for (size_t at = 0; at < answer.size(); at += 7) {
                    write_all(fd, answer.substr(at, 7));
                    std::this_thread::sleep_for(std::chrono::microseconds(200));
                }
            }
        }
        if (read_request(fd, pending)) write_all(fd, until_close);  // then close
    });
    Http1Transport t({});
    int origin = t.add_origin("127.0.0.1", std::to_string(server.port()));
    std::string a, b, c;
    auto ra = run_one(t, origin, a);
    EXPECT_EQ(ra.failure, Http1Transport::Failure::none) << ra.message;
    EXPECT_EQ(a, "abcdefg");
    auto rb = run_one(t, origin, b);
    EXPECT_EQ(rb.failure, Http1Transport::Failure::none) << rb.message;
    EXPECT_EQ(rb.status, 200);
    EXPECT_EQ(b, "second");
    EXPECT_TRUE(rb.reused_connection);
    auto rc = run_one(t, origin, c);  // still the first connection, closed after this answer
    EXPECT_EQ(rc.failure, Http1Transport::Failure::none) << rc.message;
    EXPECT_EQ(c, "until close");
    EXPECT_EQ(server.connections(), 1);
}

TEST(Http1Transport, BodyOverTheLimitAndGarbageAreFailuresWithReasons) {
    ScriptedServer server([&](int fd, int k) {
        std::string pending;
        if (!read_request(fd, pending)) return;
        write_all(fd, k == 0 ? ok_response(std::string(5000, 'x')) : "SSH-2.0-OpenSSH_9.2\r\n");
    });
    Http1Transport::Options o;
    o.limits.max_body_bytes = 1000;
    Http1Transport t(o);
    int origin = t.add_origin("127.0.0.1", std::to_string(server.port()));
    std::string a, b;
    auto ra = run_one(t, origin, a);
    EXPECT_EQ(ra.failure, Http1Transport::Failure::too_large);
    EXPECT_NE(ra.message.find("larger than 1000 bytes"), std::string::npos) << ra.message;
    auto rb = run_one(t, origin, b);
    EXPECT_EQ(rb.failure, Http1Transport::Failure::protocol);
    EXPECT_NE(rb.message.find("malformed status line: 'SSH-2.0-OpenSSH_9.2'"), std::string::npos) << rb.message;
}

TEST(Http1Transport, RefusedConnectionAndTimeoutAreReported) {
    Http1Transport::Options o;
    o.timeout_s = 0.3;
    Http1Transport t(o);
    // A listener that never accepts or answers: the connect succeeds, the response never comes.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(fd, 4), 0);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const std::string silent_port = std::to_string(ntohs(addr.sin_port));
    std::string a, b;
    auto start = std::chrono::steady_clock::now();
    auto ra = run_one(t, t.add_origin("127.0.0.1", silent_port), a);
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(ra.failure, Http1Transport::Failure::timeout);
    EXPECT_NE(ra.message.find("timed out after"), std::string::npos) << ra.message;
    EXPECT_GE(took, 0.29);
    EXPECT_LT(took, 2.0);
    ::close(fd);  // now nothing listens there
    auto rb = run_one(t, t.add_origin("127.0.0.1", silent_port), b);
    EXPECT_EQ(rb.failure, Http1Transport::Failure::connect);
    EXPECT_NE(rb.message.find("Connection refused"), std::string::npos) << rb.message;
}

class TransportSelection : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Transports, TransportSelection, ::testing::Values("native", "curl"),
                         [](const auto& info) { return info.param; });

// A server closes an idle keep-alive connection just as the next request arrives on it: the
// request goes again on a new connection, without costing an attempt (libcurl does the same).
TEST_P(TransportSelection, RequestOnAConnectionTheServerClosedIsResentOnce) {
    ScriptedServer server([&](int fd, int k) {
        std::string pending;
        if (!read_request(fd, pending)) return;
        write_all(fd, ok_response(completion_json("answer " + std::to_string(k))));
        if (k == 0) read_request(fd, pending);  // the second request arrives; close without a word
    });
    auto opt = options(server.url(), GetParam());
    opt.max_attempts = 1;  // a resend counted as an attempt would fail the request
    OpenAiBackend backend(opt);
    Outcome first = one_outcome(backend, 0, chat("a"));
    ASSERT_TRUE(first.ok()) << first.error;
    EXPECT_EQ(first.response->text, "answer 0");
    Outcome second = one_outcome(backend, 1, chat("b"));
    ASSERT_TRUE(second.ok()) << second.error;
    EXPECT_EQ(second.response->text, "answer 1");
    EXPECT_EQ(second.attempts, 1);
    EXPECT_EQ(server.connections(), 2);
    EXPECT_EQ(backend.stats().transport, GetParam());
}

// A fresh connection closed without an answer is a failed attempt (retryable), not a resend.
TEST_P(TransportSelection, EmptyReplyOnAFreshConnectionIsARetryableFailure) {
    ScriptedServer server([&](int fd, int) {
        std::string pending;
        read_request(fd, pending);
    });
    OpenAiBackend backend(options(server.url(), GetParam()));
    Outcome o = one_outcome(backend, 0, chat("a"));
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.attempts, 2);
    EXPECT_NE(o.error.find("gave up after 2 attempts"), std::string::npos) << o.error;
    EXPECT_NE(o.error.find("Empty reply from server"), std::string::npos) << o.error;
}

// A server's error body nested 100 000 levels deep (a hostile or broken server; 200 KB) is
// reported as text. nlohmann's parser and destructor are iterative, so it needs no depth
// guard; this keeps it that way (copying or dumping such a value would recurse).
TEST_P(TransportSelection, ADeeplyNestedErrorBodyIsAMessageNotACrash) {
    const std::string body = std::string(100000, '[') + std::string(100000, ']');
    ScriptedServer server([&](int fd, int) {
        std::string pending;
        if (!read_request(fd, pending)) return;
        write_all(fd, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body);
    });
    OpenAiBackend backend(options(server.url(), GetParam()));
    Outcome o = one_outcome(backend, 0, chat("a"));
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.attempts, 1) << "a 400 is not retried";
    EXPECT_NE(o.error.find("400"), std::string::npos) << o.error.substr(0, 300);
    EXPECT_NE(o.error.find("[[[["), std::string::npos) << o.error.substr(0, 300);
}

TEST(Http1Transport, AutoPicksNativeOnlyForPlainHttpWithoutAProxy) {
    auto transport = [](const std::string& url, const std::string& mode = "auto") {
        OpenAiBackend b(options(url, mode));
        return b.stats().transport;
    };
    ::unsetenv("http_proxy");
    ::unsetenv("HTTP_PROXY");
    ::unsetenv("all_proxy");
    ::unsetenv("ALL_PROXY");
    EXPECT_EQ(transport("http://127.0.0.1:9/v1"), "native");
    EXPECT_EQ(transport("http://[::1]:9/v1"), "native");
    EXPECT_EQ(transport("https://127.0.0.1:9/v1"), "curl");
    EXPECT_EQ(transport("http://u:p@127.0.0.1:9/v1"), "curl");
    EXPECT_EQ(transport("http://127.0.0.1:9/v1", "curl"), "curl");
    EXPECT_THROW(transport("https://127.0.0.1:9/v1", "native"), UserError);
    EXPECT_THROW(transport("http://127.0.0.1:9/v1", "fast"), UserError);
    ::setenv("http_proxy", "http://proxy.invalid:3128", 1);
    EXPECT_EQ(transport("http://10.1.2.3:9/v1"), "curl");
    EXPECT_EQ(transport("http://10.1.2.3:9/v1", "native"), "native");  // asked for explicitly
    ::setenv("no_proxy", "localhost, .internal.example,10.1.2.3", 1);
    EXPECT_EQ(transport("http://10.1.2.3:9/v1"), "native");
    EXPECT_EQ(transport("http://gpu1.internal.example:9/v1"), "native");
    EXPECT_EQ(transport("http://internal.example.com:9/v1"), "curl");
    ::setenv("no_proxy", "*", 1);
    EXPECT_EQ(transport("http://10.9.9.9:9/v1"), "native");
    ::unsetenv("http_proxy");
    ::unsetenv("no_proxy");
}

TEST(Http1Transport, UrlsTheNativeTransportTakesAndLeaves) {
    auto u = parse_http1_url("http://gpu-1.lan:8000/v1");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->host, "gpu-1.lan");
    EXPECT_EQ(u->port, "8000");
    EXPECT_EQ(u->host_header, "gpu-1.lan:8000");
    EXPECT_EQ(u->path, "/v1");
    auto bare = parse_http1_url("HTTP://example.com");
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->port, "80");
    EXPECT_EQ(bare->path, "");
    auto v6 = parse_http1_url("http://[::1]:8080/api/v1");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->host_header, "[::1]:8080");
    for (const char* bad : {"https://a/v1", "http://u:p@a/v1", "http://a/v1?key=1", "http://a:0/v1", "http://a:x/v1",
                            "http:///v1", "http://a/v 1", "ftp://a/"}) {
        std::string why;
        EXPECT_FALSE(parse_http1_url(bad, &why)) << bad;
        EXPECT_FALSE(why.empty()) << bad;
    }
}
