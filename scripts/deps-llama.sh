#!/usr/bin/env bash
# Builds the pinned llama.cpp once into a cache prefix outside the checkout:
#   $SYNTHFORGE_DEPS/llama-<tree>/{bin,lib,include}
# synthforge links libllama, ggml and llama.cpp's `common` library from there,
# and tests start the `llama-server` it installs. A second run is a no-op.
#
# Source: upstream git where reachable, else the copy of llama.cpp bundled in the
# npm package node-llama-cpp (llama/gitRelease.bundle). Either way the checked-out
# tree must hash to LLAMA_TREE, so both routes build exactly the same code.
set -euo pipefail

LLAMA_TREE=fd570ef54b10ec5fecb739e7e04c8ce44a6f415a   # git tree hash of the pinned source
LLAMA_UPSTREAM=${SYNTHFORGE_LLAMA_GIT:-https://github.com/ggml-org/llama.cpp}
LLAMA_UPSTREAM_REF=${SYNTHFORGE_LLAMA_REF:-}          # a tag whose tree is LLAMA_TREE, when known
NPM_PACKAGE=node-llama-cpp@3.22.1

DEPS=${SYNTHFORGE_DEPS:-$HOME/.cache/synthforge}
PREFIX=$DEPS/llama-${LLAMA_TREE:0:12}
JOBS=${SYNTHFORGE_JOBS:-$(nproc)}

if [[ "${1:-}" == "--prefix" ]]; then echo "$PREFIX"; exit 0; fi
[[ -f "$PREFIX/.complete" ]] && exit 0

say() { echo "[deps] $*" >&2; }
work=$(mktemp -d "$DEPS/tmp.XXXXXX" 2>/dev/null || { mkdir -p "$DEPS"; mktemp -d "$DEPS/tmp.XXXXXX"; })
trap 'rm -rf "$work"' EXIT
src=$work/src

fetch_upstream() {
    [[ -n "$LLAMA_UPSTREAM_REF" ]] || return 1
    timeout 120 git clone -q --depth 1 --branch "$LLAMA_UPSTREAM_REF" "$LLAMA_UPSTREAM" "$src" 2>/dev/null || return 1
    [[ "$(git -C "$src" rev-parse 'HEAD^{tree}')" == "$LLAMA_TREE" ]] || { rm -rf "$src"; return 1; }
}

fetch_npm() {
    say "fetching llama.cpp source from the npm package $NPM_PACKAGE"
    (cd "$work" && npm pack --silent "$NPM_PACKAGE" >/dev/null)
    tar -xzf "$work"/node-llama-cpp-*.tgz -C "$work" package/llama/gitRelease.bundle
    git clone -q "$work/package/llama/gitRelease.bundle" "$src" 2>/dev/null
    local tree; tree=$(git -C "$src" rev-parse 'HEAD^{tree}')
    if [[ "$tree" != "$LLAMA_TREE" ]]; then
        say "error: the bundled llama.cpp tree is $tree, expected $LLAMA_TREE"; exit 1
    fi
}

fetch_upstream || fetch_npm

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

say "building llama.cpp (${LLAMA_TREE:0:12}) into $PREFIX with $JOBS jobs; this takes about 10 minutes once"
cmake -S "$src" -B "$work/build" "${generator[@]}" "${launcher[@]}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" \
    -DCMAKE_INSTALL_RPATH='$ORIGIN/../lib' \
    -DBUILD_SHARED_LIBS=ON \
    -DGGML_NATIVE=ON \
    -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_TOOLS_INSTALL=ON >"$work/configure.log" 2>&1 \
    || { cat "$work/configure.log" >&2; exit 1; }
cmake --build "$work/build" -j "$JOBS" >"$work/build.log" 2>&1 \
    || { tail -50 "$work/build.log" >&2; exit 1; }
rm -rf "$PREFIX.partial"
cmake --install "$work/build" --prefix "$PREFIX.partial" >/dev/null

# llama.cpp installs no headers for `common`; synthforge uses its chat templates,
# Jinja engine and JSON-schema-to-grammar converter, so ship those headers too,
# with the nlohmann/json they were compiled against (one copy for the whole build).
inc=$PREFIX.partial/include
mkdir -p "$inc/llama-common/jinja" "$inc/nlohmann" "$PREFIX.partial/share/llama/models"
cp "$src"/common/*.h "$src"/common/*.hpp "$inc/llama-common/"
cp "$src"/common/jinja/*.h "$inc/llama-common/jinja/"
cp "$src"/vendor/nlohmann/*.hpp "$inc/nlohmann/"
# Vocabulary-only GGUF files with real tokenizers, for building tiny test models.
cp "$src"/models/ggml-vocab-*.gguf "$PREFIX.partial/share/llama/models/"
echo "$LLAMA_TREE" > "$PREFIX.partial/.complete"
rm -rf "$PREFIX"
mv "$PREFIX.partial" "$PREFIX"
say "llama.cpp ready in $PREFIX"
