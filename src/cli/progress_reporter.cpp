#include "progress_reporter.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>

namespace synthforge::cli {

std::string human_count(uint64_t n) {
    if (n >= 10'000'000) return fmt::format("{:.1f}M", n / 1e6);
    if (n >= 10'000) return fmt::format("{:.1f}k", n / 1e3);
    return std::to_string(n);
}

namespace {
std::string duration(double s) {
    auto t = static_cast<uint64_t>(s + 0.5);
    if (t >= 3600) return fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
    return fmt::format("{}:{:02}", t / 60, t % 60);
}
}  // namespace

ProgressReporter::ProgressReporter(FILE* out, bool quiet)
    : out_(out), quiet_(quiet), tty_(isatty(fileno(out)) != 0), last_(std::chrono::steady_clock::now()) {
    const char* env = std::getenv("SYNTHFORGE_PROGRESS_INTERVAL");
    interval_ = env ? std::atof(env) : (tty_ ? 0.2 : 10.0);
}

void ProgressReporter::operator()(const Progress& p) {
    if (quiet_) return;
    auto now = std::chrono::steady_clock::now();
    if (!p.finished && std::chrono::duration<double>(now - last_).count() < interval_) return;
    last_ = now;
    if (p.finished) {
        if (printed_live_ && tty_) fmt::print(out_, "\r\033[K");
        return;
    }
    double rate = p.elapsed_seconds > 0 ? p.rows_read / p.elapsed_seconds : 0;
    std::string line =
        fmt::format("stage {}/{} | read {} ({:.0f}/s) | out {} | rejected {}", p.stage + 1, p.stages,
                    human_count(p.rows_read), rate, human_count(p.rows_out), human_count(p.rows_rejected));
    if (p.bytes_total > 0 && p.bytes_read > 0 && p.stage == 0) {
        double frac = static_cast<double>(p.bytes_read) / p.bytes_total;
        line += fmt::format(" | {:.0f}%", frac * 100);
        if (frac > 0.01 && frac < 1) line += " ETA " + duration(p.elapsed_seconds * (1 - frac) / frac);
    }
    if (p.llm_requests || p.llm_in_flight) {
        line += fmt::format(" | llm {} done, {} in flight, {} retries", human_count(p.llm_requests), p.llm_in_flight,
                            human_count(p.llm_retries));
        if (p.llm_failures) line += fmt::format(", {} failed", human_count(p.llm_failures));
        if (p.llm_busy_seconds > 0) line += fmt::format(", {:.0f} tok/s", p.llm_completion_tokens / p.llm_busy_seconds);
    }
    if (p.blocks) {
        line += " |";
        for (const auto& b : *p.blocks)
            if (b.rows_in) line += fmt::format(" {} {}>{}", b.name, human_count(b.rows_in), human_count(b.rows_out));
    }
    if (tty_) {
        fmt::print(out_, "\r\033[K{}", line);
        printed_live_ = true;
    } else {
        fmt::print(out_, "[progress] {}\n", line);
    }
    std::fflush(out_);
}

}  // namespace synthforge::cli
