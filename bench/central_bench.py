"""`nox -s bench_central`: Central's throughput and latency next to a minimal sync peer.

A benchmark, not a test: it prints figures and checks them against the aims, it never fails on
them. Everything is a real process on 127.0.0.1:

- MySQL: the tests' server (testkit/mysql.py: env URL → testcontainers → throwaway mariadbd);
- the AI: bench/ai_instant.py, a raw-asyncio stand-in that answers the contract instantly;
- Central: `python -m central serve` (uvicorn, one worker, uvloop + httptools);
- the peer: bench/sync_peer.py under gunicorn (gthread, 1 worker, N threads), SQLAlchemy + pymysql;
- the load: wrk (C, one thread), with bench/wrk_report.lua for POST bodies and per-request paths.

With two or more CPUs the server under test gets the last one to itself; MySQL, the AI stand-in
and wrk share the others. Each figure is one wrk run of --duration seconds after a --warmup run.
Every infer call gets its own fresh tray session (OPEN, no runs), so each call does the same work.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from testkit.ai_standin import tiny_jpeg_b64
from testkit.mysql import MySQLServer, mysql_server

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "wrk_report.lua"
CATALOG = ROOT / "fixtures" / "catalog.json"
ADMIN_KEY = "bench-admin-key-0001"
AI_ADMIN_KEY = "bench-ai-admin-key-0001"
OPS = {
    "stores": "GET /api/v1/stores",
    "create": "POST /api/v1/tray-sessions",
    "infer": "POST /api/v1/tray-sessions/{uuid}/infer",
}
RULE = 136
TARGETS = {"central": "Central (uvicorn, 1 worker)", "peer": "sync peer (gunicorn gthread)"}
INSERT_SESSION = (
    "INSERT INTO tray_sessions (uuid, store_id, counter_id, status, created_at, updated_at)"
    " VALUES (%s, %s, 'BENCH', 'OPEN', %s, %s)"
)
AIM_ADDED_MS, AIM_STORES_RPS, AIM_RATIO = 5.0, 2000.0, 1.5


# ---- processes ---------------------------------------------------------------------------


class Processes:
    """Children in their own process groups, each logged to a file, all stopped on the way out."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: dict[str, tuple[subprocess.Popen[bytes], Any]] = {}

    def start(self, name: str, cmd: list[str], env: dict[str, str], cpu: int | None) -> None:
        if cpu is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpu), *cmd]
        log = open(self.logs / f"{name}.log", "wb")
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.running[name] = (proc, log)

    def wait_healthy(self, name: str, url: str, timeout_s: float = 60) -> None:
        proc, _ = self.running[name]
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-1500:]
                raise SystemExit(f"bench: {name} did not come up at {url}:\n{tail}")
            time.sleep(0.1)

    def stop(self, name: str) -> None:
        proc, log = self.running.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of one process group."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- load --------------------------------------------------------------------------------


def wrk(
    url: str,
    clients: int,
    seconds: int,
    method: str = "GET",
    body: Path | None = None,
    paths: Path | None = None,
) -> dict[str, Any]:
    """One wrk run (one thread, `clients` keep-alive connections); the figures from its report."""
    cmd = [
        "wrk",
        "-t1",
        f"-c{clients}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-H",
        f"X-ADMIN-KEY: {ADMIN_KEY if '/api/' in url else AI_ADMIN_KEY}",
        "-s",
        str(LUA),
        url,
        "--",
        method,
        str(body or "-"),
        str(paths or "-"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(
            f"bench: wrk failed ({done.returncode}): {done.stderr[-800:] or done.stdout[-800:]}"
        )
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    errors = raw["errors"]
    return {
        "clients": clients,
        "requests": raw["requests"],
        "seconds": round(raw["duration_us"] / 1e6, 3),
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": round(raw["p50_us"] / 1000, 3),
        "p99_ms": round(raw["p99_us"] / 1000, 3),
        "mean_ms": round(raw["mean_us"] / 1000, 3),
        "max_ms": round(raw["max_us"] / 1000, 3),
        "non_2xx": errors["status"],
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "sessions_reused": raw["wrapped"] > 0,
    }


def fresh_sessions(
    server: MySQLServer, database: str, store_id: int, count: int, out: Path
) -> Path:
    """`count` OPEN tray sessions with no runs, written as infer paths, one per line."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    uuids = [str(uuid.uuid4()) for _ in range(count)]
    with contextlib.closing(server.connect(database)) as conn, conn.cursor() as cur:
        for start in range(0, count, 2000):
            cur.executemany(
                INSERT_SESSION,
                [(u, store_id, now, now) for u in uuids[start : start + 2000]],
            )
    out.write_text("".join(f"/api/v1/tray-sessions/{u}/infer\n" for u in uuids))
    return out


def run_counts(server: MySQLServer, database: str) -> dict[str, int]:
    """Recognition runs by the AI outcome Central stored: every one should be OK."""
    with contextlib.closing(server.connect(database)) as conn, conn.cursor() as cur:
        cur.execute("SELECT ai_status, COUNT(*) FROM recognition_runs GROUP BY ai_status")
        return {str(status): int(n) for status, n in cur.fetchall()}


# ---- the run -----------------------------------------------------------------------------


def measure_target(
    args: argparse.Namespace,
    server: MySQLServer,
    procs: Processes,
    work: Path,
    target: str,
    ai_url: str,
    server_cpu: int | None,
) -> dict[str, Any]:
    database = server.create_database(prefix=f"bench_{target}")
    env = {
        **os.environ,
        "ADMIN_KEY": ADMIN_KEY,
        "AI_ADMIN_KEY": AI_ADMIN_KEY,
        "DATABASE_URL": server.url(database),  # mysql+pymysql://, as in the runbook
        "AI_BASE_URL": ai_url,
    }
    seeded = subprocess.run(
        [sys.executable, "-m", "central", "seed"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if seeded.returncode != 0:
        raise SystemExit(f"bench: seeding failed: {seeded.stderr[-800:]}")
    store_id = int(json.loads(seeded.stdout.strip().splitlines()[-1])["store_id"])
    port = _free_port()
    if target == "central":
        cmd = [sys.executable, "-m", "central", "serve", "--host", "127.0.0.1"]
        env["PORT"] = str(port)
    else:
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            str(args.peer_threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--backlog",
            "2048",
            "bench.sync_peer:create_app()",
        ]
        env["PEER_POOL_SIZE"] = str(args.peer_threads)
    base = f"http://127.0.0.1:{port}"
    procs.start(target, cmd, env, server_cpu)
    pgid = procs.running[target][0].pid
    try:
        procs.wait_healthy(target, f"{base}/health")
        create_body = work / "create.json"
        create_body.write_text(json.dumps({"store_id": store_id, "counter_id": "COUNTER-1"}))
        infer_body = work / "infer.json"
        infer_body.write_text(json.dumps({"frames_b64": [tiny_jpeg_b64(7)]}))
        figures: dict[str, Any] = {}
        for op in OPS:
            figures[op] = {}
            for clients in args.clients:
                runs = []
                for seconds in (args.warmup, args.duration):
                    kwargs: dict[str, Any] = {}
                    if op == "create":
                        kwargs = {"method": "POST", "body": create_body}
                    elif op == "infer":
                        paths = fresh_sessions(
                            server,
                            database,
                            store_id,
                            seconds * args.max_rps,
                            work / f"{target}-{clients}-{seconds}.paths",
                        )
                        kwargs = {"method": "POST", "body": infer_body, "paths": paths}
                    path = "/api/v1/stores" if op == "stores" else "/api/v1/tray-sessions"
                    cpu_before = group_cpu_s(pgid)
                    fig = wrk(f"{base}{path}", clients, seconds, **kwargs)
                    # CPU per request: robust to neighbours stealing the core; 1000/x = capacity.
                    cpu_ms = (group_cpu_s(pgid) - cpu_before) * 1000 / max(fig["requests"], 1)
                    fig["server_cpu_ms_per_req"] = round(cpu_ms, 3)
                    runs.append(fig)
                figures[op][str(clients)] = runs[-1]  # the warm-up run is discarded
                print(f"  {target:7} {op:6} c={clients:<3} {_brief(runs[-1])}", flush=True)
        figures["ai_runs_stored"] = run_counts(server, database)
        return figures
    finally:
        procs.stop(target)


def _brief(fig: dict[str, Any]) -> str:
    flags = ""
    if fig["non_2xx"] or fig["socket_errors"]:
        flags += f"  non-2xx {fig['non_2xx']} socket errors {fig['socket_errors']}"
    if fig["sessions_reused"]:
        flags += "  (ran out of fresh sessions: raise --max-rps)"
    figures = f"p50 {fig['p50_ms']:7.2f} ms  p99 {fig['p99_ms']:7.2f} ms"
    if "server_cpu_ms_per_req" in fig:
        figures += f"  server CPU {fig['server_cpu_ms_per_req']:.2f} ms/req"
    return f"{fig['rps']:>9,.0f} req/s  {figures}{flags}"


def report(results: dict[str, Any]) -> str:
    central, peer = results["central"], results["peer"]
    lines = [
        f"{'operation':40} {'clients':>7} |"
        f" {'Central req/s':>13} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms':>6} |"
        f" {'peer req/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms':>6} | {'ratio':>5}",
        "-" * RULE,
    ]
    for op, label in OPS.items():
        for clients, c in central[op].items():
            p = peer[op][clients]
            lines.append(
                f"{label:40} {clients:>7} |"
                f" {c['rps']:>13,.0f} {c['p50_ms']:>7.2f} {c['p99_ms']:>7.2f}"
                f" {c['server_cpu_ms_per_req']:>6.2f} |"
                f" {p['rps']:>10,.0f} {p['p50_ms']:>7.2f} {p['p99_ms']:>7.2f}"
                f" {p['server_cpu_ms_per_req']:>6.2f} |"
                f" {results['ratios'][op][clients]:>4.2f}x"
            )
    ai = results["ai_direct"]
    lines += [
        "-" * RULE,
        "CPU ms = the server's own CPU time per request (user + system, its process group);"
        " 1000 / CPU ms",
        "is what one uncontended core could serve. req/s and latency suffer when neighbours"
        " share the core.",
        f"AI stand-in alone, POST /v1/infer, 1 client: {ai['rps']:,.0f} req/s,"
        f" p50 {ai['p50_ms']:.2f} ms,"
        f" p99 {ai['p99_ms']:.2f} ms",
        f"Central's added latency on infer (p50 at 1 client, minus the AI's own p50):"
        f" {results['added_infer_latency_ms']:.2f} ms",
        "",
        "Aims (2 cores, one worker):",
    ]
    for aim in results["aims"].values():
        lines.append(f"  [{'met' if aim['met'] else 'MISSED'}] {aim['aim']}: {aim['figure']}")
    bad = [
        f"{t} {op} c={c}"
        for t in TARGETS
        for op in OPS
        for c, f in results[t][op].items()
        if f["non_2xx"] or f["socket_errors"] or f["sessions_reused"]
    ]
    for t in TARGETS:
        failed = {k: n for k, n in results[t]["ai_runs_stored"].items() if k != "OK"}
        if failed:
            bad.append(f"{t} stored runs with AI failures {failed}")
    lines.append(
        "Errors: " + ("; ".join(bad) if bad else "none (every request 2xx, every infer AI=OK)")
    )
    return "\n".join(lines)


def summarize(results: dict[str, Any], clients: list[int]) -> None:
    central, peer = results["central"], results["peer"]
    results["ratios"] = {
        op: {c: round(central[op][c]["rps"] / peer[op][c]["rps"], 2) for c in central[op]}
        for op in OPS
    }
    one, top = "1", str(max(clients))
    aims: dict[str, Any] = {}
    if one in central["infer"]:
        added = central["infer"][one]["p50_ms"] - results["ai_direct"]["p50_ms"]
        results["added_infer_latency_ms"] = round(added, 3)
        aims["added_latency"] = {
            "aim": f"Central adds <= {AIM_ADDED_MS:g} ms p50 to an infer call",
            "figure": f"{added:.2f} ms",
            "met": added <= AIM_ADDED_MS,
        }
    best = max(f["rps"] for f in central["stores"].values())
    cpu = min(f["server_cpu_ms_per_req"] for f in central["stores"].values())
    aims["stores_rps"] = {
        "aim": f"GET stores >= {AIM_STORES_RPS:,.0f} req/s",
        "figure": f"{best:,.0f} req/s measured (best of {', '.join(central['stores'])} clients);"
        f" {cpu:.2f} CPU ms/req, so at most ~{1000 / max(cpu, 1e-3):,.0f} req/s on a free core",
        "met": best >= AIM_STORES_RPS,
    }
    ratios = {op: results["ratios"][op][top] for op in OPS}
    aims["vs_peer"] = {
        "aim": f">= {AIM_RATIO:g}x the sync peer at {top} clients",
        "figure": ", ".join(f"{op} {r:.2f}x" for op, r in ratios.items()),
        "met": all(r >= AIM_RATIO for r in ratios.values()),
    }
    results["aims"] = aims


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM (nox, CI) unwinds like Ctrl-C, so every child is stopped."""
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_central", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=int, default=5, help="seconds per measured run (default 5)"
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="seconds of warm-up before each (default 1)"
    )
    parser.add_argument("--clients", default="1,64", help="concurrent clients, comma-separated")
    parser.add_argument(
        "--peer-threads", type=int, default=16, help="gunicorn threads and pool size"
    )
    parser.add_argument(
        "--max-rps", type=int, default=3000, help="fresh tray sessions per second of infer"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "central.json")
    args = parser.parse_args(argv)
    args.clients = [int(c) for c in args.clients.split(",")]
    if not shutil.which("wrk"):
        raise SystemExit("bench: wrk is not on PATH (Debian/Ubuntu: apt-get install wrk)")

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[-1] if len(cpus) >= 2 else None
    if (
        server_cpu is not None
    ):  # MySQL, the AI stand-in and wrk inherit this; the server gets its own
        os.sched_setaffinity(0, set(cpus[:-1]))
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": len(cpus),
            "server_cpu": server_cpu,
            "python": platform.python_version(),
        },
        "load_generator": subprocess.run(
            ["wrk", "-v"], capture_output=True, text=True
        ).stdout.split("\n")[0]
        or "wrk",
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "clients": args.clients,
            "central": "python -m central serve: uvicorn, 1 worker, uvloop+httptools,"
            " SQLAlchemy asyncio engine on aiomysql, pool 10 (+5 overflow), pre-ping",
            "peer": f"gunicorn gthread, 1 worker, {args.peer_threads} threads;"
            f" SQLAlchemy+pymysql pool "
            f"{args.peer_threads}",
        },
    }
    with _terminate_as_exit(), contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="bakesight-bench-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        server = stack.enter_context(mysql_server())
        results["mysql"] = server.kind
        procs = Processes(work)
        stack.callback(procs.stop_all)
        ai_port = _free_port()
        procs.start(
            "ai",
            [
                sys.executable,
                "-m",
                "bench.ai_instant",
                "--port",
                str(ai_port),
                "--key",
                AI_ADMIN_KEY,
            ],
            dict(os.environ),
            None,
        )
        ai_url = f"http://127.0.0.1:{ai_port}"
        procs.wait_healthy("ai", f"{ai_url}/health")
        skus = sorted(p["sku"] for p in json.loads(CATALOG.read_text())["products"])
        ai_body = work / "ai.json"
        ai_body.write_text(
            json.dumps(
                {
                    "frames_b64": [tiny_jpeg_b64(7)],
                    "candidate_skus": skus,
                    "top_k": 3,
                    "request_id": uuid.uuid4().hex,
                }
            )
        )
        print(
            f"bench: MySQL ({server.kind}) on 127.0.0.1:{server.port}; server under test on CPU "
            f"{server_cpu}; load by {results['load_generator']}",
            flush=True,
        )
        wrk(f"{ai_url}/v1/infer", 1, args.warmup, "POST", ai_body)
        results["ai_direct"] = wrk(f"{ai_url}/v1/infer", 1, args.duration, "POST", ai_body)
        print(f"  ai      direct c=1   {_brief(results['ai_direct'])}", flush=True)
        for target in TARGETS:
            results[target] = measure_target(args, server, procs, work, target, ai_url, server_cpu)
    summarize(results, args.clients)
    table = report(results)
    print("\n" + table)
    results["table"] = table
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nbench: figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
