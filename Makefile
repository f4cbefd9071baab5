# Thin wrapper over CMake. `make` sets up everything a fresh Debian 12 machine
# needs (Debian packages, a cached llama.cpp build) and builds Release into build/.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
export SYNTHFORGE_DEPS ?= $(HOME)/.cache/synthforge

.PHONY: all deps configure test demo bench clean format asan

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

# The unit and e2e tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	@cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSYNTHFORGE_SANITIZE=ON \
	  -DSYNTHFORGE_LLAMA_PREFIX=$$(scripts/deps-llama.sh --prefix) >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ctest --output-on-failure -j $(JOBS) -L 'unit|e2e'

format:
	@git ls-files '*.cpp' '*.h' | xargs clang-format -i

clean:
	@rm -rf $(BUILD_DIR) build-asan
