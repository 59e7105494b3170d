"""The off-target rate per training epoch (paper App. E, Fig. 3): the option, the layout of the per-epoch exports,
the report's table and plot from hand-built samples, and the eval phase on per-epoch folders (no Ray)."""

from __future__ import annotations

import json
import os

import pytest

from sdrrl_ray.config import TrainConfig, from_dict, load_config
from sdrrl_ray.errors import ConfigError
from sdrrl_ray.evaluation import epochs, inference, report, run, stats
from sdrrl_ray.layout.paths import Out, epoch_folder, epoch_of
from tests.conftest import ROOT
from tests.unit.test_eval_run import FakeInference, make_model


def test_export_every_epoch_option_is_off_by_default_on_in_the_demo_and_shapes_the_run(tmp_path):
    from sdrrl_ray.train.run import fingerprint

    assert TrainConfig().export_every_epoch is False
    assert from_dict({"train": {"export_every_epoch": True}}).train.export_every_epoch is True
    with pytest.raises(ConfigError, match="export_every_epoch"):
        from_dict({"train": {"export_every_epoch": "yes"}})
    assert load_config(os.path.join(ROOT, "jobs", "configs", "demo.yaml"), []).train.export_every_epoch is True

    def fp(**train):
        cfg = from_dict({"out_dir": str(tmp_path), "train": train})
        return fingerprint(cfg, model_path="/m", targets=["ja"], sizes=[["part-a.parquet", 10]], max_length=256)

    assert fp() != fp(export_every_epoch=True)  # a run with the exports is another run (its own checkpoints)


def test_layout_of_the_per_epoch_exports():
    out = Out("/o")
    assert out.epoch_root == "/o/epochs" and out.epoch_models("ja") == "/o/epochs/ja"
    assert out.epoch_model("ja", 2) == "/o/epochs/ja/epoch-2"
    assert out.epoch_model("multi", 1) == "/o/epochs/multi/epoch-1"
    assert not out.epoch_model("ja", 1).startswith(out.models)  # never inside a model folder (an export replaces it)
    assert Out("s3://b/run").epoch_model("th", 3) == "s3://b/run/epochs/th/epoch-3"
    assert epoch_folder(12) == "epoch-12" and epoch_of("epoch-12") == 12 and epoch_of("/o/epochs/ja/epoch-3/") == 3
    assert epoch_of(".export-abc") is None and epoch_of("epoch-x") is None and epoch_of("model") is None


def _sample(n_off: int, n: int = 100, first_off: bool = True):
    """n judged responses, n_off of them off target (the first n_off, or the last n_off)."""
    flags = [i < n_off for i in range(n)] if first_off else [i >= n - n_off for i in range(n)]
    return stats.binary([f"i{i}" for i in range(n)], flags)


def test_table_markdown_and_plot_from_hand_built_samples(tmp_path):
    cells = {("ja", 0): _sample(90), ("ja", 1): _sample(10), ("ja", 2): _sample(5),
             ("th", 0): _sample(50, 50), ("th", 1): _sample(20, 50)}  # th: no epoch-2 export (stopped early)
    sec = epochs.table(cells, ["ja", "th"], 2, {("ja", 0): "/base", ("th", 0): "/base"})
    assert sec["epochs"] == [0, 1, 2] and sec["title"] == "Off-target rate per epoch"
    ja, th = sec["rows"]
    assert (ja["target"], ja["label"], th["label"]) == ("ja", "JPN", "THA")
    assert [c["value"] for c in ja["cells"]] == [90.0, 10.0, 5.0] and [c["n"] for c in ja["cells"]] == [100] * 3
    assert [c["value"] for c in th["cells"]] == [100.0, 40.0, None] and th["cells"][2]["n"] is None
    lo, hi = stats.wilson(10, 100)
    assert ja["cells"][1]["ci_low"] == pytest.approx(100 * lo) and ja["cells"][1]["ci_high"] == pytest.approx(100 * hi)
    assert ja["cells"][0]["delta"] is None and ja["cells"][1]["delta"] == pytest.approx(-80.0)
    assert ja["cells"][1]["p_value"] == pytest.approx(stats.mcnemar_exact(0, 80))  # 80 items turned on target
    assert ja["cells"][0]["model"] == "/base"
    avg = sec["average"]["cells"]
    assert avg[0]["value"] == pytest.approx(95.0) and avg[0]["n"] == 150 and avg[1]["value"] == pytest.approx(25.0)
    assert avg[1]["delta"] == pytest.approx(-70.0) and 0 < avg[1]["p_value"] < 0.05
    assert avg[2]["value"] is None  # not every language has epoch 2
    assert avg[0]["ci_low"] < 95.0 < avg[0]["ci_high"]

    name = epochs.plot(str(tmp_path), sec)
    assert name == "offtarget_epochs.png" and os.path.getsize(tmp_path / name) > 1000
    # through the report's writer: report.json carries the numbers, report.md the table, plots/ the figure
    report.write(Out(str(tmp_path / "out")), dict(_empty_report(), offtarget_epochs=sec))
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["offtarget_epochs"]["rows"][0]["cells"][1]["value"] == 10.0
    assert "plots/offtarget_epochs.png" in saved["plots"]
    assert os.path.getsize(tmp_path / "out" / "plots" / "offtarget_epochs.png") > 1000
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Off-target rate per epoch (paper App. E, Fig. 3)" in md
    assert "| Target | Epoch 0 (base) | Epoch 1 | Epoch 2 |" in md
    lo90, hi90 = (report.rounded(100 * x) for x in stats.wilson(90, 100))
    assert f"| JPN | 90.00 [{lo90}, {hi90}] n=100 | 10.00 [" in md
    assert "(-80.00) n=100 | 5.00 [" in md and "| THA | 100.00 [" in md and "n=50 | – |" in md
    assert "| AVG | 95.00 [" in md and "Epoch 0 (before training): `/base`." in md


def _empty_report() -> dict:
    cfg = load_config(None, ["languages.targets=[ja,th]", "eval.tasks=[offtarget]"])
    return report.build(cfg, [], ["offtarget"], ["ja", "th"], [], {}, None, "base", [], seconds=0, data_dir="")


def test_eval_phase_runs_each_epoch_export_on_offtarget_only(tmp_path, monkeypatch):
    monkeypatch.setattr("sdrrl_ray.runtime.init_ray", lambda cfg: None)
    fake = FakeInference()
    monkeypatch.setattr(inference, "run_inference", fake)
    base = make_model(tmp_path / "base")
    out = tmp_path / "out"
    make_model(out / "model" / "ja")
    make_model(out / "model" / "th")
    for target, k in (("ja", 1), ("ja", 2), ("th", 1), ("th", 2)):
        make_model(Out(str(out)).epoch_model(target, k))
    os.makedirs(out / "epochs" / "ja" / ".export-tmp")  # a half-written export is not an epoch
    cfg = load_config(None, [f"out_dir={out}", "languages.targets=[ja,th]", f"generate.model={base}",
                             "train.epochs=2", "train.export_every_epoch=true", "eval.tasks=[mkqa,offtarget]",
                             "eval.limit=3", "eval.contamination=false", "data.path="])
    rep = run.run_eval(cfg)
    sec = rep["offtarget_epochs"]
    assert [r["target"] for r in sec["rows"]] == ["ja", "th"] and sec["epochs"] == [0, 1, 2]
    for row in sec["rows"]:
        cells = row["cells"]
        assert [c["model"] for c in cells] == [base] + [Out(str(out)).epoch_model(row["target"], k) for k in (1, 2)]
        assert all(c["value"] is not None and c["n"] == 3 for c in cells)  # the fake answers are judged
    base_rate = {r["unit"]: r["value"] for r in rep["results"] if r["model"] == "base" and r["task"] == "offtarget"}
    assert sec["rows"][0]["cells"][0]["value"] == base_rate["ja"]  # epoch 0 is the base row, not run again
    # each export on its target's off-target prompts only: 4 exports x 3 items, in their own prediction folder
    epoch_requests = [r for r in fake.computed if r.startswith("epoch-")]
    assert len(epoch_requests) == 4 * 3 and all("|offtarget|" in r for r in epoch_requests)
    assert {r.split("|")[2] for r in epoch_requests if r.startswith("epoch-1-ja|")} == {"ja"}
    pred_dir = out / "predictions" / "epochs"
    assert sorted(f for f in os.listdir(pred_dir) if f.endswith(".jsonl")) == [
        "epoch-1-ja.offtarget.jsonl", "epoch-1-th.offtarget.jsonl", "epoch-2-ja.offtarget.jsonl",
        "epoch-2-th.offtarget.jsonl"]
    assert not any(f.startswith("epoch-") for f in os.listdir(out / "predictions"))  # not rows of the main report
    assert {m["name"] for m in rep["models"]} == {"base", "sdrrl"}
    saved = json.loads((out / "report.json").read_text())
    assert saved["offtarget_epochs"]["rows"] == sec["rows"]
    assert (out / "plots" / "offtarget_epochs.png").exists() and "Off-target rate per epoch" in (
        out / "report.md").read_text()

    # score-only mode reads the saved per-epoch predictions back; a rerun computes nothing again
    again = run.run_eval(cfg, score_only=True)
    assert again["offtarget_epochs"]["rows"] == sec["rows"]
    idle = FakeInference()
    monkeypatch.setattr(inference, "run_inference", idle)
    assert run.run_eval(cfg)["offtarget_epochs"]["rows"] == sec["rows"] and idle.calls == 0

    # option off: no section; on without exports: a note says why there is none
    off = load_config(None, [f"out_dir={out}", "languages.targets=[ja,th]", f"generate.model={base}",
                             "eval.tasks=[offtarget]", "eval.limit=3", "eval.contamination=false", "data.path="])
    assert "offtarget_epochs" not in run.run_eval(off)
    empty = load_config(None, [f"out_dir={tmp_path / 'other'}", "languages.targets=[ja]", f"generate.model={base}",
                               "train.export_every_epoch=true", "eval.tasks=[offtarget]", "eval.limit=3",
                               "eval.contamination=false", "data.path=", "eval.plots=false"])
    rep = run.run_eval(empty)
    assert "offtarget_epochs" not in rep and any("holds no per-epoch export" in n for n in rep["notes"])


def test_the_plan_counts_the_per_epoch_evaluation():
    from sdrrl_ray.planner.estimate import eval_work

    args = ["languages.targets=[ja,th]", "train.epochs=3", "eval.tasks=[offtarget]", "eval.limit=10",
            "eval.max_new_tokens=8"]
    off, on = load_config(None, args), load_config(None, [*args, "train.export_every_epoch=true"])
    assert eval_work(on)["models"] == eval_work(off)["models"] + 3 * 2  # 3 epochs x 2 per-target models
    assert eval_work(on)["output_tokens"] - eval_work(off)["output_tokens"] == 3 * 2 * 10 * 8  # target side only
