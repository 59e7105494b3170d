"""`sdrrl plan` through the command line: the demo config as shipped, and limit=8 (a real transfer-set run on
local Ray that calibrates the estimate). Each run is its own process group, killed whole on a time-out."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import tempfile

import pytest

from tests.conftest import ROOT, sdrrl_cmd

DEMO = os.path.join(ROOT, "jobs", "configs", "demo.yaml")
LLAMA = os.path.join(ROOT, "jobs", "configs", "llama2-7b-ja.yaml")


def run_cli(*args: str, timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(sdrrl_cmd(*args), cwd=ROOT, start_new_session=True, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
        out, err = proc.communicate()
        pytest.fail(f"sdrrl {' '.join(args)} ran past {timeout}s; stderr tail:\n{err[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.timeout(300)
def test_plan_demo_config(demo_model):
    res = run_cli("plan", DEMO, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    plan = last_json(res.stdout)
    assert "Tokens per language" in res.stdout and "Phases on m7i.large" in res.stdout
    assert set(plan["languages"]) == {"ja", "th"} and plan["calibrated"] is False
    for lang in ("ja", "th"):
        t = plan["languages"][lang]
        assert t["ratio_source"].startswith("config corpus") and t["ratio"] > 0
        assert set(t["subsets"]) == {"LL", "TL", "LT", "TT", "mt", "comp"}
        assert t["subsets"]["mt"]["rows"] == 2 * 100 and t["subsets"]["comp"]["rows"] <= 100
        assert t["train_tokens"] == pytest.approx(2 * t["tokens"])  # demo: 2 epochs
    assert plan["languages"]["th"]["ratio"] > 1.0  # Thai costs more tokens than English with the demo tokenizer
    assert plan["source"]["items"] == 500 and plan["source"]["to_generate"] > 0  # the demo config's data.limit
    assert set(plan["phases"]) >= {"generate", "translate", "train"}
    assert plan["total"]["cost_usd"] == pytest.approx(sum(p["cost_usd"] for p in plan["phases"].values()))
    for p in plan["phases"].values():
        assert p["rate"]["source"] and p["device_hours"] > 0


@pytest.mark.timeout(600)
def test_plan_with_limit_calibrates_on_a_real_run(demo_model):
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "sdrrl-plan-*")))
    res = run_cli("plan", DEMO, "limit=8", timeout=540)
    assert res.returncode == 0, res.stderr[-3000:]
    plan = last_json(res.stdout)
    assert plan["calibrated"] is True and "[CALIBRATED]" in res.stdout
    cal = plan["calibration"]
    assert cal["limit"] == 8 and cal["records"] == 8 and 0 < cal["items"] <= 8
    assert cal["self_tokens"] is None or 0 < cal["self_tokens"] <= 48  # generate.max_new_tokens bounds it
    assert plan["source"]["self_answer_tokens_source"].startswith("measured")
    for lang in ("ja", "th"):
        assert plan["languages"][lang]["ratio_source"].startswith("measured")
        assert all(0.0 <= share <= 1.0 for share in cal["keep"][lang].values())
        assert cal["keep"][lang]["LL"] == 1.0  # LL needs no translation: never dropped
    # this machine is a CPU node like the default m7i.large: measured steady-state rates replace the benchmarks
    assert plan["phases"]["generate"]["rate"]["source"] == "calibration on cpu"
    assert plan["phases"]["translate"]["rate"]["source"] == "calibration on cpu"
    assert cal["stage_rates"]["generate"]["tokens"] > 0
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "sdrrl-plan-*"))) == before  # temp output removed


@pytest.mark.timeout(120)
def test_plan_of_a_config_whose_model_is_absent_exits_2_with_one_line():
    res = run_cli("plan", LLAMA, timeout=100)
    assert res.returncode == 2
    lines = [line for line in res.stderr.strip().splitlines() if line.startswith("sdrrl:")]
    assert len(lines) == 1 and "tokenizer=FOLDER" in lines[0] and "Traceback" not in res.stderr
