// The native transport's HTTP/1.1 response parser: every response must parse the same whatever
// pieces the socket delivers it in, and anything that cannot be framed safely is rejected with
// a reason.

#include "llm/http1_response_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

using synthforge::llm::Http1ResponseParser;
using Error = Http1ResponseParser::Error;

namespace {

struct Parsed {
    Http1ResponseParser::State state = Http1ResponseParser::State::in_progress;
    Error error = Error::none;
    std::string message;
    int status = 0;
    bool keep_alive = false;
    std::string retry_after;
    std::string body;
    size_t consumed = 0;  // bytes of the input the response took
};

Parsed finish(Http1ResponseParser& p, std::string body, size_t consumed, bool eof) {
    if (eof) p.finish_eof();
    Parsed r;
    r.state = p.state();
    r.error = p.error();
    r.message = p.error_message();
    r.status = p.status();
    r.keep_alive = p.keep_alive();
    r.retry_after = p.retry_after();
    r.body = std::move(body);
    r.consumed = consumed;
    return r;
}

// Feeds `wire` in the given piece sizes (the last piece takes the rest); `eof` closes after it.
Parsed parse_in_pieces(const std::string& wire, const std::vector<size_t>& pieces, bool eof,
                       Http1ResponseParser::Limits limits = {}) {
    Http1ResponseParser p(limits);
    std::string body;
    size_t at = 0, consumed = 0;
    for (size_t k = 0; at < wire.size(); ++k) {
        size_t n = k < pieces.size() ? std::min(pieces[k], wire.size() - at) : wire.size() - at;
        consumed += p.feed(wire.data() + at, n, body);
        at += n;
        if (p.state() != Http1ResponseParser::State::in_progress) break;
    }
    return finish(p, std::move(body), consumed, eof && p.state() == Http1ResponseParser::State::in_progress);
}

Parsed parse_whole(const std::string& wire, bool eof = false, Http1ResponseParser::Limits limits = {}) {
    return parse_in_pieces(wire, {}, eof, limits);
}

// The same response fed whole, byte by byte and in random pieces must give the same result.
Parsed parse_every_way(const std::string& wire, bool eof = false, Http1ResponseParser::Limits limits = {}) {
    Parsed whole = parse_whole(wire, eof, limits);
    std::vector<size_t> ones(wire.size(), 1);
    std::vector<Parsed> others = {parse_in_pieces(wire, ones, eof, limits)};
    std::mt19937 rng(12345);
    for (int trial = 0; trial < 50; ++trial) {
        std::vector<size_t> pieces;
        for (size_t total = 0; total < wire.size();) {
            size_t n = std::uniform_int_distribution<size_t>(1, 17)(rng);
            pieces.push_back(n);
            total += n;
        }
        others.push_back(parse_in_pieces(wire, pieces, eof, limits));
    }
    for (const Parsed& o : others) {
        EXPECT_EQ(o.state, whole.state);
        EXPECT_EQ(o.error, whole.error);
        EXPECT_EQ(o.message, whole.message);
        EXPECT_EQ(o.status, whole.status);
        EXPECT_EQ(o.keep_alive, whole.keep_alive);
        EXPECT_EQ(o.retry_after, whole.retry_after);
        // A failed response's partial body is thrown away: only a complete one must match.
        if (whole.state == Http1ResponseParser::State::done) {
            EXPECT_EQ(o.body, whole.body);
            EXPECT_EQ(o.consumed, whole.consumed);
        }
    }
    return whole;
}

constexpr auto kDone = Http1ResponseParser::State::done;
constexpr auto kFailed = Http1ResponseParser::State::error;

}  // namespace

TEST(Http1ResponseParser, ContentLengthBodyInAnyPieces) {
    const std::string wire =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n"
        "{\"choices\":[{\"text\":\"hi\"}]}";
    Parsed r = parse_every_way(wire);
    EXPECT_EQ(r.state, kDone) << r.message;
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(r.body, "{\"choices\":[{\"text\":\"hi\"}]}");
    EXPECT_EQ(r.consumed, wire.size());
}

TEST(Http1ResponseParser, BytesAfterTheResponseAreNotConsumed) {
    const std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    Parsed r = parse_every_way(first + "HTTP/1.1 200 OK\r\n");
    EXPECT_EQ(r.state, kDone);
    EXPECT_EQ(r.body, "ok");
    EXPECT_EQ(r.consumed, first.size());
}

TEST(Http1ResponseParser, ChunkedWithExtensionsAndTrailers) {
    const std::string wire =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;name=value\r\nhello\r\n"
        "1 ; ext\r\n,\r\n"
        "A\r\n 012345678\r\n"  // 10 bytes
        "0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n";
    Parsed r = parse_every_way(wire);
    ASSERT_EQ(r.state, kDone) << r.message;
    EXPECT_EQ(r.body, "hello, 012345678");
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(r.consumed, wire.size());
}

TEST(Http1ResponseParser, ChunkedBodyExactFraming) {
    const std::string wire =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
    Parsed r = parse_every_way(wire);
    ASSERT_EQ(r.state, kDone) << r.message;
    EXPECT_EQ(r.body, "abc0123456789abcdef");
    EXPECT_EQ(r.consumed, wire.size());
}

TEST(Http1ResponseParser, ContentLengthZeroAnd204HaveNoBody) {
    Parsed r = parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(r.state, kDone);
    EXPECT_EQ(r.body, "");
    EXPECT_TRUE(r.keep_alive);
    Parsed n = parse_every_way("HTTP/1.1 204 No Content\r\n\r\n");
    EXPECT_EQ(n.state, kDone);
    EXPECT_EQ(n.status, 204);
}

TEST(Http1ResponseParser, InterimResponsesAreSkipped) {
    Parsed r = parse_every_way(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n"
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After:  7 \r\nContent-Length: 4\r\n\r\nslow");
    EXPECT_EQ(r.state, kDone) << r.message;
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(r.retry_after, "7");
    EXPECT_EQ(r.body, "slow");
    EXPECT_EQ(parse_whole("HTTP/1.1 101 Switching Protocols\r\n\r\n").state, kFailed);
}

TEST(Http1ResponseParser, RetryAfterAsHttpDateIsKeptWhole) {
    Parsed r = parse_every_way(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: Wed, 21 Oct 2015 07:28:00 GMT\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.retry_after, "Wed, 21 Oct 2015 07:28:00 GMT");
}

TEST(Http1ResponseParser, ConnectionCloseAndHttp10KeepAlive) {
    EXPECT_FALSE(parse_every_way("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx").keep_alive);
    EXPECT_FALSE(
        parse_every_way("HTTP/1.1 200 OK\r\nCONNECTION: Upgrade, Close\r\nContent-Length: 0\r\n\r\n").keep_alive);
    EXPECT_FALSE(parse_every_way("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx").keep_alive);
    EXPECT_TRUE(parse_every_way("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx").keep_alive);
}

TEST(Http1ResponseParser, BodyWithoutLengthRunsUntilClose) {
    const std::string wire = "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\": 1}";
    Parsed open = parse_whole(wire, /*eof=*/false);
    EXPECT_EQ(open.state, Http1ResponseParser::State::in_progress);
    Parsed r = parse_every_way(wire, /*eof=*/true);
    EXPECT_EQ(r.state, kDone) << r.message;
    EXPECT_EQ(r.body, "{\"a\": 1}");
    EXPECT_FALSE(r.keep_alive);
}

TEST(Http1ResponseParser, CloseBeforeTheEndIsTruncation) {
    Parsed body = parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"choices\":", true);
    EXPECT_EQ(body.state, kFailed);
    EXPECT_EQ(body.error, Error::truncated);
    EXPECT_EQ(body.message, "connection closed after 11 of 100 body bytes");
    Parsed head = parse_every_way("HTTP/1.1 200 OK\r\nContent-Len", true);
    EXPECT_EQ(head.error, Error::truncated);
    Parsed chunk = parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", true);
    EXPECT_EQ(chunk.error, Error::truncated);
    Http1ResponseParser none;
    none.finish_eof();
    EXPECT_EQ(none.error(), Error::truncated);
    EXPECT_FALSE(none.started());
}

TEST(Http1ResponseParser, OversizeHeaderAndBodyAreRejected) {
    Http1ResponseParser::Limits limits;
    limits.max_header_bytes = 128;
    limits.max_body_bytes = 10;
    Parsed head = parse_every_way("HTTP/1.1 200 OK\r\nX-Big: " + std::string(200, 'a') + "\r\n\r\n", false, limits);
    EXPECT_EQ(head.error, Error::header_too_large);
    Parsed declared = parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", false, limits);
    EXPECT_EQ(declared.error, Error::body_too_large);
    Parsed chunked = parse_every_way(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n", false, limits);
    EXPECT_EQ(chunked.error, Error::body_too_large);
    Parsed until_close = parse_every_way("HTTP/1.1 200 OK\r\n\r\n" + std::string(11, 'x'), true, limits);
    EXPECT_EQ(until_close.error, Error::body_too_large);
    Parsed fits = parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", false, limits);
    EXPECT_EQ(fits.state, kDone);
}

TEST(Http1ResponseParser, MalformedResponsesAreRejectedWithAReason) {
    for (const std::string wire : {
             std::string("garbage\r\n\r\n"),
             std::string("HTTP/2 200 OK\r\n\r\n"),
             std::string("HTTP/1.1 20 OK\r\n\r\n"),
             std::string("HTTP/1.1 2000 OK\r\n\r\n"),
             std::string("HTTP/1.1 abc OK\r\n\r\n"),
             std::string("HTTP/1.1 099 Low\r\n\r\n"),
             std::string("{\"choices\": []}\r\n"),
             std::string("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"),
             std::string("HTTP/1.1 200 OK\r\n: empty name\r\n\r\n"),
             std::string("HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n"),
             std::string("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
             std::string("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
             std::string("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
             std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
             std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
             std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY\r\n"),
         }) {
        Parsed r = parse_every_way(wire);
        EXPECT_EQ(r.state, kFailed) << wire;
        EXPECT_EQ(r.error, Error::malformed) << wire;
        EXPECT_FALSE(r.message.empty()) << wire;
        EXPECT_FALSE(r.keep_alive) << wire;
    }
    EXPECT_NE(parse_whole("garbage\r\n").message.find("malformed status line: 'garbage'"), std::string::npos);
}

TEST(Http1ResponseParser, ResetReadiesTheParserForTheNextResponse) {
    Http1ResponseParser p;
    std::string body;
    const std::string a = "HTTP/1.1 500 Oops\r\nRetry-After: 3\r\nContent-Length: 1\r\n\r\nx";
    EXPECT_EQ(p.feed(a.data(), a.size(), body), a.size());
    EXPECT_EQ(p.status(), 500);
    p.reset();
    body.clear();
    const std::string b = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    EXPECT_EQ(p.feed(b.data(), b.size(), body), b.size());
    EXPECT_TRUE(p.done());
    EXPECT_EQ(p.status(), 200);
    EXPECT_EQ(p.retry_after(), "");
    EXPECT_EQ(body, "ok");
}
