#!/usr/bin/env python3
"""An API key never leaves the environment variable that holds it.

Runs the built-in `generate` flow on the openai backend against the fixture server with a
recognisable key in the variable named by api_key_env, while the server injects 500s and
429s (retried), answers some prompts with errors that echo the request's Authorization
header back (a careless server: the echo reaches synthforge's error messages), and then:

- a run that completes (some rows rejected with those errors),
- a run that fails part way (a bad input record after several batches were sent),
- a --dry-run, whose printed requests show the llm settings.

Every file the runs wrote (run directories with the SQLite store and its journal,
metadata.json, outputs, rejects, the report) and everything they printed on stdout and
stderr is searched for the key and for an Authorization value. "Bearer [redacted]", the
marker the backend puts where an echoed header was, is the one allowed form.

The fixture server's own request log must hold the key: it proves the key was sent, so
its absence everywhere else means something.
"""
import argparse
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "methods"))
import harness  # noqa: E402
from harness import check  # noqa: E402

ENV_NAME = "SYNTHFORGE_SECRETS_TEST_KEY"
# Bearer followed by anything but the redaction marker is a leaked Authorization value.
LEAKED_BEARER = re.compile(rb"Bearer(?! \[redacted\])")


def leaks_in(data, key):
    found = []
    if key.encode() in data:
        found.append("the API key")
    m = LEAKED_BEARER.search(data)
    if m:
        found.append("an Authorization value: ..." + data[max(0, m.start() - 40):m.end() + 40].decode("utf-8", "replace"))
    return found


def scan_tree(root, key, skip):
    """Leaks in every file under root (binary-safe: the SQLite store is read as bytes)."""
    problems = []
    files = 0
    for path in sorted(pathlib.Path(root).rglob("*")):
        if not path.is_file() or path in skip:
            continue
        files += 1
        for what in leaks_in(path.read_bytes(), key):
            problems.append(f"{path}: {what}")
    return files, problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    args = ap.parse_args()
    exe = args.synthforge

    work = harness.workdir("secrets")
    key = "sk-synthforge-leakcheck-" + secrets.token_hex(16)
    env = dict(os.environ, **{ENV_NAME: key})

    script = [
        {"match": "^reject", "status": 401, "error": "invalid key: {authorization}"},
        {"match": "^flaky", "status": 503, "error": "busy, try later ({authorization})"},
    ]
    # Retried faults on every kind of prompt: each retry sends the key again.
    faults = {"rate_500": 0.15, "rate_429": 0.15, "retry_after": 0, "seed": 3}
    prompts = [f"Write a sentence about topic {i}." for i in range(12)]
    prompts += ["reject this one", "flaky answer please", "reject another"]
    inputs = harness.write_jsonl(work / "in.jsonl", [{"prompt": p} for p in prompts])
    # The failing run: good batches first, then a record that is not JSON.
    bad_input = work / "bad.jsonl"
    bad_input.write_text("".join(f'{{"prompt": "Line {i} of the story."}}\n' for i in range(6)) + "{not json\n")

    outputs = []
    with harness.Fixture(work, script=script, faults=faults) as fx:
        sets = harness.openai_sets(fx, api_key_env=ENV_NAME, concurrency=2)
        base = [exe, "run", "generate", "--seed", "1", "--batch-size", "3"]
        for k, v in sets.items():
            base += ["--set", f"{k}={v}"]
        base += ["--set", "llm.max_attempts=3"]

        ok = subprocess.run(base + ["-i", str(inputs), "-o", str(work / "ok.jsonl"), "--run-dir", str(work / "ok"),
                                    "--report", str(work / "ok.html")],
                            capture_output=True, env=env, timeout=600)
        outputs.append(("completed run", ok))
        # Exit 1: the run completed, and the requests the server refused are counted as failed.
        check(ok.returncode == 1 and (work / "ok.jsonl").exists(), f"the run did not complete: {ok.stderr.decode()[-2000:]}")
        rejects = harness.read_jsonl(work / "ok" / "rejects.jsonl")
        check(len(rejects) >= 3, f"the erroring prompts were not rejected: {rejects}")
        reasons = " ".join(r.get("_reason", "") for r in rejects)
        # The echoed header reached synthforge, which replaced it: the check below is not vacuous.
        check("Bearer [redacted]" in reasons, f"the server's echo did not reach the rejects: {reasons[:500]}")

        failed = subprocess.run(base + ["-i", str(bad_input), "-o", str(work / "failed.jsonl"),
                                        "--run-dir", str(work / "failed")],
                                capture_output=True, env=env, timeout=600)
        outputs.append(("failed run", failed))
        check(failed.returncode != 0, "the run over a bad record did not fail")
        check(b"bad.jsonl:7" in failed.stderr, f"the failure does not name the bad record: {failed.stderr[-500:]}")

        dry = subprocess.run(base + ["-i", str(inputs), "--dry-run", "3"], capture_output=True, env=env, timeout=300)
        outputs.append(("dry run", dry))
        check(dry.returncode == 0, f"the dry run failed: {dry.stderr.decode()[-2000:]}")
        check(ENV_NAME.encode() in dry.stdout + dry.stderr,
              "the dry run does not show the llm settings it would use")

        requests = fx.requests()

    # The key was sent, on retries too.
    sent = [r for r in requests if r.get("headers", {}).get("Authorization") == "Bearer " + key]
    check(len(sent) >= len(prompts) + 6, f"the key reached the server on {len(sent)} requests only")
    check(any(r.get("fault") for r in requests), "no fault was injected: nothing was retried")

    problems = []
    skip = {fx.log} | set(work.glob("script-*.json"))  # the server's own records of the headers
    files, found = scan_tree(work, key, skip)
    problems += found
    check(files >= 8, f"only {files} files were written: the scan would prove little")
    check(any(p.name.endswith(".sqlite") or ".sqlite" in p.name for p in work.rglob("*")),
          "no run store was written")
    for name, proc in outputs:
        for stream, data in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            problems += [f"{name} {stream}: {w}" for w in leaks_in(data, key)]
    check(not problems, "secret leaked:\n  " + "\n  ".join(problems))
    print(f"ok: {len(sent)} requests carried the key; {files} files and {2 * len(outputs)} streams hold no trace of it")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
