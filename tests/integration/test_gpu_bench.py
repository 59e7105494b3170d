"""The GPU benchmark script in its CPU smoke mode: every part runs, and the summary holds their numbers."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.timeout(400)
def test_gpu_bench_cpu_tiny(tmp_path):
    env = dict(os.environ, DS_ACCELERATOR="cpu", SDRRL_BENCH_CACHE=str(tmp_path / "models"))
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu_bench.py"), "--cpu", "--tiny",
                           "--out", str(tmp_path / "out"), "--part-timeout", "300",
                           "--parts", "generate,train,translate"],
                          capture_output=True, text=True, timeout=380, cwd=ROOT, env=env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["ok"] is True
    summary = json.loads((tmp_path / "out" / "gpu_summary.json").read_text())
    parts = {p["part"]: p for p in summary["parts"]}
    gen = parts["generate"]["result"]["results"]
    sides = {r["side"] for r in gen}
    assert {"direct", "pipeline"} <= sides
    for r in gen:
        assert r["rows"] == 16 and r["rows_per_s"] > 0  # 24 prompts, batch 8: the first batch is warm-up
    pipe = next(r for r in gen if r["side"] == "pipeline")
    direct = next(r for r in gen if r["side"] == "direct")
    assert pipe["ratio_vs_direct"] == pytest.approx(pipe["rows_per_s"] / direct["rows_per_s"], rel=1e-2)
    train = parts["train"]["result"]
    assert train["zero_stage"] == 3 and train["tokens_per_s"] > 0 and train["tokens"] == 3 * 2 * 64
    assert parts["train_variant1"]["result"]["zero_stage"] == 2
    mt = parts["translate"]["result"]
    assert mt["device"] == "cpu" and [r["precision"] for r in mt["results"]] == ["float32", "float32", "int8"]
    assert mt["ct2_over_hf_float32"] == pytest.approx(
        mt["results"][1]["segments_per_s"] / mt["results"][0]["segments_per_s"], rel=1e-2)
    # the parts' own result files went to --out, not into benchmarks/results
    assert (tmp_path / "out" / "translate_cpu_tiny.json").exists()
    assert (tmp_path / "out" / "generate_hf_cpu_tiny.json").exists()
    assert not os.path.exists(os.path.join(ROOT, "benchmarks", "results", "generate_hf_cpu_tiny.json"))
