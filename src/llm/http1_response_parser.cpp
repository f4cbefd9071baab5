#include "llm/http1_response_parser.h"

#include <algorithm>
#include <cstring>

namespace synthforge::llm {

namespace {

// A chunk-size line is a hex number and optional extensions; nothing legitimate is this long.
constexpr size_t kMaxChunkLine = 4096;

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != b[i]) return false;
    return true;
}

bool is_token_char(char c) {
    if (c >= 'a' && c <= 'z') return true;
    if (c >= 'A' && c <= 'Z') return true;
    if (c >= '0' && c <= '9') return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

// Calls f(token) for each comma-separated element of a header value, trimmed, skipping empty ones.
template <typename F>
void for_each_token(std::string_view value, F&& f) {
    while (!value.empty()) {
        size_t comma = value.find(',');
        std::string_view item = trim_ows(value.substr(0, comma));
        if (!item.empty()) f(item);
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
}

std::string printable(std::string_view s, size_t max_chars = 60) {
    std::string out;
    for (char c : s.substr(0, max_chars)) {
        auto u = static_cast<unsigned char>(c);
        out += u >= 0x20 && u < 0x7f ? c : '?';
    }
    if (s.size() > max_chars) out += "...";
    return out;
}

}  // namespace

void Http1ResponseParser::reset() {
    state_ = State::in_progress;
    error_ = Error::none;
    message_.clear();
    phase_ = Phase::status_line;
    framing_ = Framing::none;
    line_.clear();
    header_bytes_ = 0;
    body_bytes_ = 0;
    remaining_ = 0;
    started_ = false;
    status_ = 0;
    http10_ = false;
    keep_alive_ = true;
    conn_close_ = conn_keep_alive_ = false;
    content_length_ = -1;
    te_chunked_ = te_other_ = false;
    retry_after_.clear();
}

bool Http1ResponseParser::fail(Error e, std::string message) {
    state_ = State::error;
    error_ = e;
    message_ = std::move(message);
    keep_alive_ = false;
    return false;
}

void Http1ResponseParser::complete() {
    state_ = State::done;
}

size_t Http1ResponseParser::feed(const char* data, size_t n, std::string& body) {
    if (state_ != State::in_progress) return 0;
    if (n > 0) started_ = true;
    size_t i = 0;
    while (i < n && state_ == State::in_progress) {
        switch (phase_) {
            case Phase::body_length: {
                const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, n - i));
                if (!append_body(data + i, take, body)) return i;
                i += take;
                remaining_ -= take;
                if (remaining_ == 0) complete();
                break;
            }
            case Phase::body_eof: {
                if (!append_body(data + i, n - i, body)) return i;
                i = n;
                break;
            }
            case Phase::chunk_data: {
                const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, n - i));
                if (!append_body(data + i, take, body)) return i;
                i += take;
                remaining_ -= take;
                if (remaining_ == 0) phase_ = Phase::chunk_crlf;
                break;
            }
            default: {  // a line: status, header, chunk size, CRLF after a chunk, trailer
                const void* lf = std::memchr(data + i, '\n', n - i);
                const size_t take = lf ? static_cast<size_t>(static_cast<const char*>(lf) - (data + i)) + 1 : n - i;
                const bool header_phase =
                    phase_ == Phase::status_line || phase_ == Phase::header_line || phase_ == Phase::trailer;
                if (header_phase) {
                    header_bytes_ += take;
                    if (header_bytes_ > limits_.max_header_bytes) {
                        fail(Error::header_too_large,
                             "response header larger than " + std::to_string(limits_.max_header_bytes) + " bytes");
                        return i;
                    }
                } else if (line_.size() + take > kMaxChunkLine) {
                    fail(Error::malformed, "chunk size line longer than " + std::to_string(kMaxChunkLine) + " bytes");
                    return i;
                }
                if (!lf) {
                    line_.append(data + i, take);
                    i += take;
                    break;
                }
                std::string_view line;
                if (line_.empty()) {
                    line = std::string_view(data + i, take - 1);
                } else {
                    line_.append(data + i, take - 1);
                    line = line_;
                }
                i += take;
                if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
                const bool ok = on_line(line);
                line_.clear();
                if (!ok) return i;
            }
        }
    }
    return i;
}

bool Http1ResponseParser::on_line(std::string_view line) {
    switch (phase_) {
        case Phase::status_line:
            return on_status_line(line);
        case Phase::header_line:
            return line.empty() ? on_headers_done() : on_header(line);
        case Phase::chunk_size:
            return on_chunk_size(line);
        case Phase::chunk_crlf:
            if (!line.empty()) return fail(Error::malformed, "chunk data not followed by CRLF");
            phase_ = Phase::chunk_size;
            return true;
        case Phase::trailer:
            if (line.empty()) complete();  // trailer fields are read and ignored
            return true;
        default:
            return fail(Error::malformed, "internal parser state");
    }
}

bool Http1ResponseParser::on_status_line(std::string_view line) {
    // HTTP/1.x SP 3DIGIT [SP reason]
    auto bad = [&] { return fail(Error::malformed, "malformed status line: '" + printable(line) + "'"); };
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ')
        return bad();
    int status = 0;
    for (size_t k = 9; k < 12; ++k) {
        if (line[k] < '0' || line[k] > '9') return bad();
        status = status * 10 + (line[k] - '0');
    }
    if (status < 100 || (line.size() > 12 && line[12] != ' ')) return bad();
    http10_ = line[7] == '0';
    status_ = status;
    phase_ = Phase::header_line;
    return true;
}

bool Http1ResponseParser::on_header(std::string_view line) {
    if (line.front() == ' ' || line.front() == '\t')
        return fail(Error::malformed, "obsolete folded header line: '" + printable(line) + "'");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
        return fail(Error::malformed, "malformed header line: '" + printable(line) + "'");
    const std::string_view name = line.substr(0, colon);
    for (char c : name)
        if (!is_token_char(c)) return fail(Error::malformed, "malformed header name: '" + printable(name) + "'");
    const std::string_view value = trim_ows(line.substr(colon + 1));
    // Only the headers that frame the body or steer retries matter; the rest are skipped.
    if (iequals(name, "content-length")) {
        bool ok = !value.empty();
        int64_t n = -1;
        for_each_token(value, [&](std::string_view item) {
            int64_t v = 0;
            for (char c : item) {
                if (c < '0' || c > '9' || v > (INT64_MAX - 9) / 10) {
                    ok = false;
                    return;
                }
                v = v * 10 + (c - '0');
            }
            if (n >= 0 && v != n) ok = false;
            n = v;
        });
        if (!ok || n < 0) return fail(Error::malformed, "malformed Content-Length: '" + printable(value) + "'");
        if (content_length_ >= 0 && content_length_ != n)
            return fail(Error::malformed, "conflicting Content-Length headers");
        content_length_ = n;
    } else if (iequals(name, "transfer-encoding")) {
        for_each_token(value, [&](std::string_view item) {
            if (iequals(item, "chunked")) {
                if (te_chunked_) te_other_ = true;  // chunked twice is not a valid coding list
                te_chunked_ = true;
            } else if (!iequals(item, "identity")) {
                te_other_ = true;
            } else if (te_chunked_) {
                te_other_ = true;  // chunked must be the last coding
            }
        });
    } else if (iequals(name, "connection")) {
        for_each_token(value, [&](std::string_view item) {
            if (iequals(item, "close")) conn_close_ = true;
            if (iequals(item, "keep-alive")) conn_keep_alive_ = true;
        });
    } else if (iequals(name, "retry-after")) {
        retry_after_.assign(value);
    }
    return true;
}

bool Http1ResponseParser::on_headers_done() {
    if (status_ < 200) {
        // 1xx: an interim response without a body; the real one follows on the same connection.
        if (status_ == 101) return fail(Error::malformed, "unexpected 101 Switching Protocols");
        const size_t seen = header_bytes_;
        phase_ = Phase::status_line;
        conn_close_ = conn_keep_alive_ = false;
        content_length_ = -1;
        te_chunked_ = te_other_ = false;
        retry_after_.clear();
        header_bytes_ = seen;  // interim headers count against the same limit
        return true;
    }
    keep_alive_ = http10_ ? (conn_keep_alive_ && !conn_close_) : !conn_close_;
    if (status_ == 204 || status_ == 304) {
        framing_ = Framing::none;
        complete();
        return true;
    }
    if (te_other_) return fail(Error::malformed, "unsupported Transfer-Encoding (only chunked is understood)");
    if (te_chunked_) {
        // With both, the chunking frames the body and the length is a smuggling hazard: the
        // connection is not reused (RFC 9112, 6.3).
        if (content_length_ >= 0) keep_alive_ = false;
        framing_ = Framing::chunked;
        phase_ = Phase::chunk_size;
        return true;
    }
    if (content_length_ >= 0) {
        if (static_cast<uint64_t>(content_length_) > limits_.max_body_bytes)
            return fail(Error::body_too_large, "response body larger than " + std::to_string(limits_.max_body_bytes) +
                                                   " bytes (Content-Length " + std::to_string(content_length_) + ")");
        framing_ = Framing::length;
        remaining_ = static_cast<uint64_t>(content_length_);
        if (remaining_ == 0) {
            complete();
        } else {
            phase_ = Phase::body_length;
        }
        return true;
    }
    // No length: the body runs until the server closes the connection.
    framing_ = Framing::eof;
    keep_alive_ = false;
    phase_ = Phase::body_eof;
    return true;
}

bool Http1ResponseParser::on_chunk_size(std::string_view line) {
    // 1*HEXDIG [ BWS ";" extensions ]
    uint64_t size = 0;
    size_t k = 0;
    for (; k < line.size(); ++k) {
        const char c = line[k];
        int d;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        } else {
            break;
        }
        if (k >= 15) return fail(Error::malformed, "chunk size too large");
        size = size * 16 + static_cast<uint64_t>(d);
    }
    const std::string_view rest = trim_ows(line.substr(k));
    if (k == 0 || (!rest.empty() && rest.front() != ';'))
        return fail(Error::malformed, "malformed chunk size line: '" + printable(line) + "'");
    if (size == 0) {
        phase_ = Phase::trailer;
        header_bytes_ = 0;
        return true;
    }
    if (body_bytes_ + size > limits_.max_body_bytes)
        return fail(Error::body_too_large,
                    "response body larger than " + std::to_string(limits_.max_body_bytes) + " bytes");
    remaining_ = size;
    phase_ = Phase::chunk_data;
    return true;
}

bool Http1ResponseParser::append_body(const char* data, size_t n, std::string& body) {
    if (body_bytes_ + n > limits_.max_body_bytes)
        return fail(Error::body_too_large,
                    "response body larger than " + std::to_string(limits_.max_body_bytes) + " bytes");
    if (n == 0) return true;
    const size_t need = body.size() + n + limits_.body_padding;
    if (need > body.capacity()) {
        // A known length is reserved at once; otherwise doubling keeps appends amortised.
        size_t want = std::max(need, 2 * body.capacity());
        if (framing_ == Framing::length) want = std::max(need, body.size() + remaining_ + limits_.body_padding);
        body.reserve(want);
    }
    body.append(data, n);
    body_bytes_ += n;
    return true;
}

void Http1ResponseParser::finish_eof() {
    if (state_ != State::in_progress) return;
    switch (phase_) {
        case Phase::body_eof:
            complete();
            return;
        case Phase::status_line:
            if (!started_) {
                fail(Error::truncated, "connection closed before any response byte");
                return;
            }
            [[fallthrough]];
        case Phase::header_line:
            fail(Error::truncated, "connection closed inside the response header");
            return;
        case Phase::body_length:
            fail(Error::truncated, "connection closed after " + std::to_string(body_bytes_) + " of " +
                                       std::to_string(content_length_) + " body bytes");
            return;
        default:
            fail(Error::truncated,
                 "connection closed inside a chunked body after " + std::to_string(body_bytes_) + " body bytes");
    }
}

}  // namespace synthforge::llm
