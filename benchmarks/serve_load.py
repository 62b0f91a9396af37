"""Load test of ``textrnn serve`` on loopback: N concurrent clients for M seconds.

    python benchmarks/serve_load.py RUN_DIR [--clients 16] [--seconds 10]

For each configuration (PyTorch fast path / ONNX Runtime, micro-batching on / off) it
starts ``textrnn serve`` on 127.0.0.1 (never another address) on a free port, warms
it up, then runs ``--clients`` clients, each sending one BBC test article per
``POST /predict`` and waiting for the answer before the next, until ``--seconds``
have passed or ``--max-requests`` have been sent (both bounds always hold), stops the
server with SIGTERM and reports requests/s, latency percentiles, errors (any non-200
answer or failed connection: must be 0) and the mean batch the server ran (from its
/metrics). Clients and server share this machine's cores: the figures are of the
whole loop, client work included.

Batching on is ``--max-batch-size 32 --max-wait-ms 5`` (the serve defaults); off is
``--max-batch-size 1``: each request runs alone. The ONNX configurations need
``model.onnx`` in RUN_DIR; without it the script exports one into a temporary folder
first (``textrnn export``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

HOST = "127.0.0.1"   # loopback only, by design
CONFIGS = {   # name: (backend, serve options)
    "torch-batch": ("torch", ["--max-batch-size", "32", "--max-wait-ms", "5"]),
    "torch-nobatch": ("torch", ["--max-batch-size", "1"]),
    "onnx-batch": ("onnx", ["--max-batch-size", "32", "--max-wait-ms", "5"]),
    "onnx-nobatch": ("onnx", ["--max-batch-size", "1"]),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(run_dir: Path, backend: str, options: list[str], threads: int | None):
    port = free_port()
    cmd = [sys.executable, "-m", "textrnn.cli", "serve", str(run_dir), "--host", HOST,
           "--port", str(port), "--backend", backend, "--quiet", *options]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read()}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start within 180 s")


def stop_server(proc) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def load(url: str, texts: list[str], clients: int, seconds: float,
               max_requests: int) -> dict:
    latencies: list[float] = []
    errors = 0
    sent = 0
    stop_at = time.perf_counter() + seconds

    async def client(i: int, http: httpx.AsyncClient) -> None:
        nonlocal errors, sent
        j = i
        while time.perf_counter() < stop_at and sent < max_requests:
            sent += 1
            body = {"texts": [texts[j % len(texts)]]}
            j += clients
            t0 = time.perf_counter()
            try:
                r = await http.post(url + "/predict", json=body)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - t0)
            errors += not ok

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {"requests": len(lat), "seconds": wall, "rps": len(lat) / wall,
            "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
            "p99_ms": float(np.percentile(lat, 99)), "errors": errors}


def scrape(url: str, name: str) -> float:
    text = httpx.get(url + "/metrics").text
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    ap.add_argument("--seconds", type=float, default=10.0, help="per configuration (10)")
    ap.add_argument("--max-requests", type=int, default=20_000,
                    help="stop a configuration after this many requests (20000)")
    ap.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    ap.add_argument("--threads", type=int, help="the server's intra-op threads")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args()
    if args.seconds <= 0 or args.seconds > 600 or args.clients < 1 or args.clients > 1024:
        raise SystemExit("--seconds must be in (0, 600] and --clients in [1, 1024]")

    from textrnn.runs import stored_data_spec
    ds, splits, _ = stored_data_spec(args.run_dir).load()
    texts = ds.subset(splits["test"]).texts

    onnx_dir = args.run_dir
    tmp = None
    if any(CONFIGS[c][0] == "onnx" for c in args.configs) and \
            not (args.run_dir / "model.onnx").is_file():
        tmp = tempfile.TemporaryDirectory(prefix="textrnn-bench-")
        onnx_dir = Path(tmp.name) / args.run_dir.name
        subprocess.run([sys.executable, "-m", "textrnn.cli", "export", str(args.run_dir),
                        "--out", str(onnx_dir)], check=True)

    import platform
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    print(f"{args.run_dir}: {args.clients} clients x {args.seconds:g} s per configuration, "
          f"1 BBC test article per request, {cpu}, {os.cpu_count()} threads, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    print("| configuration | requests | requests/s | p50 ms | p95 ms | p99 ms | errors | "
          "mean batch (texts) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    results = {}
    for name in args.configs:
        backend, options = CONFIGS[name]
        proc, url = start_server(onnx_dir if backend == "onnx" else args.run_dir, backend,
                                 options, args.threads)
        try:
            asyncio.run(load(url, texts, min(args.clients, 4), 1.0, 200))   # warm-up
            b0, t0 = scrape(url, "textrnn_batches_total"), scrape(
                url, "textrnn_batch_size_texts_sum")
            r = asyncio.run(load(url, texts, args.clients, args.seconds, args.max_requests))
            batches = scrape(url, "textrnn_batches_total") - b0
            r["mean_batch"] = (scrape(url, "textrnn_batch_size_texts_sum") - t0) / max(batches, 1)
        finally:
            stop_server(proc)
        results[name] = r
        print(f"| {name} | {r['requests']} | {r['rps']:.1f} | {r['p50_ms']:.1f} | "
              f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | "
              f"{r['mean_batch']:.1f} |", flush=True)
    if tmp is not None:
        tmp.cleanup()
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu, "threads": os.cpu_count(),
                                               "clients": args.clients,
                                               "seconds": args.seconds,
                                               "results": results}, indent=2) + "\n")
    if any(r["errors"] for r in results.values()):
        raise SystemExit("errors under load (must be 0)")


if __name__ == "__main__":
    main()
