#pragma once
// Progress for long runs: on a terminal a live status line (records/s, rows per
// block, ETA); elsewhere (CI logs, files) a plain line every few seconds.

#include "synthforge/engine/executor.h"

#include <chrono>
#include <cstdio>

namespace synthforge::cli {

class ProgressReporter {
  public:
    ProgressReporter(FILE* out, bool quiet);
    void operator()(const Progress& p);

  private:
    FILE* out_;
    bool quiet_;
    bool tty_;
    double interval_;
    std::chrono::steady_clock::time_point last_;
    bool printed_live_ = false;
};

std::string human_count(uint64_t n);

}  // namespace synthforge::cli
