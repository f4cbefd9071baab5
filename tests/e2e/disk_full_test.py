#!/usr/bin/env python3
"""A full disk and unwritable paths, through the real CLI.

1. The output file on a small tmpfs: the run ends with exit code != 0 and a message naming the
   output path and "no space"; no temporary file is left filling the disk; the run store (on
   another disk) is intact: once the tmpfs is remounted bigger, --resume writes the complete
   output, byte-identical to an uninterrupted run's.
2. The run directory on a small tmpfs, an LLM flow against the fixture server with long answers:
   the run store fills up; the message names the run store and says the disk is full; after a
   remount bigger, --resume completes to the uninterrupted run's bytes, and the answers stored
   before the disk filled are not requested again (at most the in-flight window).
3. An output directory on a read-only mount, an output path below a regular file, and a run
   directory on a read-only mount: each ends before any work (no request reaches the server)
   with a message naming the path.

The small disks are tmpfs mounts (root in a container may mount them). Where mounting is not
permitted the test says so and falls back to RLIMIT_FSIZE (the process's file size limit,
SIGXFSZ ignored so writes fail with EFBIG, "File too large") for 1 and 2 — the limit holds for
every file, so in 1 the run store may fail first (SQLite: "disk I/O error") — and skips 3's
read-only mounts.
"""
import argparse
import json
import os
import pathlib
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "methods"))
from harness import Fixture, check  # noqa: E402  (the shared test helpers)

FLOW = """version: 1
name: disk_full
blocks:
  - name: keep
    type: filter
    config:
      where: [{column: text, length: words, op: ">=", value: 2}]
  - name: tag
    type: set
    config: {column: tagged, template: "row {{ id }}: {{ text }}"}
"""

CONCURRENCY = 4
LONG_REPLY = "This answer is deliberately long so the run store grows quickly. " * 30


def mount_tmpfs(path, size):
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                       text=True)
    return r.returncode == 0


def remount(path, size):
    r = subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], capture_output=True, text=True)
    check(r.returncode == 0, f"cannot remount {path}: {r.stderr}")


def umount(path):
    subprocess.run(["umount", str(path)], capture_output=True)


def fsize_limit(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # ignored dispositions survive exec
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def run(cmd, limit=None, timeout=600):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=fsize_limit(limit) if limit else None)


def no_space(msg):
    m = msg.lower()
    return "no space" in m or "disk is full" in m or "file too large" in m


def limit_hit(msg, out, run_dir):
    m = msg.lower()
    return (str(out) in msg and "file too large" in m) or (str(run_dir) in msg and ("disk i/o error" in m or no_space(m)))


def output_on_full_disk(exe, work, mounts, can_mount):
    inp = work / "big.jsonl"
    with open(inp, "w") as f:
        for i in range(6000):
            f.write(json.dumps({"id": i, "text": f"record {i} " + "lorem ipsum dolor sit amet " * 20}) + "\n")
    flow = work / "flow.yaml"
    flow.write_text(FLOW)
    base = [exe, "run", str(flow), "-i", str(inp), "--batch-size", "500", "-q"]
    ref = run(base + ["-o", str(work / "ref.jsonl"), "--run-dir", str(work / "ref-run")])
    check(ref.returncode == 0, f"reference run failed: {ref.stderr}")
    ref_out = (work / "ref.jsonl").read_bytes()
    check(len(ref_out) > 2_000_000, "the output is too small to fill the disk")

    small = work / "small-out"
    limit = None
    if can_mount and mount_tmpfs(small, "1m"):
        mounts.append(small)
    else:
        small.mkdir(exist_ok=True)
        limit = 1 << 20
    out = small / "out.jsonl"
    run_dir = work / "out-full-run"
    p = run(base + ["-o", str(out), "--run-dir", str(run_dir)], limit=limit)
    check(p.returncode != 0, "a run whose output does not fit on the disk succeeded")
    if limit is None:
        check(str(out) in p.stderr and no_space(p.stderr),
              f"message does not name the output and the full disk: {p.stderr}")
    else:
        # A file size limit holds for the run store too, which then fails first: SQLite says
        # "disk I/O error" for EFBIG.
        check(limit_hit(p.stderr, out, run_dir), f"message does not name the file over the limit: {p.stderr}")
    check(f"--resume {run_dir}" in p.stderr, f"message does not say how to continue: {p.stderr}")
    left = [x.name for x in small.iterdir()]
    check(not any(".tmp-" in n for n in left), f"a temporary file was left on the full disk: {left}")
    meta = json.loads((run_dir / "metadata.json").read_text())
    check(meta.get("status") != "complete", "metadata says complete after a failed output write")
    if limit is None:
        remount(small, "64m")
    res = run(base + ["-o", str(out), "--resume", str(run_dir)])
    check(res.returncode == 0, f"resume after freeing space failed: {res.stderr}")
    check(out.read_bytes() == ref_out, "output after the resume differs from the uninterrupted run")
    first_line = p.stderr.strip().splitlines()[0]
    print(f"1. output on a full disk: exit {p.returncode}, '{first_line[:160]}'; resumed to identical output "
          f"({len(ref_out)} bytes)")


def run_store_on_full_disk(exe, work, mounts, can_mount):
    inp = work / "prompts.jsonl"
    with open(inp, "w") as f:
        for i in range(700):
            f.write(json.dumps({"id": i, "prompt": f"Prompt {i}: write at length about {i}."}) + "\n")
    script = [{"match": "^Prompt", "reply": LONG_REPLY}]

    def cmd(fx, out, run_dir, resume=False):
        return [exe, "run", "generate", "-i", str(inp), "-o", str(out), "--batch-size", "50", "-q",
                "--set", "backend=openai", "--set", f"base_url={fx.url}", "--set", "model=fixture",
                "--set", f"concurrency={CONCURRENCY}", "--set", "max_tokens=1000",
                "--resume" if resume else "--run-dir", str(run_dir)]

    with Fixture(work, script=script) as fx:
        ref = run(cmd(fx, work / "llm-ref.jsonl", work / "llm-ref-run"))
        check(ref.returncode == 0, f"reference LLM run failed: {ref.stderr}")
        ref_out = (work / "llm-ref.jsonl").read_bytes()
        store_size = (work / "llm-ref-run" / "run.sqlite").stat().st_size

        small = work / "small-run"
        limit = None
        if can_mount and mount_tmpfs(small, str(store_size // 3)):
            mounts.append(small)
        else:
            small.mkdir(exist_ok=True)
            limit = store_size // 3
        run_dir = small / "run"
        out = work / "llm-out.jsonl"
        mark = len(fx.requests())
        p = run(cmd(fx, out, run_dir), limit=limit)
        check(p.returncode != 0, "a run whose run store does not fit on the disk succeeded")
        check(str(run_dir) in p.stderr and (no_space(p.stderr) if limit is None else limit_hit(p.stderr, out, run_dir)),
              f"message does not name the run store and the full disk: {p.stderr}")
        check(f"--resume {run_dir}" in p.stderr, f"message does not say how to continue: {p.stderr}")
        answered = {json.dumps(e["body"], sort_keys=True) for e in fx.requests()[mark:] if e.get("status") == 200}
        check(len(answered) > 0, "the disk filled before any request was answered")
        if limit is None:
            remount(small, "256m")
        mark = len(fx.requests())
        res = run(cmd(fx, out, run_dir, resume=True))
        check(res.returncode == 0, f"resume after freeing space failed: {res.stderr}")
        check(out.read_bytes() == ref_out, "LLM output after the resume differs from the uninterrupted run")
        again = {json.dumps(e["body"], sort_keys=True) for e in fx.requests()[mark:]} & answered
        # Stored one by one as they arrive: only those in flight when the store failed are lost.
        check(len(again) <= 2 * CONCURRENCY,
              f"{len(again)} of {len(answered)} answers received before the disk filled were requested again")
        first_line = p.stderr.strip().splitlines()[0]
        print(f"2. run store on a full disk: exit {p.returncode}, '{first_line[:200]}'; resumed to identical output; "
              f"{len(again)} of {len(answered)} earlier answers requested again")


def unwritable(exe, work, mounts, can_mount):
    inp = work / "few.jsonl"
    with open(inp, "w") as f:
        for i in range(40):
            f.write(json.dumps({"id": i, "prompt": f"Prompt {i}"}) + "\n")
    afile = work / "a-file"
    afile.write_text("not a directory\n")
    cases = [("output below a regular file", afile / "out.jsonl", work / "uw-run-1", str(afile))]
    ro = work / "readonly"
    if can_mount:
        src = work / "ro-src"
        src.mkdir()
        ro.mkdir()
        r = subprocess.run(["mount", "--bind", "-o", "ro", str(src), str(ro)], capture_output=True, text=True)
        if r.returncode == 0:
            mounts.append(ro)
            cases += [("output on a read-only mount", ro / "out.jsonl", work / "uw-run-2", str(ro / "out.jsonl")),
                      ("run dir on a read-only mount", work / "uw-out-3.jsonl", ro / "run", str(ro / "run"))]
        else:
            print("read-only bind mount not permitted: skipping the read-only cases")
    with Fixture(work, faults={"slow_ms": 200}) as fx:
        for what, out, run_dir, named in cases:
            mark = len(fx.requests())
            t0 = time.monotonic()
            p = run([exe, "run", "generate", "-i", str(inp), "-o", str(out), "--run-dir", str(run_dir), "-q",
                     "--set", "backend=openai", "--set", f"base_url={fx.url}", "--set", "model=fixture"], timeout=120)
            secs = time.monotonic() - t0
            sent = len(fx.requests()) - mark
            check(p.returncode != 0, f"{what}: the run succeeded")
            check(named in p.stderr, f"{what}: the message does not name {named}: {p.stderr}")
            check(sent == 0, f"{what}: {sent} requests were sent before the run failed")
            print(f"3. {what}: exit {p.returncode} in {secs:.2f} s, no request sent: "
                  f"'{p.stderr.strip().splitlines()[0][:200]}'")
        # The early check must not refuse an output inside a run directory that the run is
        # about to create (what `make demo` and the CLI's default paths do).
        run_dir = work / "uw-new-run"
        out = run_dir / "output.jsonl"
        p = run([exe, "run", "generate", "-i", str(inp), "-o", str(out), "--run-dir", str(run_dir), "-q",
                 "--set", "backend=openai", "--set", f"base_url={fx.url}", "--set", "model=fixture"], timeout=300)
        check(p.returncode == 0, f"output inside a new run dir: exit {p.returncode}: {p.stderr}")
        check(len(out.read_text().splitlines()) == 40, "output inside a new run dir: not every row was written")
        print("3. output inside a run dir the run creates: written")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    a = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"sf-diskfull-{os.getpid()}-"))
    mounts = []
    can_mount = os.geteuid() == 0
    probe = work / "probe"
    if can_mount and mount_tmpfs(probe, "64k"):
        umount(probe)
    else:
        can_mount = False
        print("mounting a tmpfs is not permitted here: falling back to RLIMIT_FSIZE (writes fail with EFBIG)")
    try:
        output_on_full_disk(a.synthforge, work, mounts, can_mount)
        run_store_on_full_disk(a.synthforge, work, mounts, can_mount)
        unwritable(a.synthforge, work, mounts, can_mount)
        print("disk full: ok")
        return 0
    finally:
        for m in reversed(mounts):
            umount(m)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
