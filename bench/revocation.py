#!/usr/bin/env python3
"""The revocation test of bench/run.sh: two authbridge instances with the session cache on, one
PostgreSQL database. For each token, in turn: make sure instance B answers it (B is also loaded
with reads of these sessions by wrk meanwhile), sign it out through instance A, then poll B until
it answers null. The time from A's acknowledgement to B's first null answer is the revocation
delay. Also checks that A itself never answers a session after acknowledging its sign-out.

    revocation.py A_URL B_URL TOKENS_FILE COUNT

Prints one JSON line: {"signouts", "p50_us", "p99_us", "max_us", "mean_us", "polls",
"answered_by_a_after_ack"}.
"""

import http.client
import json
import sys
import time
import urllib.parse

READ = "/v1/adapter/getSessionAndUser"


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)

    def post(self, path, body):
        self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        text = response.read()
        if response.status != 200:
            sys.exit(f"{path}: HTTP {response.status}: {text[:200]!r}")
        return json.loads(text)


def percentile(values, p):
    index = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[index]


def main():
    a_url, b_url, tokens_file, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    tokens = [t for t in open(tokens_file).read().split("\n") if t][:count]
    if len(tokens) < count:
        sys.exit(f"{tokens_file} holds {len(tokens)} tokens, {count} needed")
    a, b = Client(a_url), Client(b_url)
    delays, polls, answered_by_a = [], 0, 0
    for token in tokens:
        read = {"sessionToken": token, "slide": False}
        # Read twice on B: the second read is a hit once the first filled the cache.
        for _ in range(2):
            if b.post(READ, read) is None:
                sys.exit("B does not answer a live session")
        if a.post("/v1/adapter/deleteSession", {"sessionToken": token}) is None:
            sys.exit("the sign-out through A found no session")
        acknowledged = time.perf_counter()
        if a.post(READ, read) is not None:
            answered_by_a += 1
        while True:
            polls += 1
            if b.post(READ, read) is None:
                delays.append(time.perf_counter() - acknowledged)
                break
            if time.perf_counter() - acknowledged > 120:
                sys.exit("B still answers a session 120 s after its sign-out")
    delays_us = sorted(int(d * 1e6) for d in delays)
    print(json.dumps({
        "signouts": len(delays_us),
        "p50_us": percentile(delays_us, 50),
        "p99_us": percentile(delays_us, 99),
        "max_us": delays_us[-1],
        "mean_us": sum(delays_us) / len(delays_us),
        "polls": polls,
        "answered_by_a_after_ack": answered_by_a,
    }))


if __name__ == "__main__":
    main()
