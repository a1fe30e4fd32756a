"""tokentide's benchmark suite: `uv run python -m bench` (not a test; CI runs tests/test_bench_smoke.py).

Workloads (issue 6): W1 real-size backfill through the CLI against the simulated Data API over HTTP,
next to the orchestration floor (Dagster + one trivial asset in a fresh process); W2 full rebuild of
core and every mart from raw at 520 weeks x 500 listed models; W3 one more week on that warehouse
(pull, land, core, marts); W4 the README's queries; W5 the W2 rebuild and W3 at 1/8, 1/4, 1/2 and 1 of its
history. Every stage runs in a fresh process: wall, CPU (user+system, all threads) and peak RSS are
that process's own. Medians of --repeat runs. Results: a table on stdout and bench/results/<name>.json.
Generated warehouses are cached in bench/results/cache/ (synthetic, rebuilt when the DDL changes).
"""

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import ROOT, machine_load, median, run_process, run_stage
from bench.workload import Size

REBUILD_STEPS = ("copy to working file", "core", "core invariants", "commit core", "marts",
                 "commit + checkpoint + publish")
RESULTS = ROOT / "bench" / "results"
TARGETS = {"W1": "<= 2x orchestration floor", "W2": "marts < 5 s wall; peak RSS < 1 GiB",
           "W3": "< 10% of W2 rebuild or < 1 s", "W4": "each query < 100 ms", "W5": "log-log slope <= 1.1"}


def base_warehouse(size: Size, cache: Path, log) -> Path:
    """The generated warehouse of `size` (weeks 1..N landed, core and marts built), cached."""
    from assets.schema import ddl_version  # a warehouse made by other DDL is generated anew

    folder = cache / f"{size.key()}_{ddl_version()}"
    db = folder / "warehouse.duckdb"
    if not (folder / "generate.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        log(f"  generating {size.key()} (once; cached in {folder}) ...")
        result = run_stage("generate", {"db": str(db), "size": size.as_dict()})
        (folder / "generate.json").write_text(json.dumps(result, default=str))
    # marts built by older mart code are rebuilt once, as the first run after an upgrade would do,
    # so W3 measures the steady weekly run
    run_stage("settle", {"db": str(db)})
    return db


def scratch_copy(db: Path, tmp: Path) -> Path:
    """A private copy of a warehouse (and its raw directory name) for a run that writes."""
    target = tmp / "warehouse.duckdb"
    target.unlink(missing_ok=True)
    shutil.copyfile(db, target)
    # on disk before the run starts, as a published warehouse is: otherwise the run's own copy of
    # it competes with writing back these dirty pages, which no real run does (W3 copy 2 s vs 0.3 s)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return target


def summarise(runs: list[dict]) -> dict:
    """Median of process wall/CPU/RSS and of every inner step over the runs."""
    out = {"runs": len(runs),
           "wall_s": median([r["process"]["wall_s"] for r in runs]),
           "cpu_s": median([r["process"]["cpu_s"] for r in runs]),
           "peak_rss_mib": median([r["process"]["peak_rss_mib"] for r in runs]),
           "wall_s_all": [round(r["process"]["wall_s"], 3) for r in runs]}
    if runs and "steps" in runs[0]:
        out["stage_wall_s"] = median([r["stage_total"]["wall_s"] for r in runs])
        out["stage_cpu_s"] = median([r["stage_total"]["cpu_s"] for r in runs])
        out["steps"] = {name: {k: median([r["steps"][name][k] for r in runs if name in r["steps"]])
                               for k in runs[0]["steps"][name] if k in ("wall_s", "cpu_s", "cold_s")}
                        for name in runs[0]["steps"]}
        out["info"] = runs[-1].get("info", {})
    return out


# -- workloads -----------------------------------------------------------------------------------------

def w1(args, log) -> dict:
    """Backfill 2025-01-06..last closed week via `tokentide backfill` against the HTTP stand-in."""
    cli = Path(sys.executable).with_name("tokentide")
    floors, backfills = [], []
    with tempfile.TemporaryDirectory(prefix="tt-bench-w1-") as tmp:
        tmp = Path(tmp)
        port = _free_port()
        log_path, ready = tmp / "requests.log", tmp / "ready"
        server = subprocess.Popen([sys.executable, "-m", "bench.stages", "standin",
                                   json.dumps({"port": port, "log": str(log_path), "ready": str(ready)}),
                                   str(tmp / "standin.json")], cwd=ROOT)
        try:
            while not ready.exists():
                if server.poll() is not None:
                    raise RuntimeError("the Data API stand-in did not start")
                time.sleep(0.1)
            for i in range(args.repeat):
                home = tmp / f"dagster_home_{i}"
                home.mkdir()
                floors.append(run_stage("floor", {}, env={"DAGSTER_HOME": str(home)}))
                log_path.write_text("")
                env = {"OPENROUTER_BASE_URL": ready.read_text(), "OPENROUTER_API_KEY": "sim-key",
                       "DAGSTER_HOME": str(home)}
                result = run_process([str(cli), "backfill", "--db", str(tmp / f"w1_{i}" / "warehouse.duckdb")],
                                     env=env)
                if result["returncode"] != 0:
                    raise RuntimeError(f"W1 backfill failed:\n{result['stderr'][-3000:]}")
                logged = [tuple(map(float, line.split())) for line in log_path.read_text().splitlines()]
                arrivals = [a for a, _ in logged]
                # OpenRouter allows 30 requests/minute: the client waits; that wait is the API's, not ours
                gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
                waits = [g > 5.0 for g in gaps] + [False]
                result["requests"] = len(arrivals)
                result["rate_limit_wait_s"] = sum(g for g in gaps if g > 5.0)
                # the stand-in's time to answer, where no rate-limit wait (which already holds it) follows
                result["server_s"] = sum(d for (_, d), waited in zip(logged, waits) if not waited)
                backfills.append({"process": result})
                log(f"  run {i + 1}: backfill {result['wall_s']:.1f} s (of which rate-limit wait "
                    f"{result['rate_limit_wait_s']:.1f} s, the stand-in answering {result['server_s']:.1f} s), "
                    f"floor {floors[-1]['process']['wall_s']:.1f} s")
        finally:
            server.terminate()
            server.wait(10)
    floor, backfill = summarise(floors), summarise(backfills)
    wait = median([b["process"]["rate_limit_wait_s"] for b in backfills])
    own = median([b["process"]["wall_s"] - b["process"]["rate_limit_wait_s"] for b in backfills])
    # tokentide's own time: neither the rate-limit wait nor the stand-in rendering its answers
    own_net = median([b["process"]["wall_s"] - b["process"]["rate_limit_wait_s"] - b["process"]["server_s"]
                      for b in backfills])
    return {"floor": floor, "backfill": backfill, "requests": backfills[-1]["process"]["requests"],
            "rate_limit_wait_s": wait, "backfill_minus_rate_limit_s": own,
            "server_s": median([b["process"]["server_s"] for b in backfills]),
            "backfill_minus_rate_limit_and_server_s": own_net,
            "ratio_to_floor": backfill["wall_s"] / floor["wall_s"],
            "ratio_to_floor_without_rate_limit": own / floor["wall_s"],
            "ratio_to_floor_without_rate_limit_and_server": own_net / floor["wall_s"],
            # CPU does not include the wait, nor (mostly) other processes' load on a shared machine
            "cpu_ratio_to_floor": backfill["cpu_s"] / floor["cpu_s"]}


def w2(args, log, size: Size | None = None) -> dict:
    """Full rebuild of core and every mart from raw on a copy of the base warehouse."""
    size = size or base_size(args).scaled(args.scale)
    db = base_warehouse(size, args.cache, log)
    runs = []
    with tempfile.TemporaryDirectory(prefix="tt-bench-w2-", dir=args.workdir) as tmp:
        for _ in range(args.repeat):
            runs.append(run_stage("rebuild", {"db": str(scratch_copy(db, Path(tmp)))}))
    out = summarise(runs)
    out["size"] = size.as_dict()
    out["marts_wall_s"] = out["steps"]["marts"]["wall_s"]
    # the rebuild itself: the process's start-up and imports are not part of it
    out["rebuild_s"] = sum(out["steps"][k]["wall_s"] for k in REBUILD_STEPS)
    out["rebuild_cpu_s"] = sum(out["steps"][k]["cpu_s"] for k in REBUILD_STEPS)
    out["generate"] = json.loads((db.parent / "generate.json").read_text())
    return out


def w3(args, log, w2_result: dict, size: Size | None = None) -> dict:
    """One more week on the base warehouse: the Monday run's steps (pull, validate, land, core for the
    pulled weeks, marts), each step in its own transaction on the run's staged copy, as the Dagster
    job does."""
    size = size or base_size(args).scaled(args.scale)
    db = base_warehouse(size, args.cache, log)
    runs = []
    with tempfile.TemporaryDirectory(prefix="tt-bench-w3-", dir=args.workdir) as tmp:
        for _ in range(args.repeat):
            runs.append(run_stage("increment", {"db": str(scratch_copy(db, Path(tmp))), "size": size.as_dict()}))
    out = summarise(runs)
    # tokentide's own work: not the simulated server, not the once-per-process imports (W2's
    # rebuild_s leaves those out too)
    out["tokentide_wall_s"] = sum(v["wall_s"] for k, v in out["steps"].items() if "not tokentide" not in k
                                  and "not per week" not in k)
    out["ratio_to_w2"] = out["tokentide_wall_s"] / w2_result["rebuild_s"]
    out["w2_rebuild_wall_s"] = w2_result["rebuild_s"]
    return out


def w4(args, log) -> dict:
    size = base_size(args).scaled(args.scale)
    db = base_warehouse(size, args.cache, log)
    runs = [run_stage("queries", {"db": str(db), "repeat": 7}) for _ in range(args.repeat)]
    return summarise(runs)


def w5(args, log, w2_result: dict, w3_result: dict | None = None) -> dict:
    points = {}
    for fraction in (1 / 8, 1 / 4, 1 / 2):
        size = base_size(args).scaled(args.scale * fraction)
        log(f"  W5 at {fraction:g}: {size.weeks} weeks")
        points[f"{fraction:g}"] = w2(args, log, size)
        # the weekly run at this much history: it should not grow with it (W3's point)
        points[f"{fraction:g}"]["weekly_s"] = w3(args, log, points[f"{fraction:g}"], size)["tokentide_wall_s"]
    points["1"] = w2_result
    if w3_result:
        points["1"]["weekly_s"] = w3_result["tokentide_wall_s"]
    xs = [math.log(p["size"]["weeks"]) for p in points.values()]
    slopes = {}
    for label, pick in (("marts", lambda p: p["marts_wall_s"]),
                        ("core", lambda p: p["steps"]["core"]["wall_s"]),
                        ("rebuild", lambda p: p["rebuild_s"]),
                        ("weekly run", lambda p: p.get("weekly_s"))):
        if all(pick(p) for p in points.values()):
            slopes[label] = _slope(xs, [math.log(pick(p)) for p in points.values()])
    return {"points": {k: {"weeks": v["size"]["weeks"], "model_weeks": v["info"].get("model_weeks"),
                           "core_s": v["steps"]["core"]["wall_s"], "marts_s": v["marts_wall_s"],
                           "rebuild_s": v["rebuild_s"], "weekly_s": v.get("weekly_s"),
                           "peak_rss_mib": v["peak_rss_mib"]}
                       for k, v in points.items()},
            "loglog_slope": slopes}


def base_size(args) -> Size:
    return Size(list_depth=args.list_depth, n_models=args.models)


def _slope(xs, ys) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- report ----------------------------------------------------------------------------------------------

def table(results: dict) -> str:
    rows = [("workload / stage", "wall s", "cpu s", "peak RSS MiB", "note")]

    def add(name, wall, cpu=None, rss=None, note=""):
        fmt = lambda v, p: "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{p}f}"  # noqa: E731
        rows.append((name, fmt(wall, 3), fmt(cpu, 2), fmt(rss, 0), note))

    if "W1" in results:
        r = results["W1"]
        add("W1 orchestration floor (process)", r["floor"]["wall_s"], r["floor"]["cpu_s"], r["floor"]["peak_rss_mib"])
        add("W1 backfill via CLI (process)", r["backfill"]["wall_s"], r["backfill"]["cpu_s"],
            r["backfill"]["peak_rss_mib"], f"{r['requests']} requests; {r['ratio_to_floor']:.1f}x floor; "
            f"CPU {r['cpu_ratio_to_floor']:.1f}x floor's")
        add("W1   minus API rate-limit wait", r["backfill_minus_rate_limit_s"], None, None,
            f"wait {r['rate_limit_wait_s']:.1f} s; {r['ratio_to_floor_without_rate_limit']:.2f}x floor")
        add("W1   and minus the stand-in's answer time", r["backfill_minus_rate_limit_and_server_s"], None, None,
            f"answers {r['server_s']:.1f} s; {r['ratio_to_floor_without_rate_limit_and_server']:.2f}x floor")
    if "W2" in results:
        r = results["W2"]
        add(f"W2 rebuild core+marts ({r['size']['weeks']} wk x {r['size']['list_depth']})", r["rebuild_s"],
            r["rebuild_cpu_s"], r["peak_rss_mib"], f"{r['info'].get('model_weeks', 0):,} model-weeks, "
            f"db {r['info'].get('db_mib', 0):,.0f} MiB")
        for name, s in r["steps"].items():
            add(f"W2   {name}", s["wall_s"], s["cpu_s"])
    if "W3" in results:
        r = results["W3"]
        add("W3 one more week", r["tokentide_wall_s"], None, r["peak_rss_mib"],
            f"{r['ratio_to_w2']:.0%} of W2 rebuild (sum of tokentide's steps)")
        for name, s in r["steps"].items():
            add(f"W3   {name}", s["wall_s"], s["cpu_s"])
    if "W4" in results:
        for name, s in results["W4"]["steps"].items():
            add(f"W4 {name}", s["wall_s"], None, None, f"cold {1000 * s['cold_s']:.1f} ms")
    if "W5" in results:
        r = results["W5"]
        for k, p in r["points"].items():
            weekly = f", one more week {p['weekly_s']:.2f} s" if p.get("weekly_s") else ""
            add(f"W5 x{k} ({p['weeks']} wk): rebuild", p["rebuild_s"], None, p["peak_rss_mib"],
                f"core {p['core_s']:.2f} s, marts {p['marts_s']:.2f} s{weekly}")
        add(f"W5 log-log slope ({' / '.join(r['loglog_slope'])})", None, None, None,
            " / ".join(f"{v:.2f}" for v in r["loglog_slope"].values()))
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = ["  ".join(str(c).ljust(w) if i in (0, 4) else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="W1,W2,W3,W4,W5", help="comma-separated workloads (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per stage; medians are reported (default 3)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of W2's 520 weeks (smoke: 0.03)")
    parser.add_argument("--list-depth", type=int, default=500, help="models listed per week (default 500)")
    parser.add_argument("--models", type=int, default=5000, help="models in the simulated market (default 5000)")
    parser.add_argument("--cache", type=Path, default=RESULTS / "cache", help="where generated warehouses live")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where W2 and W3 write their warehouses (default: the system temp folder); on "
                             "XFS or btrfs a run's stage is a reflink instead of a copy")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json", help="results JSON")
    args = parser.parse_args(argv)
    wanted = [w.strip().upper() for w in args.only.split(",")]
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    results = {"started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "argv": sys.argv[1:],
               "machine": {"python": platform.python_version(), "platform": platform.platform(),
                           "load_before": machine_load()}, "targets": TARGETS}
    if "W1" in wanted:
        log("W1: backfill through the CLI, and the orchestration floor")
        results["W1"] = w1(args, log)
    if {"W2", "W3", "W5"} & set(wanted):
        log("W2: full rebuild of core and marts from raw")
        results["W2"] = w2(args, log)
    if "W3" in wanted:
        log("W3: one more week")
        results["W3"] = w3(args, log, results["W2"])
    if "W4" in wanted:
        log("W4: README queries")
        results["W4"] = w4(args, log)
    if "W5" in wanted:
        log("W5: scaling")
        results["W5"] = w5(args, log, results["W2"], results.get("W3"))
    results["machine"]["load_after"] = machine_load()
    text = table(results)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    log(f"results: {args.out}")


if __name__ == "__main__":
    main()
