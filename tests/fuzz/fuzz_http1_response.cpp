// libFuzzer target: the native HTTP transport's response parser (src/llm/http1_response_parser.cpp).
// Its input comes from the network, so any bytes are possible: a bad response must be a reason,
// never a crash, a hang or a runaway allocation. It also checks the parser's central promise:
// the result does not depend on how the bytes are split into reads.
#include "llm/http1_response_parser.h"

#include <cstdint>
#include <cstdlib>
#include <string>

using synthforge::llm::Http1ResponseParser;

namespace {

struct Outcome {
    Http1ResponseParser::State state;
    Http1ResponseParser::Error error;
    int status;
    bool keep_alive;
    std::string retry_after, body;
    size_t consumed;
};

// Feeds `data` in pieces whose sizes cycle through `steps` (whole when empty), then an EOF.
Outcome run(const uint8_t* data, size_t size, const uint8_t* steps, size_t n_steps) {
    Http1ResponseParser::Limits limits;
    limits.max_header_bytes = 2048;
    limits.max_body_bytes = 4096;
    Http1ResponseParser p(limits);
    std::string body;
    size_t at = 0, consumed = 0, k = 0;
    while (at < size && p.state() == Http1ResponseParser::State::in_progress) {
        size_t n = n_steps ? std::min<size_t>(size - at, steps[k++ % n_steps] % 16 + 1) : size - at;
        size_t used = p.feed(reinterpret_cast<const char*>(data) + at, n, body);
        if (used > n) std::abort();
        if (p.state() == Http1ResponseParser::State::in_progress && used != n) std::abort();
        consumed += used;
        at += n;
    }
    p.finish_eof();
    if (p.state() == Http1ResponseParser::State::in_progress) std::abort();  // EOF always settles it
    if (body.size() > limits.max_body_bytes) std::abort();
    if (p.failed() && p.error_message().empty()) std::abort();
    if (p.done() && (p.status() < 200 || p.status() > 999)) std::abort();
    return {p.state(), p.error(), p.status(), p.keep_alive(), p.retry_after(), body, consumed};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    // The first four bytes (or fewer) choose the read sizes; the rest is the response.
    const size_t n_steps = std::min<size_t>(4, size / 2);
    const uint8_t* steps = data;
    data += n_steps;
    size -= n_steps;
    Outcome whole = run(data, size, nullptr, 0);
    Outcome split = run(data, size, steps, n_steps);
    if (whole.state != split.state || whole.error != split.error || whole.status != split.status ||
        whole.keep_alive != split.keep_alive || whole.retry_after != split.retry_after)
        std::abort();
    // A failed response's partial body is thrown away, so only a complete one must match.
    if (whole.state == Http1ResponseParser::State::done &&
        (whole.consumed != split.consumed || whole.body != split.body))
        std::abort();
    return 0;
}
