#!/usr/bin/env python3
"""A flow cannot make synthforge write outside its run directory and output paths.

Runs flows under strace and records every system call that creates, writes, renames,
links or removes a file or directory, by any thread, whether it succeeded or not. Every
such path must lie in the run directory, or be one of the output, rejects and report files
the command line named (or their temporary and probe siblings, which share the name as a
prefix). The flows exercise every kind of work a flow can ask for — file-reading blocks, a
sub-flow, a repeat, barriers, the openai backend against the fixture server, the in-process
llama backend with the tiny model, a report — and one of them has hostile-looking names
(columns, params and a flow name with "..", "/" and absolute paths in them). A second pass
resumes a run that was killed part way, so the writes of a resume are checked too.

The trace itself is checked not to be vacuous: the run store, output and report writes
must appear in it.
"""
import argparse
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "methods"))
import harness  # noqa: E402
from harness import check  # noqa: E402

TRACED = ("open,openat,openat2,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,rmdir,"
          "link,linkat,symlink,symlinkat,truncate,chdir,fchdir,mknod,mknodat")
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
# pid syscall(args...) — args up to the end of the line (or "<unfinished ...>").
CALL = re.compile(r"^(?:\[pid\s+)?\d*\]?\s*(\w+)\((.*)")
# A path argument: optionally a directory fd shown by -y (3</dir>), then "path".
PATH_ARG = re.compile(r'(?:(AT_FDCWD|\d+<([^>]*)>),\s*)?"((?:[^"\\]|\\.)*)"')


def write_paths(trace, cwd):
    """(syscall, absolute path) of every call in the strace log that writes to the file system."""
    found = []
    for line in trace.read_text(errors="replace").splitlines():
        m = CALL.match(line.strip())
        if not m or "resumed>" in line:
            continue
        name, args = m.groups()
        if name in ("open", "openat", "openat2", "creat"):
            if name != "creat" and not any(f in args for f in WRITE_FLAGS):
                continue
        elif name in ("chdir", "fchdir"):
            found.append((name, "(changes the working directory) " + args))
            continue
        for dirfd, fd_dir, path in PATH_ARG.findall(args):
            path = bytes(path, "utf-8").decode("unicode_escape")
            base = pathlib.Path(fd_dir) if fd_dir else cwd
            found.append((name, os.path.normpath(base / path)))
            if name in ("open", "openat", "openat2", "creat", "mkdir", "mkdirat", "unlink", "unlinkat", "rmdir",
                        "truncate", "mknod", "mknodat"):
                break  # one path argument; the rest (e.g. a mode string) is not a path
    return found


def allowed(path, run_dir, named):
    p = pathlib.Path(path)
    if p == run_dir or run_dir in p.parents:
        return True
    if str(p) in ("/dev/null", "/dev/tty"):
        return True
    # The named outputs, and siblings whose names start with them (NAME.tmp-PID, NAME.probe-PID).
    return any(p.parent == n.parent and p.name.startswith(n.name) for n in named)


def traced_run(exe, work, tag, args, cwd, env=None, kill_after=None):
    trace = work / f"trace-{tag}.log"
    cmd = ["strace", "-f", "-qq", "-y", "-s", "4096", "-e", "signal=none", "-e", "trace=" + TRACED, "-o", str(trace),
           exe] + args
    env = dict(env or os.environ)
    # LeakSanitizer cannot run under ptrace (it stops the world with ptrace itself): in a
    # sanitizer build the traced process checks everything but leaks; other tests check those.
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS", ""), "detect_leaks=0"]))
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if kill_after is not None:
        time.sleep(kill_after)
        # SIGKILL synthforge itself (strace's child), as a crash would.
        for line in trace.read_text(errors="replace").splitlines()[:1]:
            pid = int(line.split()[0])
            os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), trace


def check_trace(trace, cwd, run_dir, named, tag, must_see):
    calls = write_paths(trace, cwd)
    bad = sorted({f"{name} {path}" for name, path in calls if not allowed(path, run_dir, named)})
    check(not bad, f"{tag}: writes outside the run directory and the named outputs:\n  " + "\n  ".join(bad))
    for what in must_see:
        check(any(str(path).startswith(str(what)) for _, path in calls),
              f"{tag}: the trace shows no write to {what}: the check would prove nothing "
              f"({len(calls)} writing calls traced)")
    return len(calls)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    args = ap.parse_args()
    exe = os.path.abspath(args.synthforge)
    if not shutil.which("strace"):
        print("strace is not installed (scripts/install-deps.sh installs it)")
        return 1

    work = harness.workdir("writes")
    cwd = work / "cwd"
    cwd.mkdir()
    flows = work / "flows"
    (flows / "parts").mkdir(parents=True)
    (flows / "words.txt").write_text("apple\npear\nplum\n")
    (flows / "deny.txt").write_text("forbidden\n")
    harness.write_jsonl(flows / "seeds.jsonl", [{"text": "a seed sentence about fruit"}])
    harness.write_jsonl(flows / "examples.jsonl", [{"user": "Say hi.", "assistant": "Hi."}])
    (flows / "prompt.j2").write_text("Write about {{ word }}: {{ prompt }}")
    (flows / "parts" / "tag.yaml").write_text(
        "version: 1\nblocks:\n  - {name: tag, type: set, config: {column: tag, template: \"{{ word }}!\"}}\n")
    # Names that look like paths: a flow that meant harm would try these.
    (flows / "flow.yaml").write_text(f"""version: 1
name: ..
params:
  out: {{default: "../../../../tmp/synthforge-escape-{os.getpid()}"}}
  backend: {{default: openai}}
  base_url: {{default: ""}}
  model: {{default: fixture}}
llm: {{backend: "${{backend}}", base_url: "${{base_url}}", model: "${{model}}", concurrency: 4}}
sampling: {{max_tokens: 16}}
blocks:
  - {{name: word, type: pick, config: {{column: word, from_file: words.txt}}}}
  - {{name: "escape", type: set, config: {{column: "${{out}}", template: "/etc/passwd"}}}}
  - name: gen
    type: llm_generate
    config: {{prompt_file: prompt.j2, examples_file: examples.jsonl, output: response}}
  - {{name: sub, type: flow, config: {{file: parts/tag.yaml}}}}
  - {{name: pii, type: pii, config: {{deny_lists: [{{name: WORDS, file: deny.txt}}], action: flag}}}}
  - {{name: leak, type: leakage, config: {{reference: seeds.jsonl, field: response}}}}
  - name: again
    type: repeat
    config:
      max_rounds: 2
      input: same
      blocks:
        - {{name: mark, type: set, config: {{column: round_mark, template: "marked"}}}}
  - {{name: once, type: dedup_exact, config: {{columns: [prompt, round]}}}}
  - {{name: some, type: sample, config: {{k: 1000}}}}
""")
    inputs = harness.write_jsonl(work / "in.jsonl", [{"prompt": f"prompt number {i}"} for i in range(40)])
    out_dir = work / "out"
    out_dir.mkdir()
    escape = pathlib.Path(f"/tmp/synthforge-escape-{os.getpid()}")

    # The detector itself: a command that does write elsewhere (tiny-model writes the file it
    # is told to) must be caught, or a clean result below would mean nothing.
    elsewhere = work / "elsewhere" / "model.gguf"
    elsewhere.parent.mkdir()
    rc, _, err, trace = traced_run(exe, work, "detector", ["tiny-model", str(elsewhere)], cwd)
    check(rc == 0, f"tiny-model failed: {err[-2000:]}")
    caught = [p for _, p in write_paths(trace, cwd) if not allowed(p, work / "run-none", [])]
    check(str(elsewhere) in caught, f"the trace parser missed tiny-model writing {elsewhere}: {caught}")

    total = 0
    with harness.Fixture(work) as fx:
        # 1. The openai backend, a report, named output and rejects files.
        run_dir = work / "run-openai"
        named = [out_dir / "data.jsonl", out_dir / "rejected.jsonl", out_dir / "report.html"]
        rc, _, err, trace = traced_run(
            exe, work, "openai",
            ["run", str(flows / "flow.yaml"), "-i", str(inputs), "-o", str(named[0]), "--rejects", str(named[1]),
             "--report", str(named[2]), "--run-dir", str(run_dir), "--batch-size", "7", "-q",
             "--set", f"base_url={fx.url}"], cwd)
        check(rc == 0, f"the openai run failed (exit {rc}):\n{err[-3000:]}")
        check(len(harness.read_jsonl(named[0])) > 0, f"the openai run wrote no rows; rejects: {harness.read_jsonl(named[1])[:3]}")
        total += check_trace(trace, cwd, run_dir, named, "openai run", [run_dir, named[0], named[2]])

        # 2. Killed part way, then resumed: the resume's writes too.
        run_dir = work / "run-killed"
        named = [out_dir / "killed.jsonl"]
        slow = harness.Fixture(work, faults={"slow_ms": 150, "seed": 1})
        with slow:
            base = ["run", str(flows / "flow.yaml"), "-i", str(inputs), "-o", str(named[0]), "--run-dir", str(run_dir),
                    "--batch-size", "5", "-q", "--set", f"base_url={slow.url}"]
            traced_run(exe, work, "killed", base, cwd, kill_after=2.0)
            rc, _, err, trace = traced_run(exe, work, "resumed", ["run", str(flows / "flow.yaml"), "-i", str(inputs),
                                                                  "-o", str(named[0]), "--resume", str(run_dir), "-q",
                                                                  "--set", f"base_url={slow.url}"], cwd)
        check(rc == 0, f"the resumed run failed (exit {rc}):\n{err[-3000:]}")
        total += check_trace(work / "trace-killed.log", cwd, run_dir, named, "killed run", [run_dir])
        total += check_trace(trace, cwd, run_dir, named, "resumed run", [run_dir, named[0]])

    # 3. The in-process llama backend (tiny random model: mechanics only), with the default run
    # directory (runs/<flow name>-<time> under the working directory; the flow is named "..")
    # and the default output inside it.
    model = harness.tiny_model(exe, work)
    rc, _, err, trace = traced_run(
        exe, work, "llama",
        ["run", str(flows / "flow.yaml"), "-i", str(inputs), "-q", "--set", "backend=llama", "--set",
         f"model={model}", "--set", "llm.n_ctx=2048"], cwd)
    check(rc == 0, f"the llama run failed (exit {rc}):\n{err[-3000:]}")
    run_dirs = list((cwd / "runs").iterdir()) if (cwd / "runs").is_dir() else []
    check(len(run_dirs) == 1, f"expected one default run directory under {cwd / 'runs'}, found {run_dirs}")
    run_dir = run_dirs[0]
    total += check_trace(trace, cwd, cwd / "runs", [], "llama run", [run_dir / "output.jsonl"])

    check(not escape.exists(), f"{escape} exists: a column named like a path became a file")
    print(f"ok: {total} file-writing system calls traced over 4 runs, all inside the run directories and named outputs")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
