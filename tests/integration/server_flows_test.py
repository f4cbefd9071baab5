#!/usr/bin/env python3
"""flows/generate.yaml end to end against real servers (ctest label `server`).

1. The fixture server, 1000 prompts at concurrency 32: 1000 rows, each answer belongs to its prompt,
   the endpoint never sees more than 32 requests at once.
2. The fixture server injecting 429 (Retry-After), 500, 503, garbage, truncated bodies and resets:
   every record ends as a row or a rejected row with its reason; retries are spread (jitter).
3. A request the server refuses (HTTP 400): its record is rejected with the reason, the exit code is 1
   and the summary says how many requests failed.
4. llama-server with the tiny model: 1000 prompts -> 1000 rows at concurrency 32.
5. The same on the in-process llama backend.
"""
import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "methods"))
from harness import Fixture, check, free_port, wait_http  # noqa: E402  (the shared test helpers)


def write_prompts(path, n, prefix="Prompt"):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": i, "prompt": f"{prefix} {i}: describe the number {i * 7} in one line."}) + "\n")


def run_generate(exe, work, name, inp, sets, extra=()):
    out = work / f"{name}.jsonl"
    cmd = [exe, "run", "generate", "-i", str(inp), "-o", str(out), "--run-dir", str(work / name), "-q"]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    proc = subprocess.run(cmd + list(extra), capture_output=True, text=True, timeout=900)
    rows = [json.loads(l) for l in out.read_text().splitlines()] if out.exists() else []
    rej_path = work / name / "rejects.jsonl"
    rejects = [json.loads(l) for l in rej_path.read_text().splitlines()] if rej_path.exists() else []
    return proc, rows, rejects


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--llama-server", required=True)
    a = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="sf-server-"))
    procs = []
    try:
        inp = work / "prompts.jsonl"
        write_prompts(inp, 1000)

        # 1. Fixture, clean; each answer takes 50 ms, so the window fills up.
        fx = Fixture(work, faults={"slow_ms": 50})
        procs.append(fx)
        proc, rows, rejects = run_generate(a.synthforge, work, "fixture", inp,
                                           {"backend": "openai", "base_url": fx.url, "model": "fixture",
                                            "concurrency": 32, "max_tokens": 64})
        check(proc.returncode == 0, f"fixture run failed: {proc.stderr}")
        check(len(rows) == 1000 and not rejects, f"{len(rows)} rows, {len(rejects)} rejects")
        for r in rows:
            check(r["response"] == "Here is a response to: " + r["prompt"][:60], f"answer mismatch: {r}")
        check([r["id"] for r in rows] == list(range(1000)), "rows are not in input order")
        peak = fx.stats().get("max_in_flight", 0)
        check(16 <= peak <= 32, f"peak in-flight {peak} (want 16..32)")
        print(f"1. fixture: 1000 rows, peak in-flight {peak}")
        fx.stop()

        # 2. Faults.
        small = work / "small.jsonl"
        write_prompts(small, 300, prefix="Faulty")
        faults = {"rate_429": 0.1, "retry_after": 0, "rate_500": 0.08, "rate_503": 0.05, "rate_garbage": 0.04,
                  "rate_truncate": 0.04, "rate_reset": 0.04, "seed": 7}
        fx = Fixture(work, faults=faults)
        procs.append(fx)
        proc, rows, rejects = run_generate(a.synthforge, work, "faults", small,
                                           {"backend": "openai", "base_url": fx.url, "model": "fixture",
                                            "concurrency": 16, "max_tokens": 64})
        check(len(rows) + len(rejects) == 300, f"{len(rows)} rows + {len(rejects)} rejects != 300 inputs")
        for r in rows:
            check(r["response"] == "Here is a response to: " + r["prompt"][:60], f"answer mismatch: {r}")
        for r in rejects:
            check(r["_rejected_by"] == "respond" and r["_reason"].startswith("LLM request failed"), f"bad reject {r}")
        check(proc.returncode == (1 if rejects else 0), f"exit code {proc.returncode} with {len(rejects)} rejects")
        log = fx.requests()
        by_prompt = {}
        for e in log:
            by_prompt.setdefault(e.get("prompt"), []).append(e["ts"])
        gaps = [round(ts[1] - ts[0], 3) for ts in by_prompt.values() if len(ts) > 1]
        check(len(gaps) >= 10, f"only {len(gaps)} retried prompts")
        check(len(set(gaps)) > len(gaps) // 2, f"retry gaps look fixed, not jittered: {sorted(gaps)[:20]}")
        print(f"2. faults: {len(rows)} rows, {len(rejects)} rejects, {len(log)} requests, {len(gaps)} retried")
        fx.stop()

        # 3. A refused request.
        fx = Fixture(work, script=[{"match": "Doomed", "status": 400, "error": "prompt refused by policy"}])
        procs.append(fx)
        mixed = work / "mixed.jsonl"
        mixed.write_text(json.dumps({"prompt": "Fine one"}) + "\n" + json.dumps({"prompt": "Doomed one"}) + "\n")
        proc, rows, rejects = run_generate(a.synthforge, work, "refused", mixed,
                                           {"backend": "openai", "base_url": fx.url, "model": "fixture"})
        check(proc.returncode == 1, f"exit code {proc.returncode}, want 1")
        check("1 LLM request failed" in proc.stderr, f"summary lacks the failure: {proc.stderr}")
        check(len(rows) == 1 and len(rejects) == 1 and "HTTP 400" in rejects[0]["_reason"]
              and "prompt refused by policy" in rejects[0]["_reason"], f"{rows} {rejects}")
        check(sum(1 for e in fx.requests() if "Doomed" in (e.get("prompt") or "")) == 1, "a 400 was retried")
        print("3. refused request: rejected with its reason, exit code 1")
        fx.stop()

        # 4. llama-server with the tiny model.
        tiny = work / "tiny.gguf"
        subprocess.run([a.synthforge, "tiny-model", str(tiny)], check=True, capture_output=True)
        port = free_port()
        server = subprocess.Popen([a.llama_server, "-m", str(tiny), "--host", "127.0.0.1", "--port", str(port),
                                   "-np", "32", "-c", "16384", "-t", "2"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(server)
        check(wait_http(f"http://127.0.0.1:{port}/health"), "llama-server did not become healthy")
        t0 = time.time()
        proc, rows, rejects = run_generate(a.synthforge, work, "llama-server", inp,
                                           {"backend": "openai", "base_url": f"http://127.0.0.1:{port}/v1",
                                            "model": "tiny", "concurrency": 32, "max_tokens": 4})
        check(proc.returncode == 0, f"llama-server run failed: {proc.stderr[-2000:]}")
        check(len(rows) == 1000 and not rejects, f"{len(rows)} rows, {len(rejects)} rejects")
        check([r["id"] for r in rows] == list(range(1000)), "rows are not in input order")
        print(f"4. llama-server: 1000 rows in {time.time() - t0:.1f} s")
        server.terminate()
        server.wait(timeout=30)

        # 5. In-process.
        t0 = time.time()
        proc, rows, rejects = run_generate(a.synthforge, work, "in-process", inp,
                                           {"backend": "llama", "model": str(tiny), "concurrency": 32,
                                            "max_tokens": 4}, extra=["--set", "llm.n_ctx=16384"])
        check(proc.returncode == 0, f"in-process run failed: {proc.stderr[-2000:]}")
        check(len(rows) == 1000 and not rejects, f"{len(rows)} rows, {len(rejects)} rejects")
        print(f"5. in-process: 1000 rows in {time.time() - t0:.1f} s")
        print("server flows: ok")
        return 0
    finally:
        for p in procs:
            try:
                (p.proc if isinstance(p, Fixture) else p).kill()
            except Exception:
                pass
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
