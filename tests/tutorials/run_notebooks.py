#!/usr/bin/env python3
"""Executes every tutorial notebook in docs/tutorials/ with nbclient, so they never rot.

Each notebook runs in a fresh Jupyter kernel of this interpreter (Debian's /usr/bin/python3
under ctest: it has ipykernel, pandas and sees the module through PYTHONPATH), with a per-cell
timeout; any cell error fails the run. Each notebook writes into its own work directory
(SYNTHFORGE_TUTORIAL_DIR), where the checks below look at what it produced: the files a user
would take away (the training JSONL, the report and its metrics, the redacted texts).
The notebooks are committed without outputs; that is checked too.

Run through ctest (`python.tutorials`, label `python`), or by hand:
  PYTHONPATH=build/python /usr/bin/python3 tests/tutorials/run_notebooks.py --cli build/bin/synthforge
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
except ImportError as e:  # a missing Debian package, not a broken notebook: say which
    sys.exit(f"FAIL: {e}: install python3-nbclient, python3-nbformat and python3-ipykernel "
             "(scripts/install-deps.sh) and run this with the Python that has them (/usr/bin/python3)")

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "docs" / "tutorials"
KERNEL = "synthforge-tutorial"
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # IPython colours its tracebacks
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class CheckFailed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------------------- per-notebook checks


def strings(value):
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def check_generate(work):
    """A training file in the chat messages format, one conversation per kept row of the run."""
    rows = read_jsonl(work / "sft_messages.jsonl")
    run_output = read_jsonl(work / "sft-run" / "output.jsonl")
    rejects = read_jsonl(work / "sft-run" / "rejects.jsonl")
    check(len(rows) == len(run_output) and len(rows) >= 3, f"{len(rows)} conversations, {len(run_output)} output rows")
    for row, source in zip(rows, run_output):
        roles = [m["role"] for m in row["messages"]]
        check(roles == ["user", "assistant"], f"roles {roles}")
        check(row["messages"][0]["content"].startswith(source["instruction"]), f"user turn {row}")
        check(row["messages"][1]["content"] == source["output"], f"assistant turn {row}")
    # The scripted data plants one rejection per filter stage; each is reported with its stage.
    stages = sorted({r["_rejected_by"] for r in rejects})
    check(stages == ["diversity.novelty", "quality.complete", "quality.judge"], f"rejected by {stages}")
    check(all(r["_reason"] for r in rejects), "a reject without a reason")
    check((work / "tiny-run" / "output.jsonl").exists(), "the in-process run wrote no output")


def check_quality(work):
    """The report, its JSON metrics, and numbers that agree with the module's."""
    check((work / "report.html").stat().st_size > 1000, "report.html missing or empty")
    metrics = json.loads((work / "report.json").read_text())
    check(metrics["input"]["rows"] == len(read_jsonl(work / "curated.jsonl")), "report rows != curated rows")
    check(metrics["diversity"] is not None and metrics["diversity"]["field"] == "output",
          f"diversity {metrics['diversity']}")
    rejections = metrics["rejections"]
    check(rejections is not None and rejections["rows_rejected"] > 0, f"rejections {rejections}")
    blocks = {b["block"] for b in rejections["rejected_by"]}
    check({"exact_dups", "near_dups", "heuristics", "judge"} <= blocks, f"rejected by {blocks}")
    check(metrics["similarity"] is not None, "no similarity section though a reference was given")


def check_pii(work):
    """Redacted texts carry no e-mail address; the flow's redact pass found what scan_pii found."""
    redacted = read_jsonl(work / "redacted.jsonl")
    check(len(redacted) >= 3, f"{len(redacted)} redacted rows")
    for row in redacted:
        for value in strings(row):  # the chat messages are lists of objects
            check(not EMAIL.search(value), f"an e-mail address survived redaction: {value!r}")
    check(any("<EMAIL>" in json.dumps(r) for r in redacted), "no <EMAIL> placeholder in the redacted rows")
    dropped = read_jsonl(work / "pii-drop" / "rejects.jsonl")
    check(dropped and all(r["_reason"].startswith("PII found:") for r in dropped), f"drop rejects {dropped}")


NOTEBOOKS = {
    "generate_instruction_data.ipynb": check_generate,
    "quality_evaluation.ipynb": check_quality,
    "pii_scanning.ipynb": check_pii,
}


# ---------------------------------------------------------------------------- running


def write_kernelspec(jupyter_dir, env):
    """A kernel of this interpreter, so the notebooks see the same packages as this script
    (Jupyter's own `python3` kernel might be another Python on a developer's machine)."""
    spec_dir = jupyter_dir / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        # -Xfrozen_modules=off: no debugger warning in every run (ipykernel ships a debugger).
        "argv": [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "synthforge tutorials", "language": "python", "env": env}))


def check_no_outputs(nb, name):
    stored = [i for i, c in enumerate(nb.cells)
              if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    check(not stored, f"{name} is committed with outputs in cells {stored}: clear them (docs/tutorials/README.md)")


def run_one(path, work, cell_timeout, keep):
    nb = nbformat.read(str(path), as_version=4)
    check_no_outputs(nb, path.name)
    os.environ["SYNTHFORGE_TUTORIAL_DIR"] = str(work)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.monotonic()
    try:
        client.execute()
    finally:
        if keep:
            nbformat.write(nb, str(work / path.name))  # the executed notebook, outputs and all
    return time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True, help="the synthforge command (given to the notebooks as SYNTHFORGE_CLI)")
    ap.add_argument("--cell-timeout", type=int, default=300, help="seconds one cell may take")
    ap.add_argument("--keep", action="store_true", help="keep the work directories and the executed notebooks")
    ap.add_argument("notebooks", nargs="*", help="names in docs/tutorials/ (default: all)")
    a = ap.parse_args()

    found = sorted(p.name for p in TUTORIALS.glob("*.ipynb"))
    unknown = sorted(set(found) - set(NOTEBOOKS))
    if unknown:
        print(f"FAIL: notebooks without checks in {Path(__file__).name}: {unknown}")
        return 1
    names = a.notebooks or found
    base = Path(tempfile.mkdtemp(prefix=f"sf-tutorials-{os.getpid()}-"))
    jupyter = base / "jupyter"
    env = {
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "SYNTHFORGE_CLI": str(Path(a.cli).resolve()),
    }
    write_kernelspec(jupyter, env)
    os.environ.update(env)
    # Kernel specs, connection files and IPython's profile in this run's own folder: parallel
    # runs do not meet, and nothing is written into the user's home.
    os.environ["JUPYTER_PATH"] = str(jupyter)
    os.environ["JUPYTER_RUNTIME_DIR"] = str(base / "runtime")
    os.environ["IPYTHONDIR"] = str(base / "ipython")
    # A real server configured in the environment would change what the notebooks produce.
    for var in ("SYNTHFORGE_TUTORIAL_BASE_URL", "SYNTHFORGE_TUTORIAL_MODEL", "SYNTHFORGE_TUTORIAL_API_KEY_ENV"):
        os.environ.pop(var, None)

    failed = []
    for name in names:
        work = base / Path(name).stem
        work.mkdir()
        try:
            seconds = run_one(TUTORIALS / name, work, a.cell_timeout, a.keep)
            NOTEBOOKS[name](work)
            print(f"ok   {name} ({seconds:.1f} s)")
        except (CellExecutionError, CellTimeoutError) as e:
            failed.append(name)
            print(f"FAIL {name}: a cell failed\n{ANSI.sub('', str(e))}")
        except (CheckFailed, FileNotFoundError, KeyError, json.JSONDecodeError) as e:
            failed.append(name)
            print(f"FAIL {name}: {type(e).__name__}: {e}")
    if a.keep or failed:
        print(f"work directories kept in {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
