#!/usr/bin/env python3
"""A local HTTP server standing in for an SMS provider and a webhook in the tests.

It listens on 127.0.0.1 on a free port, writes {"port": N} to --ready once it accepts
connections, and appends one JSON line per request to --log: method, path, headers (names
lower-cased), body and received_at (seconds since 1970). It answers 201 with {"sid": "SM<n>", "id": "msg-<n>"} unless a rule
matches: a rule answers STATUS with BODY to any request whose body
contains SUBSTRING (checked in the order given); it takes three arguments: --rule SUBSTRING STATUS BODY.

With --callback, it also acts as a job service for the HTTPTask runner: after answering a request
whose JSON body has a callback_url, it POSTs {"status": "running", "progress": 50} and then
{"status": "succeeded", "result": {"job": n}} to that URL, or {"status": "failed", "reason": "tests
failed"} when the body contains "please-fail", each --callback-delay seconds (default 0.05) after
the one before.
"""
import argparse
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def call_back(url, n, fail, delay):
    """Reports progress, then the outcome, to the host's callback URL.

    Like a real job service, it retries a report the host could not take (no answer, or a 5xx:
    the host's database restarting) every 0.2 s for up to two minutes; a 4xx answer is final.
    """
    reports = [{"status": "running", "progress": 50}]
    reports.append({"status": "failed", "reason": "tests failed"} if fail else {"status": "succeeded", "result": {"job": n}})
    for report in reports:
        time.sleep(delay)
        deadline = time.monotonic() + 120
        while True:
            request = urllib.request.Request(url, data=json.dumps(report).encode("utf-8"), method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(request, timeout=10).read()
                break
            except urllib.error.HTTPError as error:
                if error.code < 500 or time.monotonic() > deadline:
                    print(f"callback to {url} answered {error.code}", flush=True)
                    break
            except Exception as error:  # the test sees the enrollment not moving on
                if time.monotonic() > deadline:
                    print(f"callback to {url} failed: {error}", flush=True)
                    break
            time.sleep(0.2)


def exit_with_parent():
    """Stops the server when the test process that started it is gone, even if it crashed."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main():
    # The test runner may block SIGTERM; a child inherits that mask, so unblock it.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Thread(target=exit_with_parent, daemon=True).start()
    parser = argparse.ArgumentParser()
    parser.add_argument("--rule", action="append", nargs=3, default=[], metavar=("SUBSTRING", "STATUS", "BODY"))
    parser.add_argument("--log", required=True)
    parser.add_argument("--callback", action="store_true")
    parser.add_argument("--callback-delay", type=float, default=0.05, help="seconds before each report")
    parser.add_argument("--ready", required=True)
    args = parser.parse_args()

    rules = []
    for match, status, body in args.rule:
        rules.append((match, int(status), body))
    lock = threading.Lock()
    counter = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8")
            with lock:
                counter[0] += 1
                n = counter[0]
                with open(args.log, "a", encoding="utf-8") as log:
                    log.write(json.dumps({
                        "received_at": time.time(),
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }) + "\n")
            status, answer = 201, json.dumps({"sid": f"SM{n:04d}", "id": f"msg-{n}"})
            for match, rule_status, rule_body in rules:
                if match in body:
                    status, answer = rule_status, rule_body
                    break
            data = answer.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            if args.callback and 200 <= status < 300:
                url = json.loads(body).get("callback_url")
                if url:
                    threading.Thread(target=call_back, args=(url, n, "please-fail" in body, args.callback_delay), daemon=True).start()

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    open(args.log, "a").close()
    with open(args.ready + ".tmp", "w") as ready:
        json.dump({"port": server.server_address[1]}, ready)
    os.replace(args.ready + ".tmp", args.ready)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
