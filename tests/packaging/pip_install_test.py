#!/usr/bin/env python3
"""`pip install --no-build-isolation .` the way docs/python.md tells a user to: into a venv
created with --system-site-packages (Debian's pip refuses to write to the system, PEP 668,
and the build tools - setuptools, pybind11 - are Debian packages), offline (--no-index).
Then, from outside the source tree, the installed package imports, reports the project's
version, and runs a flow with its own bundled libraries (no build tree on any path).

SYNTHFORGE_BUILD_DIR points setup.py at this build, so nothing is compiled twice.

  pip_install_test.py --source-dir SRC --build-dir BUILD
"""

import argparse
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
        sys.exit(f"FAILED ({r.returncode}): {' '.join(map(str, cmd))}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True, type=Path)
    ap.add_argument("--build-dir", required=True, type=Path)
    args = ap.parse_args()
    src = args.source_dir.resolve()
    version = re.search(r"project\(synthforge VERSION ([0-9.]+)", (src / "CMakeLists.txt").read_text()).group(1)

    work = Path(tempfile.mkdtemp(prefix=f"synthforge-pip-{os.getpid()}-"))
    try:
        venv = work / "venv"
        run([sys.executable, "-m", "venv", "--system-site-packages", venv])
        env = dict(os.environ, SYNTHFORGE_BUILD_DIR=str(args.build_dir.resolve()),
                   SYNTHFORGE_SETUP_BUILD_BASE=str(work / "setup-build"), PIP_NO_INDEX="1",
                   PIP_DISABLE_PIP_VERSION_CHECK="1")
        env.pop("PYTHONPATH", None)
        env.pop("LD_LIBRARY_PATH", None)
        run([venv / "bin" / "pip", "install", "--no-build-isolation", "--no-deps", src], env=env, cwd=work)

        case = src / "tests" / "e2e" / "cases" / "filter_dedup_set"
        script = f"""
import json, os, synthforge
assert synthforge.__file__.startswith({str(venv)!r}), synthforge.__file__
assert synthforge.__version__ == {version!r}, synthforge.__version__
rows = synthforge.run_flow({str(case / 'flow.yaml')!r}, {str(case / 'input.jsonl')!r},
                           params={{"min_words": 2}}, run_dir={str(work / 'run')!r})
expected = [json.loads(l) for l in open({str(case / 'expected' / 'output.jsonl')!r}) if l.strip()]
assert rows == expected, rows
maps = open("/proc/self/maps").read()
assert {str(args.build_dir.resolve())!r} not in maps, "a library of the build tree was loaded"
print("installed synthforge", synthforge.__version__, "ran the flow:", len(rows), "rows")
"""
        r = run([venv / "bin" / "python", "-c", script], env=env, cwd=work)
        print(r.stdout)
        # pip uninstall removes what it installed (the package and its bundled libraries).
        run([venv / "bin" / "pip", "uninstall", "-y", "synthforge"], env=env, cwd=work)
        r = subprocess.run([venv / "bin" / "python", "-c", "import synthforge"], capture_output=True, env=env,
                           cwd=work)
        if r.returncode == 0:
            sys.exit("FAILED: synthforge still importable after pip uninstall")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("pip install: all checks passed")


if __name__ == "__main__":
    main()
