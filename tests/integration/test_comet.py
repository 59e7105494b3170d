"""unbabel-comet for real, in its own environment (``make comet-env`` builds .venv-comet; ``make test-comet``
runs this file with ``SDRRL_COMET_PYTHON`` pointing at it): the project's tiny random-init checkpoints
in COMET's format are built offline by comet itself, loaded by comet's ``load_from_checkpoint`` and
score FLORES (wmt22-comet-da architecture) in ``sdrrl eval`` and translations in the CometKiwi filter.
The scores of random weights mean nothing: what is checked is the real code path end to end."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from sdrrl_ray.assets import resolve_comet_model
from sdrrl_ray.config import load_config
from sdrrl_ray.filters.qe import SubprocessQEScorer
from sdrrl_ray.stages.filter import TranslationFilter
from sdrrl_ray.transfer.plan import filter_kwargs
from tests.conftest import DEMO_CONFIG, ROOT, sdrrl_cmd
from tests.unit.test_filters import filter_batch

pytestmark = pytest.mark.comet


@pytest.fixture(scope="module")
def comet_python() -> str:
    python = os.environ.get("SDRRL_COMET_PYTHON", "")
    if not (python and os.access(python, os.X_OK)):
        raise pytest.UsageError("tests marked comet need SDRRL_COMET_PYTHON, the python of the COMET environment: "
                                "run them with `make test-comet` (it builds .venv-comet)")
    return python


@pytest.mark.timeout(300)
def test_tiny_checkpoints_are_built_once_and_score_with_real_comet(comet_python):
    da = resolve_comet_model("demo:comet-da", comet_python)
    kiwi = resolve_comet_model("demo:cometkiwi", comet_python, "filter.qe.model")
    assert resolve_comet_model("demo:comet-da", comet_python) == da  # cached
    for folder in (da, kiwi):
        assert os.path.isfile(os.path.join(folder, "checkpoints", "model.ckpt"))
        assert os.path.isfile(os.path.join(folder, "encoder", "tokenizer.json"))
    scorer = SubprocessQEScorer(comet_python, model=da, batch_size=4)
    try:
        triples = [("The cat sleeps.", "猫が寝ている。", "猫が寝ています。"), ("It is cold.", "", "寒いです。"),
                   ("Birds sing.", "鳥が歌います。", "鳥が歌います。")] * 3
        first = scorer.score(triples)
        assert len(first) == 9 and all(np.isfinite(first))
        assert scorer.score(triples) == first  # the same model, the same scores (no sampling, no dropout)
        assert len(set(first[:3])) == 3  # the inputs reach the model: different segments, different scores
    finally:
        scorer.close()


@pytest.mark.timeout(300)
def test_cometkiwi_filter_scores_for_real(comet_python):
    cfg = load_config(DEMO_CONFIG, ["filter.qe.enabled=true", f"filter.qe.python={comet_python}",
                                    "filter.qe.model=demo:cometkiwi", "filter.qe.threshold=0.8"])
    kwargs = filter_kwargs(cfg)  # the transfer plan resolves the demo checkpoint for its filter actors
    assert kwargs["qe"]["model"] == resolve_comet_model("demo:cometkiwi", comet_python)
    filt = TranslationFilter(**kwargs)
    rows = [("en", "ja", "What is this?", "It is a cat.", "これは何ですか？", "猫です。"),
            ("en", "th", "Where is the station?", "It is near.", "สถานีอยู่ที่ไหน", "อยู่ใกล้")]
    table = filt(filter_batch(rows)).to_pydict()
    scores = table["question_qe"] + table["answer_qe"]
    assert all(isinstance(s, float) and np.isfinite(s) for s in scores)
    reasons = table["question_reason"] + table["answer_reason"]
    assert [r == "qe_below_threshold" for r in reasons] == [s < 0.8 for s in scores]


@pytest.mark.timeout(600)
def test_sdrrl_eval_reports_flores_comet(comet_python, tmp_path):
    out = tmp_path / "out"
    res = subprocess.run(sdrrl_cmd("eval", DEMO_CONFIG, f"out_dir={out}", "eval.tasks=[flores]", "eval.limit=6",
                                   "eval.max_new_tokens=16", "eval.comet.enabled=true",
                                   f"eval.comet.python={comet_python}", "eval.comet.model=demo:comet-da"),
                         cwd=ROOT, capture_output=True, text=True, timeout=540)
    assert res.returncode == 0, res.stderr[-3000:]
    assert not any(line.startswith("Traceback") for line in (res.stdout + res.stderr).splitlines())
    rep = json.loads((out / "report.json").read_text())
    comet = {t["side"]: t for t in rep["tables"] if t["task"] == "flores" and t["metric"] == "comet"}
    assert set(comet) == {"target", "english"}
    for t in comet.values():
        base = next(r for r in t["rows"] if r["model"] == "base")
        assert all(np.isfinite(v) for v in base["values"].values()) and base["n"] == {"ja": 6, "th": 6}
    units = {(u["unit"]): u for u in rep["units"] if u["task"] == "flores"}
    assert set(units) == {"en-ja", "ja-en", "en-th", "th-en"}
    assert all(u["comet_model"].startswith("demo:comet-da (a tiny random-init checkpoint") for u in units.values())
    md = (out / "report.md").read_text()
    assert "FLORES-200 COMET, EN→X (target)" in md and "- COMET model: demo:comet-da" in md
    rows = [json.loads(line) for line in (out / "predictions" / "base.flores.jsonl").read_text().splitlines()]
    assert len(rows) == 4 * 6
