"""``sdrrl compare`` through the command line on the demo: two arms, one seed, tiny sizes, killed after
its first run and resumed. Checks what the arms share, that the finished run is kept, and the report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.conftest import DEMO_CONFIG, sdrrl_cmd

ARGS = ["arms=[translate-then-sft,sdrrl]", "seeds=[0]", "languages.targets=[ja]", "data.limit=24",
        "parallel.n_pairs=8", "train.epochs=1", "train.max_length=128", "eval.limit=6",
        "eval.tasks=[belebele,flores]", "translate.beam_size=1"]


@pytest.mark.timeout(900)
def test_compare_two_arms_killed_and_resumed(demo_model, tmp_path):
    out = tmp_path / "cmp"
    cmd = sdrrl_cmd("compare", DEMO_CONFIG, f"out_dir={out}", *ARGS)
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_file = out / "compare.json"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:  # kill once the first run is finished
        if state_file.exists() and json.loads(state_file.read_text())["runs"]:
            break
        time.sleep(1)
    assert proc.poll() is None, "compare ended before its second run"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    first = json.loads(state_file.read_text())
    assert list(first["runs"]) == ["translate-then-sft-seed0"] and not first["complete"]

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=700)
    assert done.returncode == 0, done.stderr[-3000:]
    # the command prints no traceback of its own (lines a Ray worker logs carry its name in front)
    assert not [ln for ln in (done.stdout + done.stderr).splitlines() if ln.startswith("Traceback")]
    assert "run 1/2 translate-then-sft-seed0: finished earlier, kept" in done.stdout
    state = json.loads(state_file.read_text())
    assert state["complete"] and list(state["runs"]) == ["translate-then-sft-seed0", "sdrrl-seed0"]
    tsft, sdrrl = state["runs"]["translate-then-sft-seed0"], state["runs"]["sdrrl-seed0"]
    assert tsft["added"]["generations"] == 0  # gold answers only: nothing generated
    assert tsft["added"]["translations"] > 0
    assert sdrrl["added"]["generations"] == 24  # every item answered once, for every arm and seed after it
    # the questions and gold answers translated for the first arm are not translated again
    shared = state["shared"]["translations"]["rows"]
    assert shared == tsft["added"]["translations"] + sdrrl["added"]["translations"]
    assert sdrrl["added"]["translations"] < shared
    for run in state["runs"].values():
        ts = run["transfer_set"]
        assert ts["complete"] and ts["rows_in"] == 24 == ts["rows_out"] + ts["rows_rejected"]
        assert os.path.exists(os.path.join(run["model"], "config.json"))  # one target: OUT/model/ itself

    rep = json.loads((out / "report.json").read_text())
    assert rep["title"] == "SDRRL comparison" and rep["reference"] == "sdrrl" and rep["seeds"] == [0]
    (table,) = [t for t in rep["tables"] if t["task"] == "belebele" and t["side"] == "target"]
    rows = {r["model"]: r for r in table["rows"]}
    assert set(rows) == {"base", "translate-then-sft", "sdrrl"}
    for name in ("base", "translate-then-sft"):
        cell = rows[name]
        assert cell["n"]["ja"] == 6 and cell["ci_low"]["ja"] <= cell["values"]["ja"] <= cell["ci_high"]["ja"]
        assert cell["p_value"]["ja"] is not None  # tested against the reference arm on the same items
    assert (out / "report.md").read_text().startswith("# SDRRL comparison")
    assert (out / "eval" / "report.json").exists()  # every (arm, seed) model's own rows
