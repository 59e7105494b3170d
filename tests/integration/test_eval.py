"""``run_eval`` for real: local Ray, actor-pool inference with the project's demo model, every task on the
demo eval data (a few items each), a per-target "trained" model, predictions, report, plots, contamination,
and score-only mode. The tiny model scores near zero: what is checked is the plumbing and the layout
(the metric code itself is proven by tests/unit/test_eval_oracle.py and test_eval_metrics.py).
"""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sdrrl_ray.config import load_config
from tests.conftest import ROOT

DEMO = os.path.join(ROOT, "jobs", "configs", "demo.yaml")
ALL_TASKS = "[belebele,flores,xlsum,mkqa,ner,offtarget,alignment]"


@pytest.fixture(scope="module")
def evaluated(ray_local, demo_model, tmp_path_factory):
    from sdrrl_ray.assets import demo_eval_data_dir
    from sdrrl_ray.evaluation.run import run_eval

    out = tmp_path_factory.mktemp("eval") / "out"
    (out / "model").mkdir(parents=True)
    os.symlink(demo_model, out / "model" / "ja")  # stands in for a model trained for Japanese
    (out / "transfer_set").mkdir()
    flores = os.path.join(demo_eval_data_dir(), "flores", "flores200_dataset", "devtest")
    first = {code: open(os.path.join(flores, f"{code}.devtest"), encoding="utf-8").readline().strip()
             for code in ("eng_Latn", "jpn_Jpan")}
    leaked = f"Translate: {first['eng_Latn']}"  # FLORES line 1 leaked into a training row
    pq.write_table(pa.table({"question": [leaked], "answer": [first["jpn_Jpan"]]}),
                   out / "transfer_set" / "part-0.parquet")
    cfg = load_config(DEMO, [
        f"out_dir={out}",
        f"eval.tasks={ALL_TASKS}",
        "eval.limit=2",
        "eval.max_new_tokens=12",
        "eval.belebele_mode=both",
        "eval.bleu_download=false",
        "eval.contamination_char_ngram=10",  # FLORES sentences are short: 10 characters find the leaked one
        "eval.pool.batch_size=16",
    ])
    return cfg, out, run_eval(cfg)


@pytest.mark.timeout(300)
def test_report_tables_models_and_predictions(evaluated):
    cfg, out, rep = evaluated
    assert [(m["name"], m["target"]) for m in rep["models"]] == [("base", None), ("sdrrl", "ja")]
    assert rep["baseline"] == "base"
    assert json.loads((out / "report.json").read_text())["tables"] == rep["tables"]
    by_title = {t["title"]: t for t in rep["tables"]}
    bele = by_title["BELEBELE accuracy, target language"]
    assert bele["columns"] == ["ja", "th"]
    rows = {r["model"]: r for r in bele["rows"]}
    assert rows["base"]["values"]["ja"] is not None and rows["base"]["values"]["th"] is not None
    assert rows["sdrrl"]["values"]["th"] is None and rows["sdrrl"]["values"]["ja"] is not None  # trained for ja only
    for t in rep["tables"]:
        for r in t["rows"]:
            for v in r["values"].values():
                assert v is None or (-1.0 <= v <= 100.0), (t["title"], v)
    assert {"FLORES-200 BLEU, EN→X (target)", "FLORES-200 BLEU, X→EN (English)", "XL-SUM ROUGE-L, English",
            "MKQA F1, target language", "NER (WikiANN) entity F1, English", "Off-target rate %, target language",
            "Representation alignment: top-1 retrieval %, target vs English sentences"} <= set(by_title)
    agg = {r["model"]: r for r in rep["aggregates"]["rows"]}
    assert set(agg) == {"base", "sdrrl"} and agg["base"]["components"]["nlg_target"] == ["flores", "xlsum", "mkqa"]
    # predictions: one file per model and task, every request answered
    files = sorted(f for f in os.listdir(out / "predictions") if f.endswith(".jsonl"))
    assert "base.alignment.jsonl" in files and "sdrrl-ja.belebele.jsonl" in files and len(files) == 14
    units = os.listdir(out / "predictions" / "units")  # one file per (model, task, language), for a rerun
    assert "sdrrl-ja.flores.en-ja.jsonl" in units and "base.belebele.th.jsonl" in units
    rows = [json.loads(line) for line in (out / "predictions" / "base.belebele.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 2 * 2  # ja, th, en x 2 items x (loglik, generate)
    ll = [r for r in rows if r["kind"] == "loglik"]
    assert all(len(r["option_logprobs"]) == 4 and max(r["option_logprobs"]) < 0 for r in ll)
    gen = [r for r in rows if r["kind"] == "generate"]
    assert all(isinstance(r["prediction"], str) and r["n_output_tokens"] <= 8 for r in gen)
    # "sdrrl-ja" is the same demo model: its option scores equal the base model's, whatever the batching
    same = {(r["unit"], r["key"]): r["option_logprobs"] for r in ll}
    for line in (out / "predictions" / "sdrrl-ja.belebele.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["kind"] == "loglik":
            assert r["option_logprobs"] == pytest.approx(same[(r["unit"], r["key"])], abs=1e-3)
    vec = [json.loads(line) for line in (out / "predictions" / "sdrrl-ja.alignment.jsonl").read_text().splitlines()]
    assert len(vec) == 4 and all(len(r["vector"]) == 128 for r in vec)  # demo model hidden size


@pytest.mark.timeout(300)
def test_markdown_plots_signatures_and_contamination(evaluated):
    cfg, out, rep = evaluated
    md = (out / "report.md").read_text()
    assert "## Aggregates (paper Table 6)" in md and "| Model | JPN | THA | AVG |" in md
    assert any(line.startswith("| sdrrl |") and "| – |" in line for line in md.splitlines())  # no Thai model
    assert "tok:char" in md and "not comparable with the paper's" in md
    for name in ("belebele.png", "flores.png", "aggregates.png", "alignment_ja-en.png", "alignment_th-en.png"):
        assert (out / "plots" / name).stat().st_size > 1000
    c = rep["contamination"]
    assert c["texts_scanned"]["transfer_set"] == 2
    assert any(i["item_id"] == "1" for i in c["by_unit"]["flores/en-ja"]["items"])
    assert "## Contamination" in md and "flores/en-ja" in md


@pytest.mark.timeout(120)
def test_score_only_mode_needs_no_model(evaluated, monkeypatch):
    from sdrrl_ray.evaluation import inference
    from sdrrl_ray.evaluation.run import run_eval

    cfg, out, rep = evaluated

    def no_model(*a, **k):
        raise AssertionError("score-only mode ran a model")

    monkeypatch.setattr(inference, "run_inference", no_model)
    import dataclasses

    again = run_eval(dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, plots=False, contamination=False)),
                     score_only=True)
    assert [t["rows"] for t in again["tables"]] == [t["rows"] for t in rep["tables"]]


@pytest.mark.timeout(120)
def test_rerun_reuses_the_saved_predictions(evaluated, monkeypatch, caplog):
    """A rerun (after a kill, or of a finished run) runs no model for units whose predictions are saved."""
    import dataclasses

    from sdrrl_ray.evaluation import inference
    from sdrrl_ray.evaluation.run import run_eval

    cfg, out, rep = evaluated

    def no_model(*a, **k):
        raise AssertionError("every unit's predictions were saved: no model should run")

    monkeypatch.setattr(inference, "run_inference", no_model)
    n_units = len(os.listdir(out / "predictions" / "units"))
    with caplog.at_level("INFO", logger="sdrrl_ray.eval"):
        again = run_eval(dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, plots=False,
                                                                           contamination=False)))
    assert f"reused {n_units} of {n_units} prediction files" in caplog.text
    assert [t["rows"] for t in again["tables"]] == [t["rows"] for t in rep["tables"]]


@pytest.mark.vllm
@pytest.mark.timeout(600)
def test_vllm_generation_and_hf_scoring_passes(demo_model):
    """eval.engine=vllm: generation on vLLM, log-likelihoods and hidden states on an HF actor pool."""
    import ray

    from sdrrl_ray.evaluation import common
    from sdrrl_ray.evaluation.inference import run_inference

    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=8, include_dashboard=False, log_to_driver=False)
    try:
        requests = [
            dict(common.request("g", "generate", prefix="What color is a lemon?", max_new_tokens=8), req_id="g"),
            dict(common.request("l", "loglik", prefix="P: a\nQ: b\nA. x\nB. y\nAnswer:", options=["A", "B"]),
                 req_id="l"),
            dict(common.request("h", "hidden", body="The cat sleeps.", raw=True), req_id="h"),
        ]
        out = {}
        for engine in ("vllm", "hf"):
            cfg = load_config(None, [f"eval.engine={engine}", "generate.max_model_len=256", "eval.pool.num_cpus=1"])
            out[engine] = run_inference(requests, cfg=cfg, model_path=demo_model)
        assert out["vllm"]["g"]["prediction"] and out["vllm"]["g"]["n_output_tokens"] <= 8
        assert out["vllm"]["l"]["option_logprobs"] == pytest.approx(out["hf"]["l"]["option_logprobs"])
        assert list(out["vllm"]["h"]["vector"]) == pytest.approx(list(out["hf"]["h"]["vector"]))
    finally:
        if started:
            ray.shutdown()
