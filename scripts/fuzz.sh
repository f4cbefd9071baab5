#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan, and runs each
# for a bounded time on its seed corpus. Fails on the first crash, leak, timeout or
# sanitizer report, leaving the reproducer (crash-*, leak-*, timeout-*) in the build dir.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 30)
#   FUZZ_BUILD_DIR=/tmp/fz scripts/fuzz.sh    (default build-fuzz/ in the checkout, git-ignored)
#   FUZZ_TARGETS="csv_reader_fuzz" scripts/fuzz.sh 60
#   FUZZ_JOBS=2                               (ninja jobs for the build, default 2)
#
# The corpora are copied to a scratch corpus first: new inputs the fuzzers find stay in
# the build dir and never dirty tests/fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${1:-30}
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
targets=${FUZZ_TARGETS:-"jsonl_reader_fuzz json_reader_fuzz csv_reader_fuzz flow_loader_fuzz llm_output_parser_fuzz pii_scanner_fuzz fuzz_http1_response"}

command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (scripts/install-deps.sh installs clang)" >&2; exit 2; }

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [[ ! -f $build/build.ninja ]]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only" \
    -DSYNTHFORGE_FUZZ=ON -DSYNTHFORGE_BUILD_TESTS=OFF "${launcher[@]}" \
    -DSYNTHFORGE_LLAMA_PREFIX="$("$root/scripts/deps-llama.sh" --prefix)" >/dev/null
fi
# shellcheck disable=SC2086
ninja -C "$build" -j "${FUZZ_JOBS:-2}" $targets

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in $targets; do
  work="$build/fuzz-work/$t"
  rm -rf "$work" && mkdir -p "$work/corpus"
  cp -r "$root/tests/fuzz/corpus/$t/." "$work/corpus/"
  echo "== $t (${seconds}s)"
  # -timeout: one input taking this long is a hang (quadratic parsing, runaway recursion).
  # -rss_limit_mb: one input may not take more memory than this.
  if ! (cd "$work" && "$build/bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
          -max_len=65536 -print_final_stats=1 corpus > "$work/log" 2>&1); then
    failed+=("$t")
    echo "!! $t failed; log: $work/log; reproducer:" $(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* \
      "$work"/oom-* 2>/dev/null)
    grep -m1 -A25 -E "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY" "$work/log" || tail -30 "$work/log"
  else
    grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "$work/log" | tail -2 | sed 's/^/   /'
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all targets ran ${seconds}s without a finding"
