#!/usr/bin/env python3
"""An OpenAI-compatible fixture server for tests: scripted answers and injected faults.

Python standard library only, so any test can start it without a virtualenv:

    python3 fixture_server.py --port 0 --port-file F [--script S.json] [--faults JSON] [--log L.jsonl]

--port 0 binds a free loopback port and writes it to F (atomically, once the socket listens).

Endpoints
  POST /v1/chat/completions, POST /v1/completions   answers (scripted or derived from the prompt)
  GET  /v1/models, GET /health                      liveness
  GET  /stats                                       request counters, current and peak in-flight count
  POST /v1/rerank, /v1/score, /classify, /custom/reward   reward scores (see "reward endpoints" below)
  POST /control                                     {"faults": {...}} merges fault settings,
                                                    {"script": [...]} replaces the rules,
                                                    {"reset": true} resets counters

Script: a JSON list of rules, first match wins:
  {"match": "regex searched in the last user message (or the raw prompt)",
   "reply": "text" | ["texts", "cycled", "per rule"],
   "reply_template": "text with \\1 or \\g<name>"  # instead of reply: the match's groups filled in
   "status": 400, "error": "message"}      # optional: answer with this error instead;
                                           # "{authorization}" in the message echoes the request's
                                           # Authorization header (a careless server, for leak tests)
Without a matching rule the answer is "Here is a response to: <first 60 chars of the prompt>"
(or, for a response_format json_schema, a minimal JSON instance of the schema holding that text).
max_tokens (counted in words) and stop strings are honoured; usage is filled.

Faults (--faults JSON or POST /control), decided per request from (seed, request number), so a
run with the same arrival order injects the same faults:
  rate_429, retry_after (seconds; header omitted when null), retry_after_date (send an HTTP date),
  rate_500, rate_503, rate_garbage (200 with a non-JSON body), rate_truncate (Content-Length larger
  than the body, then close), rate_reset (close the socket with a TCP RST, no answer),
  hang_rate (never answer; hang_s caps the wait), slow_ms (delay every answer),
  fail_first_n (the first N requests of each distinct prompt get a 500), seed.

Every request is logged to --log as one JSON line: ts (receipt time, epoch seconds), seq, method,
path, headers (all of them, Authorization included: tests check it never leaks elsewhere), body,
prompt, in_flight (concurrent requests including this one), fault and status.
"""

import argparse
import json
import os
import random
import re
import socket
import struct
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_FAULTS = {
    "rate_429": 0.0,
    "retry_after": None,
    "retry_after_date": False,
    "rate_500": 0.0,
    "rate_503": 0.0,
    "rate_garbage": 0.0,
    "rate_truncate": 0.0,
    "rate_reset": 0.0,
    "hang_rate": 0.0,
    "hang_s": 3600.0,
    "slow_ms": 0,
    "fail_first_n": 0,
    "seed": 0,
}

# Fault kinds in the order their probability intervals are laid out on [0, 1).
ROLLED_FAULTS = [
    ("hang", "hang_rate"),
    ("reset", "rate_reset"),
    ("429", "rate_429"),
    ("500", "rate_500"),
    ("503", "rate_503"),
    ("garbage", "rate_garbage"),
    ("truncate", "rate_truncate"),
]


class FixtureState:
    def __init__(self, faults, rules, log_path, model):
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.faults = dict(DEFAULT_FAULTS)
        self.faults.update(faults or {})
        self.set_rules(rules or [])
        self.model = model
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None
        self.reset()

    def set_rules(self, rules):
        compiled = []
        for rule in rules:
            reply = rule.get("reply", None)
            if isinstance(reply, str):
                reply = [reply]
            compiled.append({"re": re.compile(rule.get("match", "")), "reply": reply,
                             "status": rule.get("status"), "error": rule.get("error", "scripted error"),
                             "finish_reason": rule.get("finish_reason"), "template": rule.get("reply_template")})
        self.rules = compiled
        self.rule_counts = [0] * len(compiled)

    def reset(self):
        self.seq = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.per_prompt = {}
        self.rule_counts = [0] * len(self.rules)

    def log(self, entry):
        if not self.log_file:
            return
        line = json.dumps(entry, ensure_ascii=False)
        with self.lock:
            self.log_file.write(line + "\n")
            self.log_file.flush()


def prompt_of(body):
    """The text a rule matches: the last user message of a chat request, or the raw prompt."""
    if not isinstance(body, dict):
        return ""
    messages = body.get("messages")
    if isinstance(messages, list):
        for m in reversed(messages):
            if isinstance(m, dict) and m.get("role") == "user":
                content = m.get("content")
                return content if isinstance(content, str) else json.dumps(content)
        return ""
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = prompt[0] if prompt else ""
    return prompt if isinstance(prompt, str) else ""


def all_prompt_text(body):
    messages = body.get("messages")
    if isinstance(messages, list):
        return " ".join(m.get("content", "") for m in messages
                        if isinstance(m, dict) and isinstance(m.get("content"), str))
    return prompt_of(body)


def instance_of(schema, text):
    """A minimal value satisfying a (simple) JSON schema, so structured-output tests get JSON back."""
    if not isinstance(schema, dict):
        return text
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = kind[0] if kind else "string"
    if kind == "object":
        props = schema.get("properties", {})
        return {k: instance_of(v, text) for k, v in props.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [instance_of(schema.get("items", {}), text) for _ in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return text


def apply_limits(text, body):
    """Cut at the first stop string (finish_reason stop) or at max_tokens words (length)."""
    finish = "stop"
    stops = body.get("stop")
    if isinstance(stops, str):
        stops = [stops]
    if isinstance(stops, list):
        cut = min((text.find(s) for s in stops if isinstance(s, str) and s and s in text), default=-1)
        if cut >= 0:
            text = text[:cut]
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and max_tokens >= 0:
        # Cut after the max_tokens-th word, keeping the text's own spacing and newlines.
        words = list(re.finditer(r"\S+", text))
        if len(words) > max_tokens:
            text = text[:words[max_tokens - 1].end()] if max_tokens > 0 else ""
            finish = "length"
    return text, finish


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True
    server_version = "synthforge-fixture/1"

    @property
    def state(self):
        return self.server.state

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    # ---- plumbing ------------------------------------------------------------------------------

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return raw, json.loads(raw) if raw else None
        except ValueError:
            return raw, None

    def log_once(self, status):
        # Logged before the first byte of the answer goes out: once a client has its answer,
        # the log already holds the request (tests read the log right after the last outcome).
        entry = getattr(self, "pending_entry", None)
        if entry is not None:
            self.pending_entry = None
            entry["status"] = status
            self.state.log(entry)

    def send_json(self, status, obj, extra_headers=None):
        self.log_once(status)
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_error_json(self, status, message, extra_headers=None):
        kind = "rate_limit_error" if status == 429 else ("server_error" if status >= 500 else "invalid_request_error")
        self.send_json(status, {"error": {"message": message, "type": kind, "code": status}}, extra_headers)

    def reset_connection(self):
        # SO_LINGER 0 turns close() into a TCP RST: the client sees "connection reset", not a clean EOF.
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # drop the makefile reference so close() really closes the descriptor
            self.connection.close()
        except OSError:
            pass

    # ---- routes --------------------------------------------------------------------------------

    def do_GET(self):
        if self.path in ("/health", "/v1/health"):
            self.send_json(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [
                {"id": self.state.model or "fixture-model", "object": "model", "owned_by": "synthforge-fixture"}]})
        elif self.path == "/stats":
            st = self.state
            with st.lock:
                self.send_json(200, {"requests": st.seq, "in_flight": st.in_flight,
                                     "max_in_flight": st.max_in_flight, "per_prompt": st.per_prompt})
        else:
            self.send_error_json(404, "no route for GET " + self.path)

    def do_POST(self):
        if self.path == "/control":
            return self.control()
        if self.path in ("/v1/chat/completions", "/v1/completions"):
            return self.completion()
        if self.path in REWARD_PATHS:
            return reward_answer(self)
        self.read_body()
        self.send_error_json(404, "no route for POST " + self.path)

    def control(self):
        _, body = self.read_body()
        st = self.state
        with st.lock:
            if isinstance(body, dict):
                if isinstance(body.get("faults"), dict):
                    st.faults.update(body["faults"])
                if isinstance(body.get("script"), list):
                    st.set_rules(body["script"])
                if body.get("reset"):
                    st.reset()
            reply = {"faults": st.faults, "requests": st.seq}
        self.send_json(200, reply)

    def completion(self):
        st = self.state
        received = time.time()
        raw, body = self.read_body()
        prompt = prompt_of(body)
        with st.lock:
            st.seq += 1
            seq = st.seq
            st.in_flight += 1
            st.max_in_flight = max(st.max_in_flight, st.in_flight)
            in_flight = st.in_flight
            seen = st.per_prompt.get(prompt, 0) + 1
            st.per_prompt[prompt] = seen
            faults = dict(st.faults)
        try:
            fault = self.choose_fault(faults, seq, seen)
            entry = {"ts": received, "seq": seq, "method": "POST", "path": self.path,
                     "headers": dict(self.headers.items()),
                     "body": body if body is not None else raw.decode("utf-8", "replace"),
                     "prompt": prompt, "in_flight": in_flight, "fault": fault}
            self.pending_entry = entry
            slow = float(faults.get("slow_ms") or 0) / 1000.0
            if slow > 0:
                time.sleep(slow)
            status = self.answer(body, prompt, fault, faults, seq)
            self.log_once(status)
        finally:
            self.pending_entry = None
            with st.lock:
                st.in_flight -= 1

    def choose_fault(self, faults, seq, seen):
        if int(faults.get("fail_first_n") or 0) >= seen:
            return "fail_first_n"
        roll = random.Random("%s:%d" % (faults.get("seed", 0), seq)).random()
        edge = 0.0
        for name, key in ROLLED_FAULTS:
            edge += float(faults.get(key) or 0)
            if roll < edge:
                return name
        return None

    def answer(self, body, prompt, fault, faults, seq):
        """Sends the response (or misbehaves); returns the status for the log (0: no answer)."""
        st = self.state
        if fault == "hang":
            self.log_once(0)  # now: the client gives up long before we return
            st.stop.wait(float(faults.get("hang_s") or 3600))
            self.reset_connection()
            return 0
        if fault == "reset":
            self.log_once(0)
            self.reset_connection()
            return 0
        if fault == "429":
            headers = {}
            ra = faults.get("retry_after")
            if ra is not None:
                headers["Retry-After"] = (formatdate(time.time() + float(ra), usegmt=True)
                                          if faults.get("retry_after_date") else str(ra))
            self.send_error_json(429, "rate limit reached, slow down", headers)
            return 429
        if fault in ("500", "fail_first_n"):
            self.send_error_json(500, "internal server error (injected)")
            return 500
        if fault == "503":
            self.send_error_json(503, "server overloaded (injected)")
            return 503
        if fault == "garbage":
            data = b"<html><body>502 Bad Gateway</body></html>"
            self.log_once(200)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return 200

        if not isinstance(body, dict):
            self.send_error_json(400, "request body is not a JSON object")
            return 400
        chat = self.path.endswith("/chat/completions")
        if chat and not isinstance(body.get("messages"), list):
            self.send_error_json(400, "'messages' is required")
            return 400
        if not chat and "prompt" not in body:
            self.send_error_json(400, "'prompt' is required")
            return 400
        model = body.get("model")
        if st.model and model != st.model:
            self.send_error_json(404, "model '%s' not found" % model)
            return 404

        text, finish_override = None, None
        with st.lock:
            for i, rule in enumerate(st.rules):
                m = rule["re"].search(prompt)
                if m:
                    if rule["status"]:
                        message = str(rule["error"]).replace("{authorization}", self.headers.get("Authorization", ""))
                        status = int(rule["status"])
                        text = None
                        break
                    replies = rule["reply"] or [""]
                    text = m.expand(rule["template"]) if rule["template"] else replies[st.rule_counts[i] % len(replies)]
                    st.rule_counts[i] += 1
                    finish_override = rule["finish_reason"]
                    status = None
                    break
            else:
                status = None
        if status:
            self.send_error_json(status, message)
            return status
        if text is None:
            text = "Here is a response to: " + prompt[:60]
            fmt = body.get("response_format")
            if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
                schema = (fmt.get("json_schema") or {}).get("schema", {})
                text = json.dumps(instance_of(schema, text))
            elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
                text = json.dumps({"answer": text})
        text, finish = apply_limits(text, body)
        if finish_override:
            finish = finish_override
        usage = {"prompt_tokens": max(1, len(all_prompt_text(body)) // 4), "completion_tokens": len(text.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        choice = {"index": 0, "finish_reason": finish}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        reply = {"id": "fixture-%d" % seq, "object": "chat.completion" if chat else "text_completion",
                 "created": int(time.time()), "model": model or "fixture-model", "choices": [choice], "usage": usage}
        if fault == "truncate":
            data = json.dumps(reply).encode()
            self.log_once(200)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data) + 64))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return 200
        self.send_json(200, reply)
        return 200


# ---- reward endpoints ----------------------------------------------------------------------------
# Scored (query, document) pairs, shaped as each server answers them:
#   POST /v1/rerank      llama-server --rerank: {query, documents: [d]} -> {results: [{index, relevance_score}]}
#   POST /v1/score       vLLM cross-encoder: {text_1, text_2} -> {data: [{index, score}]}
#   POST /classify       vLLM classifier/reward model: {messages: [user q, assistant d]} -> {data: [{probs: [p]}]}
#   POST /custom/reward  a made-up API for the generic form: {inputs: {question, answer}} -> {outputs: [{reward}]}
# The score comes from the script: the first rule whose regex is found in "<query>\n\n<document>"
# and whose reply is a number (e.g. {"match": "GOOD", "reply": "0.9"}); rules with other replies
# are skipped, so chat rules and reward rules share one script. No such rule: 0.5. The faults
# 429, 500, 503 and fail_first_n apply as for completions. Logged like completions, with the
# pair as "prompt".

REWARD_PATHS = ("/v1/rerank", "/rerank", "/v1/score", "/score", "/classify", "/custom/reward")


def reward_pair(path, body):
    """(query, document) of a reward request, or None when the body lacks them."""
    if not isinstance(body, dict):
        return None
    try:
        if path.endswith("rerank"):
            return body["query"], body["documents"][0]
        if path.endswith("score"):
            return body["text_1"], body["text_2"]
        if path == "/classify":
            return body["messages"][0]["content"], body["messages"][1]["content"]
        return body["inputs"]["question"], body["inputs"]["answer"]
    except (KeyError, IndexError, TypeError):
        return None


def reward_answer(handler):
    st = handler.state
    received = time.time()
    raw, body = handler.read_body()
    pair = reward_pair(handler.path, body)
    prompt = "" if pair is None else pair[0] + "\n\n" + pair[1]
    with st.lock:
        st.seq += 1
        seq = st.seq
        st.in_flight += 1
        st.max_in_flight = max(st.max_in_flight, st.in_flight)
        in_flight = st.in_flight
        seen = st.per_prompt.get(prompt, 0) + 1
        st.per_prompt[prompt] = seen
        faults = dict(st.faults)
    try:
        fault = handler.choose_fault(faults, seq, seen)
        handler.pending_entry = {"ts": received, "seq": seq, "method": "POST", "path": handler.path,
                                 "headers": dict(handler.headers.items()),
                                 "body": body if body is not None else raw.decode("utf-8", "replace"),
                                 "prompt": prompt, "in_flight": in_flight, "fault": fault}
        if fault == "429":
            return handler.send_error_json(429, "rate limit reached, slow down")
        if fault in ("500", "fail_first_n"):
            return handler.send_error_json(500, "internal server error (injected)")
        if fault == "503":
            return handler.send_error_json(503, "server overloaded (injected)")
        if pair is None:
            return handler.send_error_json(400, "not a reward request for " + handler.path)
        model = body.get("model")
        if st.model and model != st.model:
            return handler.send_error_json(404, "model '%s' not found" % model)
        score = 0.5
        with st.lock:
            for rule in st.rules:
                if rule["status"] or not rule["reply"] or not rule["re"].search(prompt):
                    continue
                try:
                    score = float(rule["reply"][0])
                    break
                except ValueError:
                    continue
        usage = {"prompt_tokens": max(1, len(prompt) // 4), "total_tokens": max(1, len(prompt) // 4)}
        if handler.path.endswith("rerank"):
            reply = {"model": model, "object": "list", "usage": usage,
                     "results": [{"index": 0, "relevance_score": score}]}
        elif handler.path.endswith("score"):
            reply = {"object": "list", "model": model, "usage": usage,
                     "data": [{"index": 0, "object": "score", "score": score}]}
        elif handler.path == "/classify":
            reply = {"object": "list", "model": model, "usage": usage,
                     "data": [{"index": 0, "label": "LABEL_0", "probs": [score], "num_classes": 1}]}
        else:
            reply = {"outputs": [{"reward": score}]}
        handler.send_json(200, reply)
    finally:
        handler.pending_entry = None
        with st.lock:
            st.in_flight -= 1


class FixtureServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many clients connect at once at test start
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--script", help="JSON file with a list of rules")
    ap.add_argument("--faults", help="JSON object of fault settings")
    ap.add_argument("--log", help="append one JSON line per request here")
    ap.add_argument("--model", default="", help="when set, other model names get a 404")
    args = ap.parse_args()

    rules = []
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            rules = json.load(f)
    faults = json.loads(args.faults) if args.faults else {}
    unknown = set(faults) - set(DEFAULT_FAULTS)
    if unknown:
        sys.exit("fixture_server: unknown fault settings: " + ", ".join(sorted(unknown)))

    server = FixtureServer((args.host, args.port), Handler)
    server.state = FixtureState(faults, rules, args.log, args.model)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.state.stop.set()


if __name__ == "__main__":
    main()
