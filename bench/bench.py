#!/usr/bin/env python3
"""authd's load benchmarks. Run through bench/run, which installs wrk and builds authd in
release mode first. Writes bench/RESULTS.md and bench/results.json.

Each scenario runs for a fixed duration with a fixed number of connections, driven by wrk from
a separate process on loopback; the server's resident memory is sampled from /proc meanwhile.
With --compare URL (or --django DIR, which starts the Django + simplejwt reference itself) the
same scenarios run against that service too, alternating with authd's, and each figure is also
reported as a ratio.
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "lua"
AUTHD = ROOT / "target" / "release" / "authd"
PASSWORD = "violet-Tractor-42"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, token=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, (json.loads(text) if text.startswith(b"{") else text)


def wait_ready(url, timeout=60.0, interval=0.001):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(interval)
    raise RuntimeError(f"{url} never became ready")


def processes():
    """(pid, command name, the fields after the name) of every process, from /proc/PID/stat.
    In those fields, [1] is the parent, [11] and [12] the user and system CPU ticks, [13] and
    [14] those of the children already reaped."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # it exited meanwhile
            head, _, rest = stat.rpartition(")")
            yield int(entry), head.split("(", 1)[1], rest.split()


def process_tree(pid):
    children = {}
    for child, _, fields in processes():
        children.setdefault(int(fields[1]), []).append(child)
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def rss_kib(pid, field="VmRSS"):
    """Resident memory of a process and its children (gunicorn's workers), in KiB. RssAnon is
    the part that is the process's own: VmRSS also counts the pages of the binary and shared
    libraries it has touched, which the kernel can drop and share."""
    total = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


class PeakSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.05)

    def stop(self):
        self.running = False
        self.join()
        return self.peak


def parse_duration_ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(base, script, args, connections, duration, threads=None, path="/"):
    threads = threads or min(connections, os.cpu_count() or 2)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", str(LUA / script)]
    command += [base + path]
    if args:
        command += ["--"] + [str(a) for a in args]
    finished = subprocess.run(command, capture_output=True, text=True)
    output = finished.stdout
    if finished.returncode != 0 or "Requests/sec" not in output or "50%" not in output:
        raise RuntimeError(f"wrk failed: {' '.join(command)}\n{output}\n{finished.stderr}")
    latency = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", output)
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50_ms": parse_duration_ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1)),
        "p99_ms": parse_duration_ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1)),
        "max_ms": parse_duration_ms(latency.group(1)) if latency else None,
        "non_2xx": int((re.search(r"Non-2xx or 3xx responses: (\d+)", output) or [0, 0])[1]),
        "socket_errors": sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output)),
        "connections": connections,
        "duration_s": duration,
    }
    return result


def write_lines(directory, name, lines):
    path = Path(directory) / name
    path.write_text("\n".join(lines) + "\n")
    return path


class Target:
    """A service under test: its base URL and the pid whose memory is measured."""

    def __init__(self, name, base, pid=None):
        self.name, self.base, self.pid = name, base, pid

    def create_users(self, count, prefix):
        def register(i):
            name = f"{prefix}{i}"
            status, body = http("POST", f"{self.base}/api/auth/register/",
                                {"username": name, "email": f"{name}@example.com", "password": PASSWORD})
            if status not in (200, 201):
                raise RuntimeError(f"{self.name}: register {name}: {status} {body}")
            return name
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(register, range(count)))

    def login(self, username):
        status, body = http("POST", f"{self.base}/api/auth/token/", {"username": username, "password": PASSWORD})
        if status != 200:
            raise RuntimeError(f"{self.name}: login {username}: {status} {body}")
        return body["access"], body["refresh"]

    def pairs(self, users, count):
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(self.login, [users[i % len(users)] for i in range(count)]))


def cpu_busy_fraction(interval=0.5):
    """How busy the machine's CPUs were over `interval`, from /proc/stat."""
    def sample():
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)
    busy0, total0 = sample()
    time.sleep(interval)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(1, total1 - total0)


def wait_quiet(limit=0.15, timeout=60):
    """Waits until the machine is nearly idle. A service that was overloaded (Django's login)
    goes on working through its backlog after wrk stops, and would slow the next scenario."""
    deadline = time.monotonic() + timeout
    while cpu_busy_fraction() > limit and time.monotonic() < deadline:
        pass


def cpu_seconds(pid):
    """User and system CPU time of a process and its children (gunicorn's workers)."""
    tree = set(process_tree(pid))
    ticks = sum(int(f[11]) + int(f[12]) for member, _, f in processes() if member in tree)
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds():
    """CPU time of the PostgreSQL server: during a scenario only the service under test uses
    it, so the difference is what its queries cost the database. Every postgres process counts,
    and the children each has reaped (a backend that exits, when Django's worker closes its
    connection, leaves its CPU time to the postmaster)."""
    ticks = sum(sum(int(x) for x in f[11:15]) for _, name, f in processes() if name == "postgres")
    return ticks / os.sysconf("SC_CLK_TCK")


class Prepared:
    """A scenario with set-up that must not be measured with it: `prepare()` runs first, then
    the measurements start and `work(prepared)` runs."""

    def __init__(self, prepare, work):
        self.prepare, self.work = prepare, work


def measure(target, scenario, work, backend):
    if isinstance(work, Prepared):
        prepared, run = work.prepare(), work.work
        work = lambda: run(prepared)  # noqa: E731
    wait_quiet()
    idle = rss_kib(target.pid) if target.pid else None
    sampler = PeakSampler(target.pid) if target.pid else None
    if sampler:
        sampler.start()
    cpu_before = cpu_seconds(target.pid) if target.pid else None
    db_before = postgres_cpu_seconds() if backend == "postgres" else None
    result = work()
    db_us = ((postgres_cpu_seconds() - db_before) * 1e6 / max(1, result["requests"])
             if db_before is not None else None)
    # The server's own CPU per request: unlike req/s, it does not depend on how much of the
    # shared cores wrk and the database took meanwhile.
    cpu_us = ((cpu_seconds(target.pid) - cpu_before) * 1e6 / max(1, result["requests"])
              if target.pid else None)
    result.update({"target": target.name, "scenario": scenario, "rss_idle_kib": idle,
                   "rss_peak_kib": sampler.stop() if sampler else None, "cpu_us_per_request": cpu_us,
                   "db_cpu_us_per_request": db_us})
    print(f"  {target.name:<8} {scenario:<22} {result['rps']:>10.0f} req/s  p50 {result['p50_ms']:.2f} ms  "
          f"p99 {result['p99_ms']:.2f} ms  non-2xx {result['non_2xx']}", flush=True)
    return result


def protected_users(target, count, prefix):
    """Users of the protected authd, each registered (and so signed in once) from its own
    address: that address is familiar to the account, as a real user's usual one is."""
    names = [f"{prefix}{i}" for i in range(count)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: register_from(target.base, names[i], f"198.51.{i // 250}.{i % 250 + 1}"),
                      range(count)))
    for i, name in enumerate(names):  # the login makes the address familiar
        data = json.dumps({"username": name, "password": PASSWORD}).encode()
        request = urllib.request.Request(f"{target.base}/api/auth/login", data=data, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "X-Forwarded-For": f"198.51.{i // 250}.{i % 250 + 1}"})
        urllib.request.urlopen(request, timeout=30).read()
    return names


def scenarios(target, users, tmp, args, authd_only):
    """The scenarios, as (name, work) pairs; the ones Django has no route for only for authd."""
    c, d = args.connections, args.duration
    access = [a for a, _ in target.pairs(users, 64)]
    tokens = write_lines(tmp, f"{target.name}-access.txt", access)
    logins = write_lines(tmp, f"{target.name}-logins.txt",
                         [json.dumps({"username": u, "password": PASSWORD}) for u in users])
    verify_bodies = write_lines(tmp, f"{target.name}-verify.txt", [json.dumps({"token": a}) for a in access])
    users_file = write_lines(tmp, f"{target.name}-users.txt", users)

    def fresh_refresh_tokens():
        # Logins, so password hashes: done before the scenario's measurements start.
        return write_lines(tmp, f"{target.name}-refresh.txt", [r for _, r in target.pairs(users, c)])

    def refresh(fresh):
        return run_wrk(target.base, "refresh.lua", ["/api/auth/token/refresh/", fresh], c, d, threads=c)

    stateless = [
        # Through a Lua request() like the scenarios it is the floor of: wrk shares the cores.
        ("healthz", lambda: run_wrk(target.base, "get.lua", ["/healthz"], c, d)),
        ("verify (POST)", lambda: run_wrk(target.base, "post.lua", ["/api/auth/token/verify", verify_bodies], c, d)),
        ("bearer, no database", lambda: run_wrk(target.base, "bearer.lua", ["/api/auth/claims", tokens], c, d)),
    ]
    shared = [
        ("me", lambda: run_wrk(target.base, "bearer.lua", ["/api/auth/user/", tokens], c, d)),
        ("login", lambda: run_wrk(target.base, "post.lua", ["/api/auth/token/", logins], args.login_connections, d)),
        ("refresh (rotation)", Prepared(fresh_refresh_tokens, refresh)),
        ("SPA session (mixed)", lambda: run_wrk(target.base, "session.lua", [users_file, PASSWORD], c, d, threads=c)),
    ]
    abuse = abuse_scenarios(target, users, tmp, args, protected=False) if authd_only else []
    return (stateless if authd_only else []) + shared + abuse


def crafted_password(seed):
    """256 characters that the strength estimate finds expensive (ambiguous l33t ones)."""
    state, out = seed | 1, []
    for _ in range(256):
        state ^= (state << 13) & 0xFFFFFFFFFFFFFFFF
        state ^= state >> 7
        state ^= (state << 17) & 0xFFFFFFFFFFFFFFFF
        out.append("1|!l"[state % 4])
    return "".join(out)


def alongside(background, measured, lead=1.0):
    """Runs `background` (a load) and, `lead` seconds into it, `measured`; returns the latter."""
    worker = threading.Thread(target=background)
    worker.start()
    time.sleep(lead)
    try:
        return measured()
    finally:
        worker.join()


def register_from(base, name, address):
    data = json.dumps({"username": name, "email": f"{name}@example.com", "password": PASSWORD}).encode()
    request = urllib.request.Request(f"{base}/api/auth/register", data=data, method="POST",
                                     headers={"Content-Type": "application/json", "X-Forwarded-For": address})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def abuse_scenarios(target, users, tmp, args, protected):
    """Attacks while real users are served. On a protected authd (limits and lockout on, the
    defaults; wrk as the trusted proxy so each request names its client address) the real
    users come from addresses of their own that they signed in from before; on the
    unprotected one, the same load shows what the protections are for."""
    d = args.duration
    attackers = write_lines(tmp, f"{target.name}-attackers.txt", [f"203.0.113.{i}" for i in range(1, 9)])
    attack = write_lines(tmp, f"{target.name}-attack.txt",
                         [json.dumps({"username": u, "password": "wrong-Password-1"}) for u in users]
                         + [json.dumps({"email": f"nobody{i}@example.com", "password": "wrong-Password-1"})
                            for i in range(512)])
    real = write_lines(tmp, f"{target.name}-real.txt",
                       [json.dumps({"username": u, "password": PASSWORD}) for u in users])
    real_addresses = write_lines(tmp, f"{target.name}-real-addresses.txt",
                                 [f"198.51.{i // 250}.{i % 250 + 1}" for i in range(len(users))])

    def under_attack():
        # Measured once the flood has run for a while: in its first seconds each attacking
        # address spends its burst (30 logins with the defaults, hashed like any other).
        lead = 8
        flood = lambda: run_wrk(target.base, "post_from.lua", ["/api/auth/login", attack, attackers], 64, lead + d + 1)
        return alongside(flood, lambda: run_wrk(
            target.base, "post_from.lua", ["/api/auth/login", real, real_addresses], 2, d), lead=lead)

    crafted = write_lines(tmp, f"{target.name}-crafted.txt",
                          [json.dumps({"email": f"crafted{i}-{int(time.time())}@example.com",
                                       "password": crafted_password(i + 1)}) for i in range(512)])

    def healthz_under_crafted_registrations():
        flood = lambda: run_wrk(target.base, "post.lua", ["/api/auth/register", crafted], 100, d + 2)
        return alongside(flood, lambda: run_wrk(target.base, "get.lua", ["/healthz"], 4, d))

    name = "limits on" if protected else "limits off"
    plan = [(f"login under attack ({name})", under_attack)]
    if not protected:
        plan.append(("healthz under 100 crafted registrations", healthz_under_crafted_registrations))
    return plan


def fresh_postgres_database(postgres_url, prefix):
    """Creates a database beside the one postgres_url names; its URL keeps the query (sslmode)."""
    base, _, query = postgres_url.partition("?")
    name = f"{prefix}_{int(time.time())}"
    subprocess.run(["psql", base, "-qc", f"CREATE DATABASE {name}"], check=True)
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


def start_authd(backend, tmp, postgres_url, protected=False):
    if backend == "sqlite":
        url = f"sqlite://{tmp}/authd-bench{'-protected' if protected else ''}.db"
    else:
        url = fresh_postgres_database(postgres_url, "authd_bench")
    port = free_port()
    env = {"PATH": os.environ["PATH"], "AUTHD_CONFIG_DIR": str(ROOT / "config"), "RUST_LOG": "warn",
           "AUTHD__DATABASE__URL": url, "AUTHD__SERVER__PORT": str(port),
           "AUTHD__JWT__PRIVATE_KEY_FILE": f"{tmp}/bench-key.pem"}
    if protected:
        # The defaults, with wrk as the trusted proxy: each request names its client address.
        env["AUTHD__SERVER__TRUSTED_PROXIES"] = "127.0.0.1"
    else:
        # Every wrk connection is one client address (loopback), hammering one account: the
        # abuse protections would answer most requests 429. They are measured apart.
        env.update({"AUTHD__RATE_LIMIT__ENABLED": "false", "AUTHD__LOCKOUT__ENABLED": "false",
                    "AUTHD__SERVER__MAX_CONCURRENT_REQUESTS_PER_IP": "0"})
    base = f"http://127.0.0.1:{port}"
    # The first start applies the migrations; start-up is timed on the second.
    first = subprocess.Popen([str(AUTHD)], env=env, cwd=tmp)
    wait_ready(f"{base}/healthz")
    first.send_signal(signal.SIGINT)
    first.wait()
    began = time.monotonic()
    process = subprocess.Popen([str(AUTHD)], env=env, cwd=tmp)
    wait_ready(f"{base}/readyz", interval=0.0005)
    startup = time.monotonic() - began
    time.sleep(0.5)
    return process, base, startup * 1000.0


def django_python():
    """The interpreter for the Django reference: Debian's optimised (PGO) build, what Django
    users deploy on, when there is one. The default python3 here is an unoptimised pyenv build
    that runs pure Python about 3x slower and would flatter every ratio."""
    for candidate in ("/usr/bin/python3.11", "/usr/bin/python3"):
        if Path(candidate).exists():
            return candidate
    return sys.executable


def start_django(source, backend, postgres_url):
    # A copy in a cache folder: the reference's folder is left as it is (no venv written there).
    directory = Path.home() / ".cache" / "authd-bench" / Path(source).resolve().name
    if not directory.exists():
        shutil.copytree(Path(source).resolve(), directory, ignore=shutil.ignore_patterns(".venv", "*.sqlite3"))
    python = django_python()
    venv = directory / ".venv"
    built_with = venv / "authd-bench-python"
    if venv.exists() and (not built_with.exists() or built_with.read_text() != python):
        shutil.rmtree(venv)  # made with another interpreter
    if not (venv / "bin" / "gunicorn").exists():
        print(f"installing the Django reference's requirements into {venv} ({python})", flush=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        built_with.write_text(python)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-r", str(directory / "requirements.txt")], check=True)
    port = free_port()
    env = dict(os.environ, PORT=str(port))
    if backend == "postgres":
        env["DATABASE_URL"] = fresh_postgres_database(postgres_url, "django_bench")
    else:
        db = Path(tempfile.mkdtemp()) / "django.sqlite3"
        env["DATABASE_URL"] = f"sqlite:///{db}"
    process = subprocess.Popen([str(directory / "run.sh")], env=env, cwd=directory)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status, _ = (0, None)
        try:
            status, _ = http("GET", f"{base}/api/auth/user/", timeout=2)
        except OSError:
            pass
        if status == 401:
            return process, base
        time.sleep(0.2)
    raise RuntimeError("the Django reference did not start")


def micro_benchmarks():
    """Criterion: token signing/verification per algorithm and one argon2id hash."""
    output = subprocess.run(["cargo", "bench", "--bench", "crypto", "--", "--noplot"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    results = {}
    for name, value, unit in re.findall(r"^(\S+)\s+time:\s+\[\S+ \S+ ([\d.]+) (ns|µs|us|ms|s)", output, re.M):
        results[name] = float(value) * {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1000.0}[unit]
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="connections per scenario (default 32)")
    parser.add_argument("--login-connections", type=int, default=16, help="connections for login (default 16)")
    parser.add_argument("--users", type=int, default=64, help="users created per run (default 64)")
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite,postgres (default both)")
    parser.add_argument("--postgres-url", default=os.environ.get("AUTHD_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
                        help="the server both services use, with the same options; TLS is off by default because "
                             "on loopback it only adds cost (and a Debian server has it on)")
    parser.add_argument("--compare", help="base URL of another service with the Django routes")
    parser.add_argument("--compare-pid", type=int, help="its pid, to measure its memory")
    parser.add_argument("--django", help="start the Django + simplejwt reference from this folder, per backend")
    parser.add_argument("--scenarios", help="only the scenarios whose names start with one of these, comma-separated "
                        "(for example: login,refresh); RESULTS.md then holds only those")
    parser.add_argument("--skip-micro", action="store_true", help="skip the criterion micro-benchmarks")
    parser.add_argument("--out", default=str(ROOT / "bench"))
    parser.add_argument("--render-only", action="store_true",
                        help="only write RESULTS.md again from results.json (after editing bench/README.md)")
    args = parser.parse_args()
    if args.render_only:
        report = json.loads(Path(args.out, "results.json").read_text())
        Path(args.out, "RESULTS.md").write_text(render(report))
        return

    report = {
        "command": "bench/run " + " ".join(sys.argv[1:]),
        "machine": {"cores": os.cpu_count(), "kernel": platform.release(),
                    "cpu": next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                                 if l.startswith("model name")), "unknown")},
        "versions": {
            "authd": subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
            "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip(),
            "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0],
            "django_python": (subprocess.run([django_python(), "--version"], capture_output=True, text=True).stdout.strip()
                              + f" ({django_python()})") if args.django else None,
        },
        "runs": [], "startup_ms": {}, "rss_start_kib": {}, "micro_ms": {},
    }
    for backend in args.backends.split(","):
        tmp = tempfile.mkdtemp(prefix=f"authd-bench-{backend}-")
        print(f"\n== {backend}", flush=True)
        process, base, startup = start_authd(backend, tmp, args.postgres_url)
        report["startup_ms"][backend] = startup
        report["rss_start_kib"][backend] = {"rss": rss_kib(process.pid), "anon": rss_kib(process.pid, "RssAnon")}
        authd = Target("authd", base, process.pid)
        peers = []
        if args.compare:
            peers.append(Target("peer", args.compare.rstrip("/"), args.compare_pid))
        django = None
        extra = []
        if args.django:
            django, django_base = start_django(args.django, backend, args.postgres_url)
            peers.append(Target("django", django_base, django.pid))
        try:
            users = {t.name: t.create_users(args.users, f"bench{backend}{int(time.time())}u") for t in [authd] + peers}
            plans = {t.name: dict(scenarios(t, users[t.name], tmp, args, t is authd)) for t in [authd] + peers}
            wanted = args.scenarios.split(",") if args.scenarios else [""]
            for scenario in [s for s in plans["authd"] if any(s.startswith(w) for w in wanted)]:
                for target in [authd] + peers:
                    if scenario in plans[target.name]:
                        run = measure(target, scenario, plans[target.name][scenario], backend)
                        run["backend"] = backend
                        report["runs"].append(run)
            if any("login under attack (limits on)".startswith(w) for w in wanted):
                protected, protected_base, _ = start_authd(backend, tmp, args.postgres_url, protected=True)
                extra.append(protected)
                guarded = Target("authd", protected_base, protected.pid)
                names = protected_users(guarded, 200, f"guard{backend}{int(time.time())}u")
                for scenario, work in abuse_scenarios(guarded, names, tmp, args, protected=True):
                    run = measure(guarded, scenario, work, backend)
                    run["backend"] = backend
                    report["runs"].append(run)
        finally:
            for p in [process] + ([django] if django else []) + extra:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            shutil.rmtree(tmp, ignore_errors=True)
    if not args.skip_micro:
        print("\n== micro-benchmarks (criterion)", flush=True)
        report["micro_ms"] = micro_benchmarks()
    Path(args.out, "results.json").write_text(json.dumps(report, indent=2) + "\n")
    Path(args.out, "RESULTS.md").write_text(render(report))
    print(f"\nwrote {args.out}/RESULTS.md and results.json")


def render(report):
    lines = ["# authd benchmark results", "",
             f"Machine: {report['machine']['cores']} cores, {report['machine']['cpu']}, Linux {report['machine']['kernel']}.",
             f"Versions: authd {report['versions']['authd']}, {report['versions']['rustc']}, {report['versions']['wrk']}"
             + (f"; the Django reference on {report['versions']['django_python']}" if report['versions'].get('django_python') else "") + ".",
             f"Command: `{report['command']}`", "",
             "Generated by bench/bench.py; numbers from one run, on one machine. Compare only within a run.", ""]
    for backend in sorted({r["backend"] for r in report["runs"]}):
        start_rss = report["rss_start_kib"].get(backend)
        lines += [f"## {backend}", "", f"Start-up to ready (migrations already applied): {report['startup_ms'][backend]:.1f} ms", ""]
        if start_rss:
            lines += [f"Resident memory at idle after start-up, before the users are created: {start_rss['rss'] / 1024:.1f} MiB "
                      f"({start_rss['anon'] / 1024:.1f} MiB of it anonymous, the rest pages of the binary and libraries).", ""]
        lines += [
                  "| scenario | service | req/s | p50 ms | p99 ms | max ms | non-2xx | server CPU µs/req | PostgreSQL CPU µs/req | RSS idle MiB | RSS peak MiB | conns |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        runs = [r for r in report["runs"] if r["backend"] == backend]
        for r in runs:
            mib = lambda k: f"{r[k] / 1024:.1f}" if r[k] else "-"
            cpu = lambda r, k: f"{r[k]:.0f}" if r.get(k) else "-"
            lines.append(f"| {r['scenario']} | {r['target']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                         f"{r['max_ms'] or 0:.1f} | {r['non_2xx']} | {cpu(r, 'cpu_us_per_request')} | {cpu(r, 'db_cpu_us_per_request')} | {mib('rss_idle_kib')} | {mib('rss_peak_kib')} | {r['connections']} |")
        by = {(r["scenario"], r["target"]): r for r in runs}
        ratios = []
        for (scenario, target), peer in by.items():
            mine = by.get((scenario, "authd"))
            if target != "authd" and mine:
                ratios.append(f"| {scenario} | {target} | {mine['rps'] / peer['rps']:.1f}x | "
                              f"{peer['p99_ms'] / mine['p99_ms']:.1f}x |")
        if ratios:
            lines += ["", "authd against the reference (throughput ratio; p99 ratio = reference p99 / authd p99):", "",
                      "| scenario | reference | throughput | p99 |", "|---|---|---:|---:|"] + ratios
        floor = by.get(("healthz", "authd"))
        for name in ("verify (POST)", "bearer, no database"):
            if floor and (name, "authd") in by:
                mine = by[(name, "authd")]
                cost = (f"; authd's CPU per request is {mine['cpu_us_per_request'] / floor['cpu_us_per_request']:.2f}x "
                        f"that of /healthz" if mine.get("cpu_us_per_request") and floor.get("cpu_us_per_request") else "")
                lines.append(f"\n{name}: {mine['rps'] / floor['rps'] * 100:.0f}% of the /healthz throughput{cost}.")
        lines.append("")
    if report["micro_ms"]:
        lines += ["## Micro-benchmarks (criterion, one core)", "", "| benchmark | time |", "|---|---:|"]
        lines += [f"| {k} | {v * 1000:.1f} µs |" if v < 1 else f"| {k} | {v:.2f} ms |" for k, v in report["micro_ms"].items()]
        argon = report["micro_ms"].get("password/argon2id_hash_default_params")
        together = report["micro_ms"].get("password/argon2id_hash_on_every_core")
        if argon:
            cores = report["machine"]["cores"]
            limit = cores / (argon / 1000.0)
            lines += ["", f"Hashing limit: {cores} cores / {argon:.1f} ms per argon2id hash = {limit:.0f} logins/s."]
            if together:
                lines.append(f"One hash on each core at once: {together:.1f} ms, so the cores deliver "
                             f"{cores / (together / 1000.0):.0f} hashes/s together.")
            for r in report["runs"]:
                if r["scenario"] == "login" and r["target"] == "authd":
                    also = (f", {r['rps'] / (cores / (together / 1000.0)) * 100:.0f}% of what the cores hash together"
                            if together else "")
                    lines.append(f"Login on {r['backend']}: {r['rps']:.0f} req/s = {r['rps'] / limit * 100:.0f}% of the hashing limit{also}.")
        lines.append("")
    analysis = ROOT / "bench" / "README.md"
    if analysis.exists():
        # The hand-written part: the targets, and what bounds the misses. It describes the
        # committed run; after a new run, bring it up to date and re-render (--render-only).
        text = analysis.read_text().split("\n", 1)[1].lstrip("\n")
        lines += ["## Against the targets (bench/README.md)", "", text.replace("\n## ", "\n### ")]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
