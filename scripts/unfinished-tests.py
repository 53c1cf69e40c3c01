#!/usr/bin/env python3
"""Prints the tests a `swift test` log shows started and never ended (passed or failed).

After a run stopped by a watchdog, these are where it hung: `.ci/run` prints them last, where a
truncated CI log still shows them. A test that ended can be listed too, rarely: Swift Testing's
line for it can be lost among the lines other threads print at the same moment (seen once in a
passing run).

    scripts/unfinished-tests.py LOG
"""
import re
import sys

started, ended = {}, set()
with open(sys.argv[1], encoding="utf-8", errors="replace") as log:
    for number, line in enumerate(log, 1):
        if line.startswith("◇ Test case passing"):   # a case of a parameterized test: no line ends it
            continue
        if m := re.match(r"◇ Test (.+) started\.$", line.rstrip("\n")):
            started.setdefault(m.group(1), number)
        elif m := re.match(r"[✔✘➜] Test (.+?)(?: with \d+ test cases?| with \d+ tests? in \d+ suites?)? (?:(?:passed|failed) after [\d.]+ seconds|skipped)", line):
            ended.add(m.group(1))
        elif m := re.match(r"[✔✘] Suite (.+?) (?:passed|failed) after [\d.]+ seconds", line):
            ended.add("suite " + m.group(1))
unfinished = [(number, name) for name, number in started.items() if name not in ended]
for number, name in sorted(unfinished):
    print(f"  {name} (started on line {number})")
if not unfinished:
    print("  none")
