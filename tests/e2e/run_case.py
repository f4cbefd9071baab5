#!/usr/bin/env python3
"""Runs one declarative end-to-end case through the real synthforge CLI.

A case is a folder:
  flow.yaml              the flow (or `flow` file naming a built-in flow)
  input.*                input files, passed as -i in name order
  args                   optional: extra arguments, one per line ({plugin_dir} and {case} are substituted)
  expected/output.EXT    the exact expected output; its extension picks the output format
  expected/rejects.jsonl optional: the exact expected rejects file
  expected/exit_code     optional: expected exit code (default 0)
  expected/stderr        optional: lines that must each appear in stderr
  expected/stdout        optional: the exact expected stdout (for --dry-run)
When the exit code is not 0, outputs are not compared (none must be written).
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--plugin-dir", default="")
    a = ap.parse_args()
    case = pathlib.Path(a.case).resolve()
    expected = case / "expected"
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"sf-e2e-{case.name}-"))
    try:
        # Run inside the case folder with relative paths, so messages and `_source`
        # columns are the same on every checkout.
        flow = case / "flow.yaml"
        flow_arg = "flow.yaml" if flow.exists() else (case / "flow").read_text().strip()
        outputs = sorted(expected.glob("output.*"))
        out_path = work / (outputs[0].name if outputs else "output.jsonl")
        cmd = [a.synthforge, "run", flow_arg, "-o", str(out_path), "--run-dir", str(work / "run"), "-q"]
        for inp in sorted(case.glob("input*")):
            cmd += ["-i", inp.name]
        args_file = case / "args"
        if args_file.exists():
            for line in args_file.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    cmd.append(line.format(plugin_dir=a.plugin_dir, case=str(case)))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=case)
        want_rc = int((expected / "exit_code").read_text()) if (expected / "exit_code").exists() else 0
        failures = []
        if proc.returncode != want_rc:
            failures.append(f"exit code {proc.returncode}, expected {want_rc}")
        if (expected / "stderr").exists():
            for line in (expected / "stderr").read_text().splitlines():
                line = line.replace("{case}", str(case))
                if line and line not in proc.stderr:
                    failures.append(f"stderr lacks: {line!r}")
        if (expected / "stdout").exists() and proc.stdout != (expected / "stdout").read_text():
            failures.append(f"stdout differs:\n--- expected\n{(expected / 'stdout').read_text()}--- got\n{proc.stdout}")
        if want_rc == 0:
            if not outputs and "--dry-run" in cmd and out_path.exists():
                failures.append("--dry-run wrote an output file")
            for exp in outputs:
                got = out_path.read_bytes() if out_path.exists() else b"<missing>"
                if got != exp.read_bytes():
                    failures.append(f"{exp.name} differs:\n--- expected\n{exp.read_text()}--- got\n{got.decode(errors='replace')}")
            rej = expected / "rejects.jsonl"
            if rej.exists():
                got = (work / "run" / "rejects.jsonl").read_bytes()
                if got != rej.read_bytes():
                    failures.append(f"rejects differ:\n--- expected\n{rej.read_text()}--- got\n{got.decode(errors='replace')}")
        elif out_path.exists():
            failures.append(f"a failed run wrote its output {out_path.name}")
        if failures:
            print("command:", " ".join(cmd))
            print("stderr:", proc.stderr)
            print("\n".join(failures))
            return 1
        print(f"case {case.name}: ok")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
