#pragma once
// An incremental HTTP/1.1 response parser for the openai backend's native transport
// (http1_transport.h). Bytes arrive in whatever pieces the socket hands out; the parser keeps
// only the state it needs between pieces (a partial header or chunk-size line), appends body
// bytes straight into the caller's string and understands only what a JSON API client needs:
// the status, Content-Length, Transfer-Encoding: chunked, Connection and Retry-After.
//
// It rejects, with a reason, anything it cannot frame safely: a status line that is not
// HTTP/1.x, header blocks over the limit, conflicting lengths, codings other than chunked, a
// body over the limit. 1xx interim responses (100 Continue) are skipped. A response without a
// length is read until the server closes the connection (HTTP/1.0 style): finish_eof() then
// completes it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace synthforge::llm {

class Http1ResponseParser {
  public:
    enum class State { in_progress, done, error };
    enum class Error { none, malformed, header_too_large, body_too_large, truncated };

    struct Limits {
        size_t max_header_bytes = 64 * 1024;  // status line + headers of one response (1xx ones included)
        size_t max_body_bytes = 64u << 20;    // the decoded body
        size_t body_padding = 0;              // extra capacity kept behind the body (simdjson reads past it)
    };

    Http1ResponseParser() = default;
    explicit Http1ResponseParser(const Limits& limits) : limits_(limits) {}

    // Ready for the next response on the same connection.
    void reset();

    // Consumes bytes of the response, appending body bytes to `body`. Returns how many bytes were
    // consumed: all of them while in progress; on `done`, the bytes after the response are not
    // consumed (they belong to a response nobody asked for). Nothing is consumed once done or failed.
    size_t feed(const char* data, size_t n, std::string& body);

    // The server closed the connection: a body delimited by the close is complete, anything
    // else still in progress is truncated.
    void finish_eof();

    State state() const { return state_; }
    Error error() const { return error_; }
    const std::string& error_message() const { return message_; }
    bool done() const { return state_ == State::done; }
    bool failed() const { return state_ == State::error; }
    // Any byte of a response (interim ones included) has arrived.
    bool started() const { return started_; }

    int status() const { return status_; }
    // The connection may carry another request after this response.
    bool keep_alive() const { return keep_alive_; }
    // The last Retry-After value, trimmed; empty when absent.
    const std::string& retry_after() const { return retry_after_; }
    // -1 when the response has no Content-Length.
    int64_t content_length() const { return content_length_; }
    bool chunked() const { return framing_ == Framing::chunked; }

  private:
    enum class Phase { status_line, header_line, body_length, body_eof, chunk_size, chunk_data, chunk_crlf, trailer };
    enum class Framing { none, length, chunked, eof };

    bool fail(Error e, std::string message);
    bool on_line(std::string_view line);  // a complete header-phase line without its CRLF
    bool on_status_line(std::string_view line);
    bool on_header(std::string_view line);
    bool on_headers_done();
    bool on_chunk_size(std::string_view line);
    bool append_body(const char* data, size_t n, std::string& body);
    void complete();

    Limits limits_;
    State state_ = State::in_progress;
    Error error_ = Error::none;
    std::string message_;
    Phase phase_ = Phase::status_line;
    Framing framing_ = Framing::none;
    std::string line_;         // a partial line carried over between feeds
    size_t header_bytes_ = 0;  // of the current header block
    size_t body_bytes_ = 0;    // decoded body bytes so far
    uint64_t remaining_ = 0;   // of a Content-Length body or the current chunk
    bool started_ = false;
    int status_ = 0;
    bool http10_ = false;
    bool keep_alive_ = true;
    bool conn_close_ = false, conn_keep_alive_ = false;
    int64_t content_length_ = -1;
    bool te_chunked_ = false, te_other_ = false;
    std::string retry_after_;
};

}  // namespace synthforge::llm
