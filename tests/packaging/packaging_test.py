#!/usr/bin/env python3
"""`cmake --install` into a temporary prefix, then use what it installed as a user would:
the CLI (--version, a curation run), a consumer project built with find_package(synthforge),
and the same program built with pkg-config flags. Nothing may point back into the build
tree: the build's lib folder is not on any path the installed binaries search.

  packaging_test.py --build-dir BUILD --source-dir SRC
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def run(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"FAILED ({r.returncode}): {' '.join(map(str, cmd))}\n{r.stdout}\n{r.stderr}")
    return r


def check(cond, msg):
    if not cond:
        sys.exit("FAILED: " + msg)
    print("ok:", msg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True, type=Path)
    ap.add_argument("--source-dir", required=True, type=Path)
    args = ap.parse_args()
    src = args.source_dir.resolve()
    version = re.search(r"project\(synthforge VERSION ([0-9.]+)", (src / "CMakeLists.txt").read_text()).group(1)
    case = src / "tests" / "e2e" / "cases" / "filter_dedup_set"
    expected = [json.loads(l) for l in (case / "expected" / "output.jsonl").read_text().splitlines() if l]

    work = Path(tempfile.mkdtemp(prefix=f"synthforge-packaging-{os.getpid()}-"))
    try:
        prefix = work / "prefix"
        run(["cmake", "--install", args.build_dir, "--prefix", prefix])
        env = dict(os.environ)
        env.pop("LD_LIBRARY_PATH", None)

        # The CLI: its version is the project's, and it runs a flow with its installed libraries.
        cli = prefix / "bin" / "synthforge"
        out = run([cli, "--version"], env=env).stdout.strip()
        check(out == f"synthforge {version}", f"installed CLI reports version {version}")
        ldd = run(["ldd", cli], env=env).stdout
        check("not found" not in ldd, "installed CLI resolves every shared library")
        check(str(args.build_dir.resolve()) not in ldd, "installed CLI uses no library of the build tree")
        # A sanitizer build (make asan, SYNTHFORGE_SANITIZED=1) installs an ASan-instrumented
        # library. The consumer programs below are built without -fsanitize, as a user's would be,
        # so the ASan runtime the library needs is not the first library they load: ASan refuses
        # to start like that (or crashes). Preload it for them, from where the CLI finds it.
        env_consumer = dict(env)
        if os.environ.get("SYNTHFORGE_SANITIZED") == "1":
            asan = re.search(r"libasan\.so\S* => (\S+)", ldd)
            check(asan is not None, "sanitizer build: the installed CLI links the ASan runtime")
            env_consumer["LD_PRELOAD"] = asan.group(1)
        for header in ["synthforge/engine/executor.h", "synthforge/version.h",
                       "synthforge/vendor/nlohmann/json.hpp"]:
            check((prefix / "include" / header).is_file(), f"header {header} installed")
        pc_files = list(prefix.rglob("synthforge.pc"))
        check(len(pc_files) == 1, "one pkg-config file installed")
        check(list(prefix.rglob("synthforgeConfig.cmake")), "CMake package config installed")

        def check_consumer_output(stdout, what):
            lines = stdout.splitlines()
            check(lines[0] == f"version {version}", f"{what}: version.h gives {version}")
            check(lines[1] == "rougeL 0.8571", f"{what}: ROUGE-L of 3 and 4 tokens sharing 3 is 6/7")
            check(lines[2] == "pii 1", f"{what}: the scanner finds the e-mail address")
            rows = [json.loads(l[4:]) for l in lines if l.startswith("out ")]
            check(rows == expected, f"{what}: the flow's output equals the CLI's golden output")
            n_in, n_out, n_rej = map(int, next(l for l in lines if l.startswith("rows ")).split()[1:])
            check(n_in == n_out + n_rej and n_out == len(expected), f"{what}: every row out or rejected")

        # The flow case takes min_words=2 on the command line; a copy with that default.
        flow = work / "flow.yaml"
        flow.write_text((case / "flow.yaml").read_text().replace("min_words: 3", "min_words: 2"))
        run([cli, "run", flow, "-i", case / "input.jsonl", "--run-dir", work / "run-cli", "-q"], env=env)
        cli_rows = [json.loads(l) for l in (work / "run-cli" / "output.jsonl").read_text().splitlines() if l]
        check(cli_rows == expected, "installed CLI runs the flow to the golden output")

        # find_package(synthforge) with CMAKE_PREFIX_PATH, as a user would.
        consumer_build = work / "consumer-cmake"
        run(["cmake", "-S", src / "tests" / "packaging" / "consumer", "-B", consumer_build, "-G", "Ninja",
             f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release"], env=env)
        run(["cmake", "--build", consumer_build], env=env)
        r = run([consumer_build / "consumer", flow, case / "input.jsonl", work / "run-cmake"], env=env_consumer)
        check_consumer_output(r.stdout, "find_package consumer")

        # pkg-config: flags from the .pc file; the rpath is the user's choice, as with any library.
        env_pc = dict(env, PKG_CONFIG_PATH=str(pc_files[0].parent))
        modversion = run(["pkg-config", "--modversion", "synthforge"], env=env_pc).stdout.strip()
        check(modversion == version, f"pkg-config --modversion is {version}")
        flags = run(["pkg-config", "--cflags", "--libs", "synthforge"], env=env_pc).stdout.split()
        libdir = run(["pkg-config", "--variable=libdir", "synthforge"], env=env_pc).stdout.strip()
        exe = work / "consumer-pc"
        run(["c++", "-std=c++20", "-O1", src / "tests" / "packaging" / "consumer" / "main.cpp", "-o", exe,
             *flags, f"-Wl,-rpath,{libdir}"], env=env_pc)
        r = run([exe, flow, case / "input.jsonl", work / "run-pc"], env=env_consumer)
        check_consumer_output(r.stdout, "pkg-config consumer")

        # The installed tree is relocatable: move it and run the CLI and the consumer again.
        moved = work / "moved"
        shutil.move(prefix, moved)
        out = run([moved / "bin" / "synthforge", "--version"], env=env).stdout.strip()
        check(out == f"synthforge {version}", "the CLI still runs after the prefix is moved")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("packaging: all checks passed")


if __name__ == "__main__":
    main()
