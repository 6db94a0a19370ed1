#!/usr/bin/env python3
"""Turns the measurements of bench/run.sh into the results table.

    report.py pgbench-log T0_US T1_US LOG...          one JSON line like session-read.lua's
    report.py table RESULTS.jsonl META_JSON [--write RESULTS.md]
"""

import json
import sys

PEERS = [
    ("pgbench", "pgbench -M prepared, same statement"),
    ("pg-adapter", "@auth/pg-adapter + node:http"),
    ("prisma-adapter", "@auth/prisma-adapter + node:http"),
]
PGBOUNCER_LABEL = "**authbridge**, `pgbouncer=true` through PgBouncer (transaction mode)"
CACHE_LABEL = "**authbridge**, session cache on (TTL 1 s; {hot:,} active sessions)"
PLAIN_LABEL = "pgbench -M prepared, plain read (SELECT sessions JOIN users by token)"
# Targets of issue 18.
TARGET_CACHE_OVER_PLAIN = 2.0
TARGET_REVOCATION_P99_MS = 50.0
# Targets of issue 9, at 32 connections.
TARGET_CONNS = 32
# Issue 18's targets; pgbench runs the plain read, which is the statement authbridge sends.
TARGETS = {"pgbench": 0.80, "pg-adapter": 5.0, "prisma-adapter": 10.0}
TARGET_CPU_US = 20.0
TARGET_SQLITE_OVER_PG = 1.5
TARGET_P99_MS = 5.0
TARGET_RSS_MIB = 40.0


def percentile(sorted_values, p):
    if not sorted_values:
        return 0
    index = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def pgbench_log(t0_us, t1_us, log_files):
    """The transactions of pgbench's -l logs that ended inside [t0_us, t1_us]."""
    latencies, failed = [], 0
    for name in log_files:
        with open(name) as f:
            for line in f:
                # client_id transaction_no latency_us|failed script_no epoch_s epoch_us
                fields = line.split()
                if len(fields) < 6 or not t0_us <= int(fields[4]) * 1_000_000 + int(fields[5]) <= t1_us:
                    continue
                if fields[2].isdigit():
                    latencies.append(int(fields[2]))
                else:
                    failed += 1
    latencies.sort()
    return {
        "requests": len(latencies),
        "duration_us": t1_us - t0_us,
        "connect_errors": 0, "read_errors": 0, "write_errors": 0, "timeouts": 0, "status_errors": failed,
        "p50_us": percentile(latencies, 50), "p90_us": percentile(latencies, 90),
        "p99_us": percentile(latencies, 99), "p999_us": percentile(latencies, 99.9),
        "max_us": latencies[-1] if latencies else 0,
        "mean_us": sum(latencies) / len(latencies) if latencies else 0,
    }


def rps(row):
    return row["requests"] / row["duration_us"] * 1e6 if row["duration_us"] else 0.0


def errors(row):
    return sum(row.get(k, 0) for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))


def cores(cpu_s, row):
    if cpu_s is None:
        return "–"
    wall = row["wall_us"] / 1e6
    per_request = cpu_s / row["requests"] * 1e6 if row["requests"] else 0
    return f"{cpu_s / wall:.2f} ({per_request:.0f} µs/req)"


def ms(us):
    return f"{us / 1000:.2f}"


def mib(row):
    return f"{row['peak_rss_kib'] / 1024:.1f}" if row.get("peak_rss_kib") else "–"


def load_row(row, label, with_db=True):
    cells = [str(row["conns"]), label, f"{rps(row):,.0f}", ms(row["p50_us"]), ms(row["p99_us"]),
             cores(row["server_cpu_s"], row)]
    if with_db:
        cells.append(cores(row["db_cpu_s"], row))
    cells += [mib(row), str(errors(row))]
    return "| " + " | ".join(cells) + " |"


def table(results_file, meta, write_to):
    rows = [json.loads(line) for line in open(results_file) if line.strip()]
    load = {(r["system"], r["conns"]): r for r in rows if r["kind"] == "load"}
    writes = [r for r in rows if r["kind"] == "writes"]
    cache = next((r for r in rows if r["kind"] == "cache"), None)
    revocation = next((r for r in rows if r["kind"] == "revocation"), None)
    cache_label = CACHE_LABEL.format(hot=cache["hot_sessions"] if cache else 0)
    conns_list = sorted({c for (_, c) in load})
    out = []
    say = out.append

    say("### PostgreSQL: getSessionAndUser, random valid tokens, HTTP/1.1 keep-alive")
    say("")
    say("| conns | server | req/s | p50 ms | p99 ms | server CPU, cores (per request) "
        "| PostgreSQL CPU, cores (per request) | peak RSS MiB | errors |")
    say("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for conns in conns_list:
        if ("authbridge-pg", conns) in load:
            say(load_row(load[("authbridge-pg", conns)], "**authbridge**"))
        if ("authbridge-pg-cache", conns) in load:
            say(load_row(load[("authbridge-pg-cache", conns)], cache_label))
        if ("authbridge-pgbouncer", conns) in load:
            say(load_row(load[("authbridge-pgbouncer", conns)], PGBOUNCER_LABEL))
        for system, label in PEERS:
            if (system, conns) in load:
                say(load_row(load[(system, conns)], label))
        if ("pgbench-plain", conns) in load:
            say(load_row(load[("pgbench-plain", conns)], PLAIN_LABEL))
    say("")
    say("pgbench's CPU is PostgreSQL's: it has no server of its own. Peak RSS is the server process's VmHWM "
        "since it started (so it grows with the runs before).")
    say("")
    say("| conns | authbridge ÷ pgbench | authbridge ÷ @auth/pg-adapter | authbridge ÷ @auth/prisma-adapter |")
    say("|---:|---:|---:|---:|")
    ratios = {}
    for conns in conns_list:
        ours = load.get(("authbridge-pg", conns))
        cells = [str(conns)]
        for system, _ in PEERS:
            peer = load.get((system, conns))
            if ours and peer and rps(peer):
                ratio = rps(ours) / rps(peer)
                ratios[(system, conns)] = ratio
                cells.append(f"{ratio:.0%}" if system == "pgbench" else f"{ratio:.2f}×")
            else:
                cells.append("–")
        say("| " + " | ".join(cells) + " |")
    say("")

    if any(system == "authbridge-pgbouncer" for (system, _) in load):
        say("### What `pgbouncer=true` costs: the same reads through PgBouncer 1.18 in transaction mode")
        say("")
        say("Each unit of work is one transaction (BEGIN, the statement prepared, bound and closed, COMMIT) "
            "and every request crosses PgBouncer; PgBouncer's own CPU is in neither CPU column.")
        say("")
        say("| conns | direct req/s | direct p99 ms | pgbouncer=true req/s | pgbouncer=true p99 ms | ÷ direct |")
        say("|---:|---:|---:|---:|---:|---:|")
        for conns in conns_list:
            direct, bounced = load.get(("authbridge-pg", conns)), load.get(("authbridge-pgbouncer", conns))
            if direct and bounced and rps(direct):
                say(f"| {conns} | {rps(direct):,.0f} | {ms(direct['p99_us'])} | {rps(bounced):,.0f} "
                    f"| {ms(bounced['p99_us'])} | {rps(bounced) / rps(direct):.2f}× |")
        say("")

    ours = load.get(("authbridge-pg", TARGET_CONNS))
    if ours:
        say(f"Targets at {TARGET_CONNS} connections:")
        say("")
        say("| target | measured | holds |")
        say("|---|---:|:---:|")
        for system, label in PEERS:
            ratio = ratios.get((system, TARGET_CONNS))
            want = TARGETS[system]
            if ratio is None:
                continue
            wanted = f"≥ {want:.0%} of pgbench's TPS" if system == "pgbench" else f"≥ {want:g}× {label}"
            shown = f"{ratio:.0%}" if system == "pgbench" else f"{ratio:.2f}×"
            say(f"| {wanted} | {shown} | {'yes' if ratio >= want else 'no'} |")
        p99 = ours["p99_us"] / 1000
        say(f"| p99 ≤ {TARGET_P99_MS:g} ms | {p99:.2f} ms | {'yes' if p99 <= TARGET_P99_MS else 'no'} |")
        cpu_us = ours["server_cpu_s"] / ours["requests"] * 1e6 if ours.get("requests") else None
        if cpu_us is not None:
            say(f"| authbridge CPU ≤ {TARGET_CPU_US:g} µs per read | {cpu_us:.0f} µs | {'yes' if cpu_us <= TARGET_CPU_US else 'no'} |")
        rss = ours["peak_rss_kib"] / 1024
        say(f"| peak RSS ≤ {TARGET_RSS_MIB:g} MiB (PostgreSQL) | {rss:.1f} MiB | {'yes' if rss <= TARGET_RSS_MIB else 'no'} |")
        lite = load.get(("authbridge-sqlite", TARGET_CONNS))
        if lite and rps(ours):
            ratio = rps(lite) / rps(ours)
            say(f"| SQLite default ≥ {TARGET_SQLITE_OVER_PG:g}× authbridge on PostgreSQL | {ratio:.2f}× "
                f"| {'yes' if ratio >= TARGET_SQLITE_OVER_PG else 'no'} |")
            rss = lite["peak_rss_kib"] / 1024
            say(f"| SQLite default peak RSS ≤ {TARGET_RSS_MIB:g} MiB | {rss:.1f} MiB | {'yes' if rss <= TARGET_RSS_MIB else 'no'} |")
        say("")

    if any(system == "authbridge-pg-cache" for (system, _) in load):
        say("### The session cache (issue 18): authbridge with `--session-cache-ttl 1s` against the plain read")
        say("")
        hits = cache.get("hits", 0) if cache else 0
        misses = cache.get("misses", 0) if cache else 0
        ratio_text = f"{hits / (hits + misses):.1%}" if hits + misses else "–"
        say(f"The cached server is loaded with {cache['hot_sessions'] if cache else 0:,} active sessions (random "
            f"among them per request); its counters over all its runs: {hits:,} hits, {misses:,} misses "
            f"(hit ratio {ratio_text}). pgbench's plain read is the database's limit for a read that writes "
            "nothing.")
        say("")
        say("| conns | cache on req/s | cache on p99 ms | plain read TPS | cache on ÷ plain read | target ≥ 2× |")
        say("|---:|---:|---:|---:|---:|:---:|")
        for conns in conns_list:
            cached, plain = load.get(("authbridge-pg-cache", conns)), load.get(("pgbench-plain", conns))
            if cached and plain and rps(plain):
                ratio = rps(cached) / rps(plain)
                say(f"| {conns} | {rps(cached):,.0f} | {ms(cached['p99_us'])} | {rps(plain):,.0f} | {ratio:.2f}× "
                    f"| {'yes' if ratio >= TARGET_CACHE_OVER_PLAIN else 'no'} |")
        say("")

    if revocation:
        p99 = revocation["p99_us"] / 1000
        say("### Revocation across two instances (PostgreSQL, cache on in both, TTL 60 s)")
        say("")
        say(f"{revocation['signouts']:,} sign-outs, one at a time, through instance A while wrk reads the same "
            f"sessions from instance B over {revocation['loader_conns']} connections. After each acknowledged "
            "sign-out the driver reads the session once on A, then polls B until it answers null; the delay runs "
            "from A's acknowledgement to B's first null (so it includes that one read on A).")
        say("")
        say("| sign-outs | p50 ms | p99 ms | max ms | polls of B | answers by A after its acknowledgement "
            f"| target p99 ≤ {TARGET_REVOCATION_P99_MS:g} ms |")
        say("|---:|---:|---:|---:|---:|---:|:---:|")
        say(f"| {revocation['signouts']:,} | {ms(revocation['p50_us'])} | {ms(revocation['p99_us'])} "
            f"| {ms(revocation['max_us'])} | {revocation['polls']:,} | {revocation['answered_by_a_after_ack']} "
            f"| {'yes' if p99 <= TARGET_REVOCATION_P99_MS else 'no'} |")
        say("")

    say("### SQLite, the embedded default (same rows, ISO-8601 dates as Prisma 7 writes them)")
    say("")
    say("| conns | server | req/s | p50 ms | p99 ms | server CPU, cores (per request) | peak RSS MiB | errors "
        "| ÷ authbridge on PostgreSQL |")
    say("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for conns in conns_list:
        row = load.get(("authbridge-sqlite", conns))
        if not row:
            continue
        pg = load.get(("authbridge-pg", conns))
        ratio = f"{rps(row) / rps(pg):.2f}×" if pg and rps(pg) else "–"
        say(load_row(row, "**authbridge** (SQLite)", with_db=False)[:-1] + f"| {ratio} |")
    say("")

    if writes:
        calls = writes[0]["calls"]
        say(f"### Database writes per {calls:,} getSessionAndUser calls, updateAge 24 h")
        say("")
        say(f"{writes[0]['due_sessions']:,} sessions last slid 25 h ago, each called {calls // writes[0]['due_sessions']} "
            "times in a shuffled order, 32 at a time; a trigger logs every UPDATE of `sessions`. "
            "Expected: one write per session.")
        say("")
        say("| server | answers with a session | writes | sessions written | most writes on one session "
            "| writes per 10,000 calls |")
        say("|---|---:|---:|---:|---:|---:|")
        labels = {"authbridge-pg": "**authbridge** (PostgreSQL)",
                  "authbridge-pg-cache": "**authbridge** (PostgreSQL, session cache on, TTL 1 s)", "authbridge-sqlite": "**authbridge** (SQLite, the embedded default)",
                  "authbridge-pgbouncer": "**authbridge** (PostgreSQL through PgBouncer, pgbouncer=true)",
                  "pg-adapter": "@auth/pg-adapter + node:http (core's updateSession)",
                  "prisma-adapter": "@auth/prisma-adapter + node:http (core's updateSession)"}
        for w in writes:
            per_10k = w["writes"] / w["calls"] * 10000 if w["calls"] else 0
            found = f"{w['found']:,}" + (f" ({w['errors']} errors)" if w["errors"] else "")
            say(f"| {labels.get(w['system'], w['system'])} | {found} | {w['writes']:,} | {w['sessions_written']:,} "
                f"| {w['max_writes_per_session']} | {per_10k:,.0f} |")
        say("")

    tables = "\n".join(out)
    print(tables)
    if not write_to:
        return
    m = meta
    doc = f"""# Benchmark results: the session read

Written by `bench/run.sh` (see bench/README.md) on {m['date']}; every number below was
measured in that one run. Re-run it to replace this file.

- Machine: {m['cpu']}, {m['cores']} cores, {m['mem']}; {m['os']}, {m['kernel']}.
  Load average (1, 5, 15 min) before the run: {m['load_before']}; after: {m['load_after']}.
- authbridge {m['authbridge']} (release build, {m['rustc']}); PostgreSQL {m['postgres']}; SQLite {m['sqlite']};
  Node {m['node']} with {m['peers']}; {m['wrk']}; {m['pgbench']}.
- Data: {int(m['users']):,} users and {int(m['sessions']):,} sessions, seeded with SQL into tables made by
  `authbridge migrate` (the tables Prisma makes); the {int(m['due']):,} sessions of the writes test are left
  out of the load.
- Load: wrk with `bench/session-read.lua`, a random valid token per request over HTTP/1.1 keep-alive,
  wrk threads {m['wrk_threads']}; {m['warmup']} s warm-up (answers checked: no error, no `null`),
  then {m['seconds']} s measured per row. Every client connects to PostgreSQL without TLS (`sslmode=disable`, node-postgres' default), and every server on PostgreSQL has a pool of {m['pool']} connections,
  authbridge on SQLite its own default (`--pool-size`), and each runs with its defaults (authbridge logs one line per request).
- pgbench runs the statement authbridge sends, `-M prepared`, `-j 2` (`-j 1` for one client); it
  computes the token from a random integer inside the statement (two sha256 calls of about a
  microsecond), because pgbench cannot read strings from a file.
- The Node peers do what Auth.js core does around the adapter: getSessionAndUser, deleteSession when
  expired, updateSession when `expires - maxAge + updateAge <= now`.
- CPU is utime+stime from `/proc/<pid>/stat` over the measured seconds, in cores and per request;
  PostgreSQL's is that of the backends connected to the benchmark's database (pgbench's over a
  window inside its run, while they are connected). Priority: {m['nice']}.
  Total wall time of the run: {m['elapsed']} s.

{tables}
"""
    with open(write_to, "w") as f:
        f.write(doc)


def main():
    if sys.argv[1] == "pgbench-log":
        print(json.dumps(pgbench_log(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])))
    elif sys.argv[1] == "table":
        write_to = sys.argv[sys.argv.index("--write") + 1] if "--write" in sys.argv else None
        table(sys.argv[2], json.loads(sys.argv[3]), write_to)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
