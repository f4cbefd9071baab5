#!/usr/bin/env python3
"""Load: 100,000 requests through the HTTP client at concurrency 256, with flat memory
(ctest label `server`).

flows/generate.yaml with the openai backend runs 100,000 distinct prompts against nginx serving
a fixed chat completion (bench/nginx.conf.in: an effectively infinitely fast server, so the
client is the bottleneck), at concurrency 256. Checked:
  - exit code 0, 100,000 rows, no rejected row, every request answered on its first attempt
    (metadata.json's LLM statistics: no failure, no retry);
  - the process's resident memory, sampled over the run from /proc, is flat: after a warm-up,
    the mean of the last quarter of the samples is within a small margin of the first quarter's.
Exits 77 (skipped) when nginx is not installed (scripts/install-deps.sh installs nginx-light).

Under AddressSanitizer (make asan sets SYNTHFORGE_SANITIZED=1) the check is coarser: freed
memory waits in ASan's quarantine before it is reused, so RSS climbs until the quarantine is
full (256 MiB by default, far more than the margin), and ASan's own bookkeeping (the stack
traces of allocations, per-size-class free lists) only grows. The run gets a 32 MiB quarantine
and the margin grows by 64 MiB (measured: 62 MiB growth over 40,000 requests, 458 -> 521 MiB);
40,000 requests, since instrumented code serves about 5x fewer per second. There the point is
no memory error under load; LeakSanitizer checks the process at exit, and `make test` keeps
the tight flatness check.
"""
import argparse
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "methods"))
from harness import check, free_port  # noqa: E402  (the shared test helpers)

REQUESTS = 100_000
CONCURRENCY = 256
BATCH = 4096
# Flat: the last quarter's mean RSS may exceed the first quarter's by at most this much.
MARGIN_FRACTION = 0.10
MARGIN_MIN_BYTES = 16 << 20
SANITIZED = os.environ.get("SYNTHFORGE_SANITIZED") == "1"
SANITIZED_REQUESTS = 40_000
ASAN_QUARANTINE_MB = 32
ASAN_MARGIN_BYTES = 64 << 20  # the quarantine, and ASan's bookkeeping that only grows


def rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def start_nginx(work):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not nginx:
        print("SKIP: nginx not installed (apt-get install nginx-light)")
        sys.exit(77)
    port = free_port()
    prefix = work / "nginx"
    prefix.mkdir()
    conf = (ROOT / "bench" / "nginx.conf.in").read_text().replace("@PREFIX@", str(prefix)).replace("@PORT@", str(port))
    (prefix / "nginx.conf").write_text(conf)
    proc = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    check(False, "nginx did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--requests", type=int, default=SANITIZED_REQUESTS if SANITIZED else REQUESTS)
    a = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"sf-load-{os.getpid()}-"))
    nginx = None
    try:
        nginx, url = start_nginx(work)
        inp = work / "prompts.jsonl"
        with open(inp, "w") as f:
            for i in range(a.requests):
                f.write(json.dumps({"id": i, "prompt": f"Load prompt {i}: answer briefly."}) + "\n")
        out = work / "out.jsonl"
        run_dir = work / "run"
        cmd = [a.synthforge, "run", "generate", "-i", str(inp), "-o", str(out), "--run-dir", str(run_dir), "-q",
               "--batch-size", str(BATCH), "--set", "backend=openai", "--set", f"base_url={url}",
               "--set", "model=bench-model", "--set", f"concurrency={CONCURRENCY}", "--set", "max_tokens=16"]
        t0 = time.monotonic()
        env = dict(os.environ)
        if SANITIZED:
            opts = env.get("ASAN_OPTIONS", "")
            env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + f"quarantine_size_mb={ASAN_QUARANTINE_MB}"
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        samples = []  # (seconds since start, rss bytes)
        while p.poll() is None:
            r = rss_bytes(p.pid)
            if r:
                samples.append((time.monotonic() - t0, r))
            time.sleep(0.05)
        err = p.stderr.read()
        secs = time.monotonic() - t0
        check(p.returncode == 0, f"load run failed ({p.returncode}): {err[-3000:]}")
        rows = 0
        with open(out, "rb") as f:
            for _ in f:
                rows += 1
        check(rows == a.requests, f"{rows} rows for {a.requests} requests")
        rejects = run_dir / "rejects.jsonl"
        check(not rejects.exists() or rejects.stat().st_size == 0, "rows were rejected")
        meta = json.loads((run_dir / "metadata.json").read_text())
        stats = list((meta.get("llm_backends") or {}).values())
        check(stats, f"metadata.json has no LLM statistics: {json.dumps(meta)[:1000]}")
        sent = sum(s.get("sent", 0) for s in stats)
        failures = sum(s.get("failures", 0) for s in stats)
        retries = sum(s.get("retries", 0) for s in stats)
        check(sent == a.requests and failures == 0 and retries == 0,
              f"requests sent {sent}, retries {retries}, failures {failures}; expected {a.requests}, none failed")

        # Warm-up: the first 20% of the run (connections, buffers, SQLite's page cache filling).
        body = [s for s in samples if s[0] >= 0.2 * secs]
        check(len(body) >= 8, f"too few memory samples ({len(samples)}) over {secs:.1f} s")
        q = len(body) // 4
        first = sum(r for _, r in body[:q]) / q
        last = sum(r for _, r in body[-q:]) / q
        peak = max(r for _, r in samples)
        margin = max(MARGIN_FRACTION * first, MARGIN_MIN_BYTES) + (ASAN_MARGIN_BYTES if SANITIZED else 0)
        mib = 1 << 20
        print(f"load: {a.requests} requests at concurrency {CONCURRENCY} in {secs:.1f} s "
              f"({a.requests / secs:.0f}/s), no error or retry; RSS first quarter {first / mib:.1f} MiB, "
              f"last quarter {last / mib:.1f} MiB, peak {peak / mib:.1f} MiB ({len(samples)} samples)")
        check(last <= first + margin,
              f"memory grows: last quarter {last / mib:.1f} MiB vs first {first / mib:.1f} MiB (margin {margin / mib:.1f})")
        print("load: ok")
        return 0
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
