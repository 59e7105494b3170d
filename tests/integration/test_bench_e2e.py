"""Smoke test of benchmarks/bench_e2e.py in its quickest mode, run as users run it (a subprocess).

One transfer-set phase of the demo on 16 items for the stage split, then the transfer set on 16 items
with both actor pools at 2 actors: on a local instance and on 2 simulated nodes (each scaling run in its
own PID/mount/network namespaces where ``unshare`` works; else the cluster run must say it was skipped).
Asserts the JSON's structure and that its numbers add up: stage times against the measured total,
operator spans inside the execution, every row accounted for, the actors and nodes asked for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.integration.isolation import ROOT, TEST_ENV, can_isolate

LIMIT = 16
CMD = ["benchmarks/bench_e2e.py", "--phases", "transfer-set", "--limit", str(LIMIT), "--scale-limit", str(LIMIT),
       "--actors", "2", "--nodes", "2", "--tag", "smoke"]


def _op(ops: list, part: str) -> dict:
    found = [o for o in ops if part in o["name"]]
    assert len(found) == 1, f"expected one operator named like {part!r} in {[o['name'] for o in ops]}"
    return found[0]


def check_transfer_set(ts: dict, limit: int) -> None:
    rows = ts["rows"]
    assert rows["rows_in"] == limit == rows["rows_out"] + rows["rows_rejected"]
    ops = ts["operators"]
    read, gen, write = _op(ops, "ReadInstructions"), _op(ops, "Generator"), _op(ops, "Write")
    _op(ops, "Translator")
    assert read["rows_out"] == limit == gen["rows_out"]
    # the operator before the sink (then the union with the parallel-corpus rows) carries every kept and reject row
    before_sink = ops[ops.index(write) - 1]
    assert before_sink["rows_out"] + rows["parallel_rows"] == rows["rows_written"] + rows["rejects_written"]
    exec_s = ts["execution_s"]
    assert 0 < exec_s < ts["phase_s"]
    for o in ops:  # task timestamps (perf_counter, same machine) fall inside the driver's execution window
        assert o["tasks"] >= 1 and o["nodes"] >= 1, o
        assert -0.5 <= o["start_s"] <= o["end_s"] <= exec_s + 0.5, (o, exec_s)
        assert o["span_s"] == pytest.approx(o["end_s"] - o["start_s"], abs=0.01)
        assert 0 <= o["task_wall_s"] <= o["tasks"] * o["span_s"] + 0.01, o
    assert read["start_s"] <= gen["start_s"] <= write["start_s"]
    assert ts["startup_s"] == gen["start_s"] and ts["steady_s"] == pytest.approx(exec_s - gen["start_s"], abs=0.01)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_e2e_quick(demo_model, tmp_path):
    env = {**os.environ, **TEST_ENV, "PYTHONPATH": ROOT}
    env.pop("RAY_ADDRESS", None)
    results = str(tmp_path / "results")
    proc = subprocess.run([sys.executable, *CMD, "--results", results], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=560)
    assert proc.returncode == 0, f"stdout tail:\n{proc.stdout[-3000:]}\nstderr tail:\n{proc.stderr[-5000:]}"
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["benchmark"] == "e2e_smoke"
    with open(os.path.join(results, "e2e_smoke.json")) as fh:
        out = json.load(fh)
    assert os.path.getsize(os.path.join(results, "e2e_smoke.png")) > 10_000
    assert out["machine"]["cpus"] == os.cpu_count() and "bench_e2e.py" in out["machine"]["command"]
    assert out["machine"]["versions"]

    # part 1: stage split
    split = out["stage_split"]
    assert [s["stage"] for s in split["stages"]] == ["ray_init", "transfer-set", "ray_shutdown"]
    assert all(s["seconds"] > 0 for s in split["stages"])
    # each stage is rounded to 1 ms: their sum may pass the (also rounded) total by a few ms
    assert (split["stages_sum_s"] - 0.005 <= split["total_s"]
            <= split["stages_sum_s"] + max(1.0, 0.05 * split["total_s"]))
    assert last["stages"] == {s["stage"]: s["seconds"] for s in split["stages"]}
    setup = split["setup"]
    assert setup["items_limit"] == LIMIT and setup["generate"]["params"] > 0 and setup["translate"]["params"] > 0
    assert setup["generate"]["batch_size"] == 16 and setup["generate"]["actors"] == [1, 1]
    ts = split["detail"]["transfer-set"]
    assert ts["phase_s"] == next(s["seconds"] for s in split["stages"] if s["stage"] == "transfer-set")
    check_transfer_set(ts, LIMIT)

    # part 2: scaling, both pools at 2 actors
    runs = {r["setup"]: r for r in out["scaling"]}
    assert set(runs) == {"local", "cluster"} and all(r["actors"] == 2 for r in runs.values())
    isolated = can_isolate()
    for name, r in runs.items():
        if name == "cluster" and not isolated:
            assert "namespaces" in r["skipped"]
            continue
        assert "error" not in r and "skipped" not in r, r
        check_transfer_set(r, LIMIT)
        assert r["gen_actors"] == 2 and r["mt_actors"] == 2, r.get("actor_placement")
        assert r["items_per_s"] == pytest.approx(LIMIT / r["execution_s"], rel=0.01)
        assert r["rows_out_per_s"] == pytest.approx(r["rows"]["rows_written"] / r["execution_s"], rel=0.01)
        assert r["steady_items_per_s"] >= r["items_per_s"]
        # busy task-seconds over the span: no more translation tasks at once than there are actors
        assert r["mt_tasks"] >= 1 and 0 < r["mt_concurrency"] <= r["mt_actors"] + 0.05
    assert runs["local"]["nodes_alive"] == 1 and runs["local"]["cpus_total"] == runs["local"]["cpus"] == 6
    if isolated:
        c = runs["cluster"]
        assert c["nodes_alive"] == 2 and c["cpus_total"] == 8
        # 2 + 2 one-CPU actors and the filter / code-switch actors need more than one 4-CPU node: both were used
        assert c["actor_nodes"] == 2
