# Thin wrapper over CMake. `make` sets up everything a fresh Debian 12 machine
# needs (Debian packages, a cached llama.cpp build) and builds Release into build/.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
export SYNTHFORGE_DEPS ?= $(HOME)/.cache/synthforge

.PHONY: all deps configure test demo bench clean format asan tsan

all: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

deps:
	@scripts/install-deps.sh
	@scripts/deps-llama.sh

configure: deps
	@if [ ! -f $(BUILD_DIR)/CMakeCache.txt ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	    -DSYNTHFORGE_LLAMA_PREFIX=$$(scripts/deps-llama.sh --prefix) >/dev/null; fi

test: all
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

demo: all
	@scripts/demo.sh $(BUILD_DIR)

# The whole test suite (every label: unit, e2e, methods, server, chaos, python, packaging)
# under AddressSanitizer + UndefinedBehaviorSanitizer, leak detection on. The Python module is
# built too (off by default in sanitizer trees) so that its tests run against the instrumented
# engine; tests/CMakeLists.txt gives every test SYNTHFORGE_SANITIZED=1 (scaled time and memory
# bounds) and the Python ones the ASan runtime preloaded (docs/reliability.md, "Sanitizers").
asan: deps
	@cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSYNTHFORGE_SANITIZE=ON \
	  -DSYNTHFORGE_BUILD_PYTHON=ON -DSYNTHFORGE_LLAMA_PREFIX=$$(scripts/deps-llama.sh --prefix) >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ctest --output-on-failure -j $(JOBS)

# The concurrency tests (HTTP client, llama batching, executor: tests/CMakeLists.txt's
# synthforge_tsan_tests) under ThreadSanitizer; halt_on_error makes any report fail. -O1 -g1:
# quicker to build than -O2 -g, fast enough to run, and line numbers in the reports.
tsan: deps
	@cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DSYNTHFORGE_SANITIZE_THREAD=ON \
	  -DSYNTHFORGE_LLAMA_PREFIX=$$(scripts/deps-llama.sh --prefix) >/dev/null
	@cmake --build build-tsan -j $(JOBS) --target synthforge_tsan_tests
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp $(TSAN_EXTRA)" \
	  build-tsan/bin/synthforge_tsan_tests

# The benchmark suite (docs/benchmarks.md, bench/run_all.py): builds the drivers in bench/ into
# $(BUILD_DIR) and runs every benchmark (under 20 minutes on 2 cores). QUICK=1: small sizes, about
# two minutes, written to bench/results/quick.md instead of docs/benchmarks.md.
bench: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DSYNTHFORGE_BENCH=ON \
	  -DSYNTHFORGE_LLAMA_PREFIX=$$(scripts/deps-llama.sh --prefix) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target bench_all
	@$$(command -v /usr/bin/python3 || command -v python3) bench/run_all.py --build $(BUILD_DIR) $(if $(QUICK),--quick)

format:
	@git ls-files '*.cpp' '*.h' | xargs clang-format -i

clean:
	@rm -rf $(BUILD_DIR) build-asan build-tsan
