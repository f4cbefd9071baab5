#include "llm/http1_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace synthforge::llm {

namespace {

constexpr size_t kReadBuffer = 64 * 1024;
constexpr int kMaxEvents = 256;

std::string errno_text(int err) {
    return std::strerror(err);
}

Http1Transport::Clock::duration from_seconds(double s) {
    return std::chrono::duration_cast<Http1Transport::Clock::duration>(std::chrono::duration<double>(std::max(0.0, s)));
}

long long ms_between(Http1Transport::Clock::time_point a, Http1Transport::Clock::time_point b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

}  // namespace

std::optional<Http1Url> parse_http1_url(const std::string& url, std::string* why) {
    auto no = [&](const char* reason) -> std::optional<Http1Url> {
        if (why) *why = reason;
        return std::nullopt;
    };
    if (lower(url.substr(0, 7)) != "http://") return no("not an http:// URL");
    const std::string rest = url.substr(7);
    const size_t slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    Http1Url u;
    u.path = slash == std::string::npos ? std::string() : rest.substr(slash);
    if (authority.find('@') != std::string::npos) return no("credentials in the URL");
    if (url.find_first_of("?#") != std::string::npos) return no("a query or fragment in the URL");
    if (authority.empty()) return no("no host");
    std::string port;
    if (authority.front() == '[') {
        const size_t close = authority.find(']');
        if (close == std::string::npos) return no("unterminated IPv6 literal");
        u.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') return no("junk after the IPv6 literal");
            port = authority.substr(close + 2);
        }
    } else {
        const size_t colon = authority.find(':');
        u.host = authority.substr(0, colon);
        if (colon != std::string::npos) port = authority.substr(colon + 1);
    }
    if (u.host.empty()) return no("no host");
    for (char c : u.host)
        if (static_cast<unsigned char>(c) <= 0x20 || c == '%') return no("unusual characters in the host");
    if (!port.empty()) {
        int p = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535) return no("bad port");
    }
    u.port = port.empty() ? "80" : port;
    u.host_header = authority;
    for (char c : u.path)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
            return no("characters in the path that need escaping");
    return u;
}

bool proxy_applies_to(const std::string& host) {
    bool proxy = false;
    for (const char* name : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"}) {
        const char* v = std::getenv(name);
        if (v && *v) proxy = true;
    }
    if (!proxy) return false;
    const std::string h = lower(host);
    for (const char* name : {"no_proxy", "NO_PROXY"}) {
        const char* v = std::getenv(name);
        if (!v) continue;
        std::string list = v;
        size_t at = 0;
        while (at <= list.size()) {
            size_t comma = list.find(',', at);
            if (comma == std::string::npos) comma = list.size();
            std::string item = list.substr(at, comma - at);
            at = comma + 1;
            item.erase(0, item.find_first_not_of(" \t"));
            item.erase(item.find_last_not_of(" \t") + 1);
            if (item.empty()) continue;
            if (item == "*") return false;
            item = lower(item);
            if (item.front() == '.') item.erase(0, 1);
            if (h == item) return false;
            if (h.size() > item.size() && h.compare(h.size() - item.size(), item.size(), item) == 0 &&
                h[h.size() - item.size() - 1] == '.')
                return false;
        }
    }
    return true;
}

struct Http1Transport::Origin {
    std::string host, port;
    std::vector<sockaddr_storage> addrs;  // resolved once, on first use
    std::vector<socklen_t> addr_lens;
    size_t preferred = 0;     // the address that last connected
    std::vector<Conn*> idle;  // keep-alive connections waiting for a request, most recent last
};

struct Http1Transport::Conn {
    int fd = -1;
    int origin = 0;
    Transfer* transfer = nullptr;
    uint32_t events = 0;  // registered with epoll
    bool connecting = false;
    bool reused = false;  // has carried a complete response: may have been closed by the server meanwhile
    size_t addr = 0;      // index into the origin's addresses
    Clock::time_point connect_start{};
};

struct Http1Transport::Transfer {
    void* user = nullptr;
    int origin = 0;
    std::string_view prefix;
    char length[32] = {};  // "<n>\r\n\r\n"
    size_t length_n = 0;
    const std::string* body = nullptr;
    std::string* response = nullptr;
    size_t sent = 0;
    Http1ResponseParser parser;
    Clock::time_point start{}, deadline{};
    Conn* conn = nullptr;
    size_t active_index = 0;
    bool resent = false;
    bool reused = false;
    size_t addr_tries = 0;  // addresses tried for this attempt's connection
};

Http1Transport::Http1Transport(const Options& options)
    : opt_(options),
      connect_timeout_(from_seconds(options.connect_timeout_s)),
      timeout_(from_seconds(options.timeout_s)),
      read_buf_(kReadBuffer) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (event_fd_ < 0) {
        int err = errno;
        ::close(epoll_fd_);
        throw std::system_error(err, std::generic_category(), "eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the eventfd; connections carry their Conn*
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev);
}

Http1Transport::~Http1Transport() {
    for (auto& o : origins_)
        for (Conn* c : o->idle) {
            ::close(c->fd);
            delete c;
        }
    for (Transfer* t : active_) {
        if (t->conn) {
            if (t->conn->fd >= 0) ::close(t->conn->fd);
            delete t->conn;
        }
        delete t;
    }
    for (Conn* c : graveyard_) delete c;
    ::close(event_fd_);
    ::close(epoll_fd_);
}

int Http1Transport::add_origin(const std::string& host, const std::string& port) {
    auto o = std::make_unique<Origin>();
    o->host = host;
    o->port = port;
    origins_.push_back(std::move(o));
    return static_cast<int>(origins_.size() - 1);
}

// Every address refused: the next attempt resolves the name again (a server that moved).
void Http1Transport::forget_addresses(Origin& o) {
    o.addrs.clear();
    o.addr_lens.clear();
    o.preferred = 0;
}

std::string Http1Transport::describe(const Origin& o) const {
    return o.host + " port " + o.port;
}

void Http1Transport::wakeup() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(event_fd_, &one, sizeof one);
}

void Http1Transport::start(int origin, std::string_view head_prefix, const std::string& body, std::string& response,
                           void* user) {
    Transfer* t;
    if (!free_transfers_.empty()) {
        t = free_transfers_.back().release();
        free_transfers_.pop_back();
    } else {
        t = new Transfer();
        t->parser = Http1ResponseParser(opt_.limits);
    }
    t->user = user;
    t->origin = origin;
    t->prefix = head_prefix;
    auto [end, ec] = std::to_chars(t->length, t->length + 20, body.size());
    std::memcpy(end, "\r\n\r\n", 4);
    t->length_n = static_cast<size_t>(end + 4 - t->length);
    t->body = &body;
    t->response = &response;
    t->sent = 0;
    t->parser.reset();
    t->start = Clock::now();
    t->deadline = t->start + timeout_;
    t->conn = nullptr;
    t->resent = false;
    t->reused = false;
    t->addr_tries = 0;
    t->active_index = active_.size();
    active_.push_back(t);
    next_deadline_ = std::min(next_deadline_, t->deadline);

    Origin& o = *origins_[static_cast<size_t>(origin)];
    if (!o.idle.empty()) {
        Conn* c = o.idle.back();
        o.idle.pop_back();
        c->transfer = t;
        t->conn = c;
        t->reused = true;
        send_request(*t);
    } else {
        open_connection(*t);
    }
}

void Http1Transport::open_connection(Transfer& t) {
    Origin& o = *origins_[static_cast<size_t>(t.origin)];
    if (o.addrs.empty()) {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_ADDRCONFIG;
        addrinfo* res = nullptr;
        int rc = ::getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &res);
        if (rc != 0 || !res) {
            finish(t, Failure::resolve, "Could not resolve host: " + o.host);
            return;
        }
        for (addrinfo* a = res; a; a = a->ai_next) {
            sockaddr_storage ss{};
            std::memcpy(&ss, a->ai_addr, a->ai_addrlen);
            o.addrs.push_back(ss);
            o.addr_lens.push_back(static_cast<socklen_t>(a->ai_addrlen));
        }
        ::freeaddrinfo(res);
    }
    const size_t addr = (o.preferred + t.addr_tries) % o.addrs.size();
    const auto& ss = o.addrs[addr];
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        finish(t, Failure::connect, "Failed to create a socket: " + errno_text(errno));
        return;
    }
    int one = 1;
    // Requests are written whole; Nagle would hold the next one back waiting for an ACK.
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    auto* c = new Conn();
    c->fd = fd;
    c->origin = t.origin;
    c->transfer = &t;
    c->addr = addr;
    c->connect_start = Clock::now();
    t.conn = c;
    t.reused = false;
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&ss), o.addr_lens[addr]);
    epoll_event ev{};
    ev.data.ptr = c;
    if (rc == 0) {
        c->events = EPOLLIN;
        ev.events = c->events;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
        o.preferred = addr;
        send_request(t);
        return;
    }
    if (errno != EINPROGRESS) {
        int err = errno;
        close_connection(*c);
        t.conn = nullptr;
        if (++t.addr_tries < o.addrs.size()) return open_connection(t);
        forget_addresses(o);
        finish(t, Failure::connect, "Failed to connect to " + describe(o) + ": " + errno_text(err));
        return;
    }
    c->connecting = true;
    c->events = EPOLLOUT;
    ev.events = c->events;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    next_deadline_ = std::min(next_deadline_, c->connect_start + connect_timeout_);
}

void Http1Transport::set_events(Conn& c, uint32_t events) {
    if (c.events == events) return;
    c.events = events;
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = &c;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Http1Transport::send_request(Transfer& t) {
    Conn& c = *t.conn;
    const size_t total = t.prefix.size() + t.length_n + t.body->size();
    while (t.sent < total) {
        iovec iov[3];
        int n = 0;
        size_t skip = t.sent;
        auto add = [&](const char* p, size_t len) {
            if (skip >= len) {
                skip -= len;
                return;
            }
            iov[n].iov_base = const_cast<char*>(p + skip);
            iov[n].iov_len = len - skip;
            skip = 0;
            ++n;
        };
        add(t.prefix.data(), t.prefix.size());
        add(t.length, t.length_n);
        add(t.body->data(), t.body->size());
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = static_cast<size_t>(n);
        // MSG_NOSIGNAL: a peer that closed must give EPIPE, not kill the process with SIGPIPE.
        ssize_t w = ::sendmsg(c.fd, &msg, MSG_NOSIGNAL);
        if (w > 0) {
            t.sent += static_cast<size_t>(w);
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(c, EPOLLIN | EPOLLOUT);  // the rest when the socket drains
            return;
        }
        const int err = w < 0 ? errno : EPIPE;
        if (resend_if_stale(t)) return;
        close_connection(c);
        t.conn = nullptr;
        finish(t, Failure::send, "Send failure: " + errno_text(err));
        return;
    }
    set_events(c, EPOLLIN);
}

bool Http1Transport::resend_if_stale(Transfer& t) {
    // Like libcurl: a keep-alive connection the server closed while it sat idle fails the first
    // request written on it; that is not the request's fault and not an attempt.
    if (!t.reused || t.resent || t.parser.started()) return false;
    close_connection(*t.conn);
    t.conn = nullptr;
    t.resent = true;
    t.sent = 0;
    t.parser.reset();
    t.response->clear();
    t.addr_tries = 0;
    open_connection(t);
    return true;
}

void Http1Transport::poll(int timeout_ms, std::vector<Result>& out) {
    if (!finished_.empty()) timeout_ms = 0;
    // A poll that does not sleep needs no deadline arithmetic (and no clock read) first.
    if (timeout_ms != 0 && !active_.empty() && next_deadline_ != Clock::time_point::max()) {
        const auto left = next_deadline_ - Clock::now();
        const long long ms =
            left <= Clock::duration::zero() ? 0 : std::chrono::ceil<std::chrono::milliseconds>(left).count();
        if (timeout_ms < 0 || ms < timeout_ms) timeout_ms = static_cast<int>(std::min<long long>(ms, 1 << 30));
    }
    epoll_event events[kMaxEvents];
    int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
    now_ = Clock::now();
    for (int i = 0; i < n; ++i) {
        if (!events[i].data.ptr) {
            uint64_t v;
            [[maybe_unused]] ssize_t r = ::read(event_fd_, &v, sizeof v);
            continue;
        }
        auto* c = static_cast<Conn*>(events[i].data.ptr);
        if (c->fd < 0) continue;  // closed earlier in this batch
        on_event(*c, events[i].events);
    }
    if (now_ >= next_deadline_) check_deadlines();
    for (Conn* c : graveyard_) delete c;
    graveyard_.clear();
    for (auto& r : finished_) out.push_back(std::move(r));
    finished_.clear();
}

void Http1Transport::on_event(Conn& c, uint32_t events) {
    if (!c.transfer) {
        // An idle keep-alive connection became readable: the server closed it (or sent
        // something nobody asked for). Either way it cannot carry a request any more.
        Origin& o = *origins_[static_cast<size_t>(c.origin)];
        o.idle.erase(std::find(o.idle.begin(), o.idle.end(), &c));
        close_connection(c);
        return;
    }
    if (c.connecting) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
        return;
    }
    if ((events & EPOLLOUT) &&
        c.transfer->sent < c.transfer->prefix.size() + c.transfer->length_n + c.transfer->body->size()) {
        send_request(*c.transfer);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
}

void Http1Transport::on_connected(Conn& c) {
    Transfer& t = *c.transfer;
    Origin& o = *origins_[static_cast<size_t>(c.origin)];
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
        close_connection(c);
        t.conn = nullptr;
        if (++t.addr_tries < o.addrs.size()) return open_connection(t);
        forget_addresses(o);
        finish(t, Failure::connect,
               "Failed to connect to " + describe(o) + " after " + std::to_string(ms_between(c.connect_start, now_)) +
                   " ms: " + errno_text(err));
        return;
    }
    c.connecting = false;
    o.preferred = c.addr;
    send_request(t);
}

void Http1Transport::on_readable(Conn& c) {
    Transfer& t = *c.transfer;
    while (true) {
        ssize_t r = ::read(c.fd, read_buf_.data(), read_buf_.size());
        if (r > 0) {
            const size_t got = static_cast<size_t>(r);
            const size_t used = t.parser.feed(read_buf_.data(), got, *t.response);
            if (t.parser.done()) {
                // Bytes after the response would be a response to nobody: do not reuse.
                const bool keep = t.parser.keep_alive() && used == got;
                Conn* conn = t.conn;
                finish(t, Failure::none, "");
                release_connection(*conn, keep);
                return;
            }
            if (t.parser.failed()) {
                const auto e = t.parser.error();
                std::string msg = t.parser.error_message();
                close_connection(c);
                t.conn = nullptr;
                finish(t, e == Http1ResponseParser::Error::body_too_large ? Failure::too_large : Failure::protocol,
                       std::move(msg));
                return;
            }
            // Level-triggered: a short read means the socket is drained for now, and the next
            // read would only say EAGAIN.
            if (got < read_buf_.size()) return;
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        const int err = r < 0 ? errno : 0;
        if (resend_if_stale(t)) return;
        if (r < 0) {
            close_connection(c);
            t.conn = nullptr;
            finish(t, Failure::recv, "Recv failure: " + errno_text(err));
            return;
        }
        // EOF.
        t.parser.finish_eof();
        close_connection(c);
        t.conn = nullptr;
        if (t.parser.done()) {
            finish(t, Failure::none, "");
        } else if (!t.parser.started()) {
            finish(t, Failure::empty_reply, "Empty reply from server");
        } else {
            finish(t, Failure::truncated, t.parser.error_message());
        }
        return;
    }
}

void Http1Transport::release_connection(Conn& c, bool keep) {
    c.transfer = nullptr;
    if (!keep) {
        close_connection(c);
        return;
    }
    c.reused = true;
    origins_[static_cast<size_t>(c.origin)]->idle.push_back(&c);
}

void Http1Transport::close_connection(Conn& c) {
    if (c.fd >= 0) ::close(c.fd);  // leaves the epoll set with it
    c.fd = -1;
    c.transfer = nullptr;
    graveyard_.push_back(&c);
}

void Http1Transport::finish(Transfer& t, Failure failure, std::string message) {
    Result r;
    r.user = t.user;
    r.failure = failure;
    r.message = std::move(message);
    r.status = t.parser.status();
    r.retry_after = t.parser.retry_after();
    r.reused_connection = t.reused;
    const auto end = now_ > t.start ? now_ : Clock::now();
    r.latency_ms = std::chrono::duration<double, std::milli>(end - t.start).count();
    finished_.push_back(std::move(r));
    // Out of the active list: swap with the last.
    Transfer* last = active_.back();
    active_[t.active_index] = last;
    last->active_index = t.active_index;
    active_.pop_back();
    if (t.conn) t.conn->transfer = nullptr;
    t.conn = nullptr;
    t.body = nullptr;
    t.response = nullptr;
    free_transfers_.emplace_back(&t);
}

void Http1Transport::check_deadlines() {
    next_deadline_ = Clock::time_point::max();
    for (size_t i = 0; i < active_.size();) {
        Transfer& t = *active_[i];
        Conn* c = t.conn;
        const bool connecting = c && c->connecting;
        const auto connect_deadline = connecting ? c->connect_start + connect_timeout_ : Clock::time_point::max();
        if (now_ >= t.deadline || now_ >= connect_deadline) {
            std::string msg;
            if (now_ >= connect_deadline && connect_deadline <= t.deadline)
                msg = "Connection timed out after " + std::to_string(ms_between(c->connect_start, now_)) +
                      " milliseconds";
            else
                msg = "Operation timed out after " + std::to_string(ms_between(t.start, now_)) + " milliseconds with " +
                      std::to_string(t.response ? t.response->size() : 0) + " bytes received";
            if (c) close_connection(*c);
            t.conn = nullptr;
            finish(t, Failure::timeout, std::move(msg));  // swaps another transfer into slot i
            continue;
        }
        next_deadline_ = std::min({next_deadline_, t.deadline, connect_deadline});
        ++i;
    }
}

}  // namespace synthforge::llm
