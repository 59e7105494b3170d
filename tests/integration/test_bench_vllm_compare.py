"""Smoke run of benchmarks/bench_vllm_compare.py in the vLLM environment: the ceiling (one LLM.generate), the
project's engine loop without Ray, in a Ray actor and as a bare Ray Data UDF, the project's stage and
ray.data.llm's processor all run on the same model and prompts, the sides that take the same per-row seeds produce
the same number of tokens, and each run's CPU is split between the engine's process and the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(480)]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_side_runs_and_the_seeded_sides_agree(tmp_path):
    env = dict(os.environ, SDRRL_BENCH_RESULTS=str(tmp_path), PYTHONPATH=ROOT, RAY_AUTH_MODE="disabled")
    # every side but the stage one batch at a time (the same stage with generate.batches_in_flight=1: the plain
    # engine per batch, test_vllm_engine.py), and the two on request that place the stage's loss
    sides = ("one_call", "engine_loop", "stage", "ray_data_llm", "ray_actor", "ray_data_udf")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_vllm_compare.py"), "--counts",
                           "6", "--batch-size", "4", "--max-tokens", "16", "--threads", "1", "--repeats", "1",
                           "--sides", ",".join(sides)],
                          capture_output=True, text=True, timeout=460, cwd=ROOT, env=env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    saved = json.loads((tmp_path / "generate_vllm_compare.json").read_text())
    by = {(r["side"], r["prompts"]): r for r in saved["runs"]}
    assert {s for s, _ in by} == set(sides)
    for n in (6,):
        assert {by[side, n]["rows"] for side in sides} == {n}
        # same model, prompts, stop ids and per-row seeds: the same answers, up to bf16 differences between
        # batch compositions (exact equality of the engine loop's answers: test_vllm_engine.py)
        for a, b in (("one_call", "ray_data_llm"), ("stage", "engine_loop"), ("engine_loop", "ray_actor"),
                     ("engine_loop", "ray_data_udf")):
            assert abs(by[a, n]["tokens"] - by[b, n]["tokens"]) <= 0.1 * by[a, n]["tokens"], (a, b)
        assert 0 < by["stage", n]["tokens"] <= n * 16
        for side in sides:  # the engine's process loads a model: seconds of CPU; Ray's sides run other processes
            assert by[side, n]["cpu_s_engine"] > 1, (side, by[side, n])
        for side in ("stage", "ray_actor", "ray_data_udf"):  # Ray's own processes
            assert by[side, n]["cpu_s_rest"] > by["one_call", n]["cpu_s_rest"], side
    assert set(summary) >= {"one_call_tokens_per_s", "engine_loop_tokens_per_s", "stage_tokens_per_s",
                            "ray_data_llm_tokens_per_s", "ray_actor_tokens_per_s",
                            "ray_data_udf_tokens_per_s"}  # NaN: 1 count
    png = tmp_path / "generate_vllm_compare.png"
    assert png.exists()
    png.unlink()  # --replot draws it again from the saved JSON alone
    again = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_vllm_compare.py"), "--replot"],
                           capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert again.returncode == 0 and png.stat().st_size > 10_000, again.stderr[-2000:]
