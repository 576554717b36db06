"""A paced REST producer for the steady-state benchmark (run as its own process).

    python bench/producer.py URL RATE SECONDS [BATCH]

Sends ``bench.noop`` jobs to ``URL/v1/jobs/batch`` for SECONDS: RATE jobs/s in small batches
every 10 ms, or with RATE 0 the maximum the system sustains: BATCH jobs per request as fast as
one connection goes while the backlog (pending jobs, counted in PostgreSQL) stays under
``MAX_BACKLOG``; an open-loop flood would only measure a growing queue. Each payload carries
``t``, the send time, from which the workers measure enqueue -> start latency. Prints
``{"sent": N, "start": T0, "end": T1}`` (wall clock).
"""

from __future__ import annotations

import http.client
import json
import sys
import time
import urllib.parse

import psycopg
from harness import API_KEY, DATABASE_URL

TICK = 0.01
MAX_BACKLOG = 5000


def pending(db: psycopg.Connection[tuple[int]]) -> int:
    row = db.execute("SELECT count(*) FROM quorra_jobs WHERE status = 'pending'").fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    url = urllib.parse.urlsplit(sys.argv[1])
    rate, seconds = float(sys.argv[2]), float(sys.argv[3])
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=60)
    headers = {"content-type": "application/json", "x-api-key": API_KEY}
    db = psycopg.connect(DATABASE_URL, autocommit=True)
    start = time.monotonic()
    wall_start = time.time()
    sent = 0
    tick = 0
    while (now := time.monotonic()) - start < seconds:
        if rate > 0:
            due = int(rate * (now - start)) + 1 - sent  # jobs owed by now (at least one)
            if due <= 0:
                tick += 1
                time.sleep(max(start + tick * TICK - time.monotonic(), 0))  # pacing
                continue
            n = min(due, 1000)
        else:
            n = batch
            while pending(db) > MAX_BACKLOG and time.monotonic() - start < seconds:
                time.sleep(0.005)  # backpressure: let the workers catch up
        stamp = time.time()
        jobs = [{"type": "bench.noop", "queue": "bench", "payload": {"n": sent + i, "t": stamp}}
                for i in range(n)]
        conn.request("POST", "/v1/jobs/batch", json.dumps({"jobs": jobs}), headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 201:
            raise SystemExit(f"enqueue answered {resp.status}")
        sent += n
        if rate > 0:
            tick = int((time.monotonic() - start) / TICK) + 1
            time.sleep(max(start + tick * TICK - time.monotonic(), 0))  # pacing
    db.close()
    print(json.dumps({"sent": sent, "start": wall_start, "end": time.time()}))


if __name__ == "__main__":
    main()
