"""FLORES COMET through the COMET scoring client: the worker script runs against a fake COMET package
(``FakeCometModel``, named as such; the real unbabel-comet runs in tests/integration/test_comet.py), the
start-up checks, and the report's COMET line."""

from __future__ import annotations

import sys

import pytest

from sdrrl_ray.assets import resolve_comet_model
from sdrrl_ray.config import load_config
from sdrrl_ray.errors import UserError
from sdrrl_ray.evaluation import comet_score, flores, run
from tests.unit.test_eval_tasks import unit, write_flores
from tests.unit.test_filters_qe import fake_comet_env  # noqa: F401  (fixture)


def ctx(*overrides):
    return run.context(load_config(None, ["languages.targets=[ja]", "eval.tasks=[flores]", *overrides]))


@pytest.mark.timeout(60)
def test_flores_reports_comet_per_segment_and_as_the_mean_times_100(tmp_path, fake_comet_env):  # noqa: F811
    write_flores(tmp_path)
    c = ctx("eval.comet.enabled=true", f"eval.comet.python={sys.executable}")
    enja = unit(flores, "en-ja")
    items = flores.load(str(tmp_path), enja, c)
    preds = {"1": {"prediction": "猫が寝ています。"}, "2": {"prediction": "寒い\nsecond line"}, "3": {"prediction": ""}}
    try:
        s = flores.score(items, preds, enja, c)
    finally:
        comet_score.close()
    # FakeCometModel: len(mt) / (len(mt) + len(ref)); the first line of the answer is the hypothesis
    hyps = ["猫が寝ています。", "寒い", ""]
    expected = [round(len(h) / (len(h) + len(i["reference"])), 4) for h, i in zip(hyps, items)]
    assert [r["comet"] for r in s["items"]] == expected
    assert s["metrics"]["comet"] == pytest.approx(100 * sum(expected) / 3)
    assert s["samples"]["comet"].n == 3 and s["samples"]["comet"].score() == pytest.approx(s["metrics"]["comet"])
    assert s["info"]["comet_model"].startswith("Unbabel/wmt22-comet-da; system score = mean segment score x 100")
    assert set(s["metrics"]) == {"bleu", "chrf++", "comet"}


def test_flores_without_comet_reports_bleu_and_chrf_only(tmp_path):
    write_flores(tmp_path)
    c = ctx()
    enja = unit(flores, "en-ja")
    items = flores.load(str(tmp_path), enja, c)
    s = flores.score(items, {i["item_id"]: {"prediction": i["reference"]} for i in items}, enja, c)
    assert set(s["metrics"]) == {"bleu", "chrf++"} and "comet_model" not in s["info"]


def test_comet_enabled_without_an_environment_is_a_startup_error():
    with pytest.raises(UserError, match=r"eval.comet.enabled=true needs a COMET scorer.*eval.comet.python"):
        ctx("eval.comet.enabled=true")
    ctx("eval.comet.enabled=true", "eval.tasks=[mkqa]")  # no FLORES: nothing to check


def test_comet_python_without_comet_is_a_startup_error(tmp_path):
    with pytest.raises(UserError, match="eval.comet.python=.* cannot import comet"):
        ctx("eval.comet.enabled=true", f"eval.comet.python={sys.executable}")


def test_demo_comet_checkpoints_need_the_comet_environment():
    with pytest.raises(UserError, match=r"eval.comet.model=demo:comet-da is built by unbabel-comet.*eval.comet.python"):
        resolve_comet_model("demo:comet-da", None)
    with pytest.raises(UserError, match="not a demo COMET model"):
        resolve_comet_model("demo:bleurt", "/usr/bin/python3")
    assert resolve_comet_model("Unbabel/wmt22-comet-da", None) == "Unbabel/wmt22-comet-da"
    assert comet_score.signature(load_config(None, ["eval.comet.model=demo:comet-da"]).eval.comet).startswith(
        "demo:comet-da (a tiny random-init checkpoint")
