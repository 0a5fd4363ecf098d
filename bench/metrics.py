#!/usr/bin/env python3
"""The cost of the metrics on the bearer route: GET /api/auth/me with a bearer token (one
database read), and GET /api/auth/claims (the bearer check alone, no database), against authd
with metrics.enabled on and off. Both run the same release binary on one SQLite database with
one signing key, one at a time, in alternating order, for --rounds rounds; each figure is the
median of the rounds. Then the criterion micro-benchmark of counting one request
(benches/metrics.rs), which the load of other processes on the machine disturbs much less.
Writes bench/METRICS.md.

    bench/run --metrics        (or: python3 bench/metrics.py after a release build)
"""
import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import (ROOT, Target, cpu_seconds, free_port, run_wrk, wait_quiet,  # noqa: E402
                   wait_ready, write_lines)

AUTHD = ROOT / "target" / "release" / "authd"
SCENARIOS = [("me", "/api/auth/me"), ("claims", "/api/auth/claims")]
MODES = ["on", "off"]


def start(tmp, metrics):
    port = free_port()
    env = {"PATH": os.environ["PATH"], "AUTHD_CONFIG_DIR": str(ROOT / "config"), "RUST_LOG": "warn",
           "AUTHD__DATABASE__URL": f"sqlite://{tmp}/metrics.db", "AUTHD__SERVER__PORT": str(port),
           "AUTHD__JWT__PRIVATE_KEY_FILE": f"{tmp}/key.pem", "AUTHD__JWT__ACCESS_TTL_SECS": "7200",
           "AUTHD__METRICS__ENABLED": "true" if metrics == "on" else "false",
           # As bench.py's scenarios: every wrk connection is one client address.
           "AUTHD__RATE_LIMIT__ENABLED": "false", "AUTHD__LOCKOUT__ENABLED": "false",
           "AUTHD__SERVER__MAX_CONCURRENT_REQUESTS_PER_IP": "0"}
    process = subprocess.Popen([str(AUTHD)], env=env, cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    wait_ready(f"{base}/readyz")
    return process, base


def stop(process):
    process.terminate()
    process.wait(timeout=30)


def counted(base, route):
    """authd_http_requests_total of a route with status 200, from /metrics."""
    text = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    prefix = "authd_http_requests_total{"
    total = 0
    for line in text.splitlines():
        if line.startswith(prefix) and f'route="{route}"' in line and 'status="200"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def scrape_ms(base, count=20):
    """The median time of a /metrics request, sequentially."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        urllib.request.urlopen(f"{base}/metrics", timeout=10).read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--skip-micro", action="store_true", help="skip the criterion micro-benchmark")
    parser.add_argument("--out", default=str(ROOT / "bench" / "METRICS.md"))
    args = parser.parse_args()
    results = {(scenario, mode): [] for scenario, _ in SCENARIOS for mode in MODES}
    scrape = None
    with tempfile.TemporaryDirectory() as tmp:
        process, base = start(tmp, "on")
        target = Target("authd", base, process.pid)
        users = target.create_users(32, "metrics")
        tokens = write_lines(tmp, "access.txt", [a for a, _ in target.pairs(users, 64)])
        stop(process)
        for round_number in range(args.rounds):
            # Alternating which goes first, so a drift of the machine's speed hits both.
            for mode in MODES if round_number % 2 == 0 else MODES[::-1]:
                process, base = start(tmp, mode)
                # Warm-up: connections, the verified-token cache, SQLite's page cache.
                run_wrk(base, "bearer.lua", ["/api/auth/me", tokens], args.connections, 2)
                for scenario, path in SCENARIOS:
                    wait_quiet(timeout=15)
                    before = cpu_seconds(process.pid)
                    result = run_wrk(base, "bearer.lua", [path, tokens], args.connections, args.duration)
                    cpu_us = (cpu_seconds(process.pid) - before) * 1e6 / max(1, result["requests"])
                    if result["non_2xx"] or result["socket_errors"]:
                        raise RuntimeError(f"{scenario} ({mode}): errors in {result}")
                    if mode == "on" and counted(base, path) < result["requests"]:
                        raise RuntimeError(f"{scenario}: /metrics counted fewer requests than wrk made")
                    result["cpu_us"] = cpu_us
                    results[(scenario, mode)].append(result)
                    print(f"  round {round_number + 1} {scenario:<7} metrics {mode:<3} {result['rps']:>9.0f} req/s"
                          f"  {cpu_us:6.1f} µs CPU/req  p99 {result['p99_ms']:.2f} ms", flush=True)
                if mode == "on" and scrape is None:
                    scrape = scrape_ms(base)
                stop(process)
    write_report(args, results, scrape, None if args.skip_micro else micro_benchmark())


def micro_benchmark():
    """benches/metrics.rs: nanoseconds per counted request, by benchmark name."""
    output = subprocess.run(["cargo", "bench", "--bench", "metrics", "--", "--noplot"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    units = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6}
    return {name: float(value) * units[unit] for name, value, unit in
            re.findall(r"^(\S+)\s+time:\s+\[\S+ \S+ ([\d.]+) (ps|ns|µs|us|ms)", output, re.M)}


def paired(results, scenario, key):
    """The median over the rounds of on / off, each round's two figures measured together."""
    pairs = zip(results[(scenario, "on")], results[(scenario, "off")])
    return statistics.median(on[key] / off[key] for on, off in pairs)


def write_report(args, results, scrape, micro):
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    median = lambda scenario, mode, key: statistics.median(r[key] for r in results[(scenario, mode)])  # noqa: E731
    lines = [
        "# Metrics overhead on the bearer route",
        "",
        f"`bench/run --metrics` (bench/metrics.py) at {commit}, {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores ({platform.machine()}), release build, SQLite, RUST_LOG=warn, "
        f"{args.connections} wrk connections, {args.rounds} rounds of {args.duration} s per figure, "
        "metrics on and off alternating in one run; medians of the rounds. \"On\" is the default "
        "configuration (`metrics.enabled = true`): every request is counted by route, method and "
        "status into a counter and a latency histogram; \"off\" (`metrics.enabled = false`) "
        "leaves that middleware step out. Target (issue 14): metrics cost under 5% on the bearer "
        "route.",
        "",
        "The ratios are the medians of each round's on / off (the two measured back to back), "
        "which cancels most of the machine's drift; the other columns are medians of the rounds.",
        "",
        "| route | req/s on | req/s off | req/s on / off | CPU µs/req on | CPU µs/req off | CPU on / off |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario, path in SCENARIOS:
        rps_on, rps_off = median(scenario, "on", "rps"), median(scenario, "off", "rps")
        cpu_on, cpu_off = median(scenario, "on", "cpu_us"), median(scenario, "off", "cpu_us")
        lines.append(f"| `GET {path}` | {rps_on:,.0f} | {rps_off:,.0f} | {paired(results, scenario, 'rps'):.3f} | "
                     f"{cpu_on:.1f} | {cpu_off:.1f} | {paired(results, scenario, 'cpu_us'):.3f} |")
    spread = []
    for scenario, path in SCENARIOS:
        ratios = [on["rps"] / off["rps"] for on, off in zip(results[(scenario, "on")], results[(scenario, "off")])]
        spread.append(f"{min(ratios):.3f} to {max(ratios):.3f} for `{path}`")
    lines += ["", f"Single rounds' req/s on / off ranged from {' and '.join(spread)}: on this machine two "
                  "back-to-back runs of the same server differ by more than the metrics cost, which the "
                  "micro-benchmark at the end bounds more tightly."]
    lines += ["", "Every round:", "", "| round | route | metrics | req/s | CPU µs/req | p99 ms |",
              "|---:|---|---|---:|---:|---:|"]
    for scenario, path in SCENARIOS:
        for mode in MODES:
            for i, r in enumerate(results[(scenario, mode)]):
                lines.append(f"| {i + 1} | `{path}` | {mode} | {r['rps']:,.0f} | {r['cpu_us']:.1f} | {r['p99_ms']:.2f} |")
    if scrape is not None:
        lines += ["", f"A scrape of `/metrics` took {scrape:.2f} ms (the median of 20, one after "
                      "another, after the first round's requests)."]
    if micro:
        alone = micro.get("metrics/count_request")
        beside = micro.get("metrics/count_request_beside_another_thread")
        cpu_off = {path: median(scenario, "off", "cpu_us") for scenario, path in SCENARIOS}
        lines += ["", "Counting one request (two clock readings, the route's counter and histogram), "
                      "from the criterion micro-benchmark `cargo bench --bench metrics`: "
                      f"{alone:.0f} ns alone, {beside:.0f} ns while a second thread counts the same "
                      "route (two workers on two cores). Against the CPU time per request with "
                      "metrics off, the contended figure is "
                      + ", ".join(f"{beside / 1000 / cpu * 100:.2f}% of `GET {path}`"
                                  for path, cpu in cpu_off.items()) + "."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
