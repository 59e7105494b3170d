"""Smoke runs of the benchmark scripts at toy sizes: they run, write their result files where told,
and their numbers hang together. (Speed claims come from the scripts' committed results, not from here.)"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(name: str, args: list[str], tmp_path, timeout: int) -> dict:
    env = dict(os.environ, SDRRL_BENCH_RESULTS=str(tmp_path), PYTHONPATH=ROOT, RAY_AUTH_MODE="disabled")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", name), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(300)
def test_bench_translate_toy(tmp_path):
    out = run_script("bench_translate.py", ["--threads", "1", "--segments", "4", "--batch", "4", "--out-len", "4",
                                            "--vocab", "1000", "--tag", "toy"], tmp_path, 280)
    by = {(r["backend"], r["precision"]): r for r in out["results"]}
    assert set(by) == {("hf", "float32"), ("ct2", "float32"), ("ct2", "int8")}
    for r in by.values():
        assert r["out_tokens_per_segment"] == 4  # min = max decoding length: the same work on every side
        assert r["segments_per_s"] > 0
    assert out["ct2_over_hf_float32"] == pytest.approx(
        by["ct2", "float32"]["segments_per_s"] / by["hf", "float32"]["segments_per_s"], rel=2e-2)
    saved = json.loads((tmp_path / "translate_toy.json").read_text())
    assert saved["beam"] == 4 and saved["machine"]["command"].endswith("--tag toy")
    assert (tmp_path / "translate_toy.png").stat().st_size > 0


@pytest.mark.timeout(420)
def test_bench_train_toy(tmp_path):
    out = run_script("bench_train.py",
                     ["--modes", "zero3,ddp", "--steps", "1", "--warmup", "1", "--seq", "32", "--micro", "1"],
                     tmp_path, 400)
    assert set(out["tokens_per_s"]) == {"zero3", "ddp"} and all(v > 0 for v in out["tokens_per_s"].values())
    saved = json.loads((tmp_path / "train_cpu.json").read_text())
    assert [r["mode"] for r in saved["results"]] == ["zero3", "ddp"]
    assert saved["results"][1]["vs_ddp"] == 1.0
    assert (tmp_path / "train_cpu.png").exists()


@pytest.mark.timeout(300)
def test_bench_cpu_stages_quick(tmp_path):
    """The per-stage timings and the streaming plan (the project's build_plan with the model stages
    swapped for stand-ins) at a toy size; --quick saves nothing."""
    out = run_script("bench_cpu_stages.py", ["--sizes", "2000", "--quick"], tmp_path, 280)
    stages = {s["stage"]: s for s in out["stages"]}
    assert set(stages) == {"ingest", "answer_choice", "target_fanout", "subsets", "code_switch", "parallel_tasks"}
    assert all(s["rows_per_s"] > 0 for s in stages.values())
    assert stages["code_switch"]["rows"] == 2000 * 2 * 4  # 2 targets x LL/TL/LT/TT
    [plan] = out["plan"]
    assert plan["rows"] == 2000 and plan["variant_rows"] == 16000 and plan["seconds"] > 0
    assert plan["peak_mb"] > 0 and plan["block_bytes_cap"] <= 1 << 20
    assert not list(tmp_path.iterdir())  # --quick writes no result files


@pytest.mark.timeout(240)
def test_bench_loss_smoke(tmp_path):
    """Both arms run in their own process on the same weights and batches and agree on the loss."""
    out = run_script("bench_loss.py", ["--micro", "2", "--seq", "64", "--steps", "1", "--warmup", "1", "--repeats",
                                       "1", "--chunk-tokens", "32", "--threads", "1", "--no-save"], tmp_path, 220)
    assert out["max_loss_diff"] <= 1e-5
    assert out["full_step_s"] > 0 and out["chunked_step_s"] > 0 and out["full_step_peak_mb"] >= 0
    assert not list(tmp_path.iterdir())


@pytest.mark.timeout(300)
def test_bench_pools_smoke(tmp_path):
    """Code-switching alone with 1 and 2 actors, each at a quarter and at all of the prepared input."""
    out = run_script("bench_pools.py", ["--items", "400", "--stages", "code_switch", "--batch-size", "256"],
                     tmp_path, 280)
    saved = json.loads((tmp_path / "pools.json").read_text())
    assert [(r["stage"], r["actors"]) for r in saved["results"]] == [("code_switch", 1), ("code_switch", 2)]
    for r in saved["results"]:
        assert r["rows"] == 400 * 2 * 4 and 0 < r["rows_quarter"] < r["rows"]  # 2 targets x LL/TL/LT/TT
    assert "steady_ratio" in out["code_switch"] and (tmp_path / "pools.png").exists()


@pytest.mark.timeout(300)
def test_bench_train_memory_smoke(tmp_path):
    """One size through the real training phase, stopped by train.max_steps; each worker reports its peak."""
    out = run_script("bench_train_memory.py", ["--rows", "2000", "--steps", "1"], tmp_path, 280)
    saved = json.loads((tmp_path / "train_memory.json").read_text())
    [run] = saved["runs"]
    assert run["rows"] == 2000 and run["steps"] == 1 and len(run["peak_rss_mb"]) == 2  # two workers, one step
    assert out["rows"] == [2000] and out["peak_mb_per_worker"] == [max(run["peak_rss_mb"])]
    assert 100 < out["peak_mb_driver"][0] < 4000 and run["row_store_s"] is not None
    assert (tmp_path / "train_memory.png").exists()
