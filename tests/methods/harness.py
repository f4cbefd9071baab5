"""Shared helpers for the method tests: start the fixture server with a script, run a
built-in flow through the real CLI, read back its output, rejects and metadata.

Each method test is a plain script (`python3 X_test.py --synthforge PATH`) so ctest can
run it and a developer can run it by hand; a failed check prints FAIL and exits 1.
"""
import json
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURE = ROOT / "tests" / "fixture_server" / "fixture_server.py"
FLOWS = ROOT / "flows"


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def workdir(prefix):
    return pathlib.Path(tempfile.mkdtemp(prefix=f"sf-{prefix}-"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except Exception:
            time.sleep(0.2)
    return False


class Fixture:
    """The scripted OpenAI-compatible fixture server (tests/fixture_server)."""

    def __init__(self, work, script=None, faults=None):
        stamp = time.time_ns()
        self.log = work / f"fixture-{stamp}.jsonl"
        port_file = work / f"port-{stamp}"
        cmd = [sys.executable, str(FIXTURE), "--port", "0", "--port-file", str(port_file), "--log", str(self.log)]
        if script is not None:
            sp = work / f"script-{stamp}.json"
            sp.write_text(json.dumps(script))
            cmd += ["--script", str(sp)]
        if faults:
            cmd += ["--faults", json.dumps(faults)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while not port_file.exists() and time.time() < deadline:
            time.sleep(0.05)
        check(port_file.exists(), "fixture server did not start")
        self.url = f"http://127.0.0.1:{port_file.read_text().strip()}/v1"

    def stats(self):
        with urllib.request.urlopen(self.url.replace("/v1", "/stats")) as r:
            return json.loads(r.read())

    def requests(self):
        return [json.loads(l) for l in self.log.read_text().splitlines() if l.strip()]

    def prompts(self):
        return [e.get("prompt") or "" for e in self.requests()]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Result:
    def __init__(self, proc, run_dir, output):
        self.proc = proc
        self.run_dir = run_dir
        self.rows = read_jsonl(output)
        self.rejects = read_jsonl(run_dir / "rejects.jsonl")
        meta = run_dir / "metadata.json"
        self.metadata = json.loads(meta.read_text()) if meta.exists() else {}

    def rejected_by(self, block):
        return [r for r in self.rejects if r.get("_rejected_by") == block]

    def block(self, name):
        for b in self.metadata.get("blocks", []):
            if b["name"] == name:
                return b
        return None


def read_jsonl(path):
    path = pathlib.Path(path)
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def write_jsonl(path, rows):
    path = pathlib.Path(path)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_flow(exe, flow, work, name, inputs=(), sets=None, extra=(), expect_ok=True, timeout=900):
    """synthforge run FLOW -i ... --set ...; returns a Result. The flow is a built-in name or a path."""
    out = work / f"{name}.jsonl"
    run_dir = work / name
    cmd = [exe, "run", str(flow), "-o", str(out), "--run-dir", str(run_dir), "-q"]
    for i in inputs:
        cmd += ["-i", str(i)]
    for k, v in (sets or {}).items():
        cmd += ["--set", f"{k}={v}"]
    cmd += list(extra)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if expect_ok:
        check(proc.returncode == 0, f"{name}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    return Result(proc, run_dir, out)


def openai_sets(fixture, **more):
    sets = {"backend": "openai", "base_url": fixture.url, "model": "fixture"}
    sets.update(more)
    return sets


def tiny_model(exe, work):
    """A tiny random-weight GGUF with a real tokenizer: mechanics only, its text is noise."""
    path = work / "tiny.gguf"
    if not path.exists():
        subprocess.run([exe, "tiny-model", str(path)], check=True, capture_output=True)
    return path


class LlamaServer:
    """llama-server serving the tiny model, for smoke runs of a flow against a real server."""

    def __init__(self, exe, llama_server, work, parallel=4):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/v1"
        self.proc = subprocess.Popen([llama_server, "-m", str(tiny_model(exe, work)), "--host", "127.0.0.1",
                                      "--port", str(port), "-np", str(parallel), "-c", "8192", "-t", "2"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_http(f"http://127.0.0.1:{port}/health"):
            self.stop()
            check(False, "llama-server did not become healthy")

    def sets(self, **more):
        sets = {"backend": "openai", "base_url": self.url, "model": "tiny"}
        sets.update(more)
        return sets

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
