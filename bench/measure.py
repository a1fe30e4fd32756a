"""Run one benchmark stage in a fresh process and measure it from outside and inside.

Outside (the parent, via os.wait4): the process's wall time, user+system CPU and peak RSS.
Inside (the child, bench.stages): named steps with their own wall and CPU seconds, written as
JSON to a file the parent reads. A fresh process per stage makes peak RSS that stage's own.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_stage(stage: str, args: dict, *, env: dict | None = None) -> dict:
    """`python -m bench.stages <stage>` with `args`; returns {"process": {...}, "steps": {...}, ...}."""
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as out:
        out_path = out.name
    try:
        cmd = [sys.executable, "-m", "bench.stages", stage, json.dumps(args), out_path]
        result = run_process(cmd, env=env)
        text = Path(out_path).read_text()
        inner = json.loads(text) if text else {}
    finally:
        os.unlink(out_path)
    if result["returncode"] != 0:
        raise RuntimeError(f"stage {stage} failed ({result['returncode']}):\n{result['stderr'][-3000:]}")
    return {"process": result, **inner}


def run_process(cmd: list[str], *, env: dict | None = None, cwd: Path = ROOT) -> dict:
    """Start `cmd`, wait for it; wall seconds, CPU seconds (user+system) and peak RSS (MiB) of it."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix in every earlier child)
    stdout, stderr = _drain(proc)
    wall = time.perf_counter() - start
    usage = proc._rusage  # set by _drain
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024, "returncode": proc.returncode,
            "stdout": stdout[-4000:], "stderr": stderr[-8000:]}


def _drain(proc: subprocess.Popen) -> tuple[str, str]:
    import threading

    chunks = {"out": [], "err": []}

    def pump(stream, key):
        for line in stream:
            chunks[key].append(line)

    threads = [threading.Thread(target=pump, args=(proc.stdout, "out")),
               threading.Thread(target=pump, args=(proc.stderr, "err"))]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc._rusage = usage
    for t in threads:
        t.join()
    return "".join(chunks["out"]), "".join(chunks["err"])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine_load() -> dict:
    """What the machine was doing: load averages and the busiest other processes."""
    load = os.getloadavg()
    try:
        top = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu"], capture_output=True, text=True,
                             timeout=5).stdout.splitlines()[1:6]
    except (OSError, subprocess.SubprocessError):
        top = []
    return {"loadavg_1_5_15": [round(x, 2) for x in load], "cpus": os.cpu_count(),
            "busiest": [line.strip()[:120] for line in top]}
