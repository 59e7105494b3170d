"""Wall time of each phase of one run of a config, in a fresh process on a fresh local Ray (used by
``bench_startup.py`` and ``plan_vs_measured.py``): Ray start, then transfer-set, train and eval through the
project's own entry point (``run_phases``, as ``sdrrl demo`` runs them), then Ray shutdown.

    python benchmarks/phase_times.py --out /tmp/x -- data.limit=4 languages.targets=[ja]   # one run, JSON
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.e2e_split import PHASES, QUIET_ENV, demo_config, env_defaults  # noqa: E402

MARK = '{"phase_times"'


def run_here(out: str, overrides: list[str]) -> dict:
    import ray

    from sdrrl_ray.app.cli import PROG
    from sdrrl_ray.app.phases import run_phases
    from sdrrl_ray.runtime import console_env, init_ray

    env_defaults()
    console_env()
    cfg = demo_config([f"out_dir={out}", *overrides])
    seconds = {}
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    init_ray(cfg.ray)  # what the first phase would do, timed on its own
    seconds["ray_start"] = time.perf_counter() - t0
    try:
        for phase in PHASES:
            t0 = time.perf_counter()
            run_phases(cfg, (phase,), prog=PROG)
            seconds[phase] = time.perf_counter() - t0
    finally:
        t0 = time.perf_counter()
        ray.shutdown()
        seconds["ray_shutdown"] = time.perf_counter() - t0
    return {"phase_times": {k: round(v, 2) for k, v in seconds.items()},
            "total_s": round(time.perf_counter() - t_all, 2), "overrides": overrides}


def measure(out: str, overrides: list[str], timeout: int = 3600) -> dict:
    """One run of the demo config with ``overrides`` into ``out``, in a child process."""
    env = dict(os.environ, PYTHONPATH=ROOT, **{k: os.environ.get(k, v) for k, v in QUIET_ENV.items()})
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--out", out, "--", *overrides],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"the run with {overrides} failed:\n{(done.stdout + done.stderr)[-4000:]}")
    return json.loads(lines[-1])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    print(json.dumps(run_here(args.out, args.overrides)), flush=True)
