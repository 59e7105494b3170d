"""The run's own plots in OUT/report.md: loss (EMA + held-out points), transfer-set funnel, operator timeline."""

from __future__ import annotations

import json

from sdrrl_ray.evaluation.run_plots import image_lines, plot_funnel, plot_timeline, run_plots
from sdrrl_ray.layout.paths import Out
from sdrrl_ray.train.metrics import ema, plot_losses

MANIFEST = {
    "rows_in": 10, "rows_written": 30,
    "stages": {"ingest": {"unit": "record", "in": 10, "out": 10, "rejected": 0},
               "filter": {"unit": "item-target-part", "in": 40, "out": 35, "rejected": 5},
               "expand": {"unit": "variant", "in": 70, "out": 60, "rejected": 10}},
    "reject_reasons": {"repetition_loop": 4, "truncated": 1, "question_translation_rejected": 10},
    "execution_last_run": {"seconds": 5.0, "operators": [
        {"name": "ReadReadInstructions", "tasks": 1, "start_s": 0.1, "end_s": 0.4, "rows_out": 10},
        {"name": "MapBatches(translate)" * 5, "tasks": 4, "start_s": 0.5, "end_s": 4.2, "rows_out": 40},
        {"name": "Write", "tasks": 2, "start_s": 4.2, "end_s": 4.9, "rows_out": 30}]},
}


def test_ema_is_bias_corrected():
    assert ema([2.0, 2.0, 2.0]) == [2.0, 2.0, 2.0]
    smooth = ema([1.0, 0.0] * 20, alpha=0.1)
    assert smooth[0] == 1.0 and 0.3 < smooth[-1] < 0.7


def test_loss_plot_with_every_n_steps_evals(tmp_path):
    recs = [dict(run="r", event="step", step=s, loss=3.0 / s, loss_LL=2.0 / s, loss_TT=4.0 / s) for s in range(1, 21)]
    recs += [dict(run="r", event="eval_step", epoch=0, step=5, heldout_loss=1.0),
             dict(run="r", event="eval", epoch=0, step=10, heldout_loss=0.8),
             dict(run="other", event="step", step=1, loss=9.0)]
    path = plot_losses(recs, {"ja": "r"}, str(tmp_path / "loss.png"))
    assert path and (tmp_path / "loss.png").stat().st_size > 5000
    assert plot_losses(recs, {"ja": "missing"}, str(tmp_path / "none.png")) is None


def test_funnel_and_timeline_embedded(tmp_path):
    out = Out(str(tmp_path / "out"))
    (tmp_path / "out" / "plots").mkdir(parents=True)
    (tmp_path / "out" / "manifest.json").write_text(json.dumps(MANIFEST))
    (tmp_path / "out" / "plots" / "loss.png").write_bytes(b"png")
    draw = tmp_path / "draw"
    draw.mkdir()
    drawn, present = run_plots(str(draw), out)
    assert drawn == ["funnel.png", "timeline.png"] and present == ["loss.png"]
    for name in drawn:
        assert (draw / name).read_bytes()[:4] == b"\x89PNG" and (draw / name).stat().st_size > 5000
    assert image_lines(["plots/funnel.png"]) == ["![funnel](plots/funnel.png)", ""]
    # nothing to draw without a manifest (e.g. sdrrl compare's OUT/eval)
    assert plot_funnel(str(draw), {}) is None and plot_timeline(str(draw), {}) is None
    assert run_plots(str(draw), Out(str(tmp_path / "empty"))) == ([], [])


def test_report_embeds_run_plots(tmp_path, monkeypatch):
    from sdrrl_ray.evaluation import report

    root = tmp_path / "out"
    (root / "plots").mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps(MANIFEST))
    (root / "plots" / "loss.png").write_bytes(b"png")
    monkeypatch.setattr(report, "plot", lambda folder, rep, vectors: [])
    monkeypatch.setattr(report, "to_markdown", lambda rep: "\n".join(["## Plots", ""] + image_lines(rep["plots"])))
    rep = {"plots": []}
    report.write(Out(str(root)), rep)
    assert rep["plots"] == ["plots/loss.png", "plots/funnel.png", "plots/timeline.png"]
    md = (root / "report.md").read_text()
    assert "![loss](plots/loss.png)" in md and "![funnel](plots/funnel.png)" in md
    assert (root / "plots" / "timeline.png").stat().st_size > 5000
