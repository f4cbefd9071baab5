#!/usr/bin/env bash
# Installs the Debian packages synthforge builds and tests with, when missing.
# Quiet and quick when everything is there already.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ccache npm
  libyaml-cpp-dev libsimdjson-dev libcli11-dev libfmt-dev libsqlite3-dev
  libxxhash-dev libre2-dev libvalijson-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev python3 clang-format
  libcld2-dev libphonenumber-dev libssl-dev
  clang  # scripts/fuzz.sh: libFuzzer (-fsanitize=fuzzer) ships with Debian's clang
  chromium  # tests/e2e/report_test.py renders the HTML report in headless Chromium
  strace  # tests/e2e/write_paths_test.py traces every file a run writes
  # The Python module (python/, docs/python.md): build, pip install into a venv, its tests.
  pybind11-dev python3-dev python3-setuptools python3-wheel python3-pip python3-venv python3-pytest python3-numpy
  python3-pandas
  python3-torch python3-yaml  # examples/training (toy fine-tune test); YAML checks of examples/kubernetes
  python3-nbclient python3-nbformat python3-ipykernel  # docs/tutorials notebooks, run by tests/tutorials
  # make bench (bench/run_all.py): HTTP load generator and server, the Python asyncio client,
  # GNU time for rusage, taskset (util-linux), profilers for the misses
  wrk nginx-light python3-aiohttp time util-linux valgrind
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm may come from outside Debian (nodesource, nvm); any working npm will do.
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/npm/}")
fi
read -r -a missing <<<"${missing[*]:-}"
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
[[ $(id -u) -ne 0 ]] && sudo=(sudo)
echo "[deps] installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
