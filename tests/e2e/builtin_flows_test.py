#!/usr/bin/env python3
"""Every built-in flow is listed by `synthforge init --list`, validates as shipped, and still
validates after `synthforge init NAME` copies it (with its prompts and data files) elsewhere."""
import argparse
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    exe = str(pathlib.Path(ap.parse_args().synthforge).resolve())
    names = sorted(p.stem for p in (ROOT / "flows").glob("*.yaml"))
    listed = subprocess.run([exe, "init", "--list"], capture_output=True, text=True, check=True).stdout
    work = pathlib.Path(tempfile.mkdtemp(prefix="sf-builtin-"))
    for name in names:
        check(f"  {name} " in listed, f"{name} missing from init --list:\n{listed}")
        v = subprocess.run([exe, "validate", name], capture_output=True, text=True)
        check(v.returncode == 0, f"built-in {name} does not validate: {v.stdout}{v.stderr}")
        dest = work / name
        dest.mkdir()
        c = subprocess.run([exe, "init", name], cwd=dest, capture_output=True, text=True)
        check(c.returncode == 0, f"init {name}: {c.stderr}")
        v = subprocess.run([exe, "validate", str(dest / f"{name}.yaml")], capture_output=True, text=True)
        check(v.returncode == 0, f"the copy of {name} does not validate: {v.stdout}{v.stderr}")
    print(f"builtin flows: {len(names)} listed, valid, and valid when copied")


if __name__ == "__main__":
    main()
