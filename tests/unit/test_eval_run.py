"""Evaluation around the tasks: which models are evaluated, the contamination check (committed parts
of the transfer set only), the report's layout."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sdrrl_ray.config import load_config
from sdrrl_ray.engines.base import EngineOptions
from sdrrl_ray.evaluation import contamination, inference, run

# ---------------------------------------------------------------- models to evaluate


def make_model(path):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as fh:
        json.dump({"model_type": "llama", "max_position_embeddings": 64}, fh)
    return str(path)


def test_discover_models_layouts(tmp_path):
    base = make_model(tmp_path / "base")
    out = tmp_path / "out"
    make_model(out / "model" / "ja")
    cfg = load_config(None, [f"out_dir={out}", f"generate.model={base}", "languages.targets=[ja,th]"])
    entries, notes = run.discover_models(cfg)
    assert [(e.name, e.target, e.key) for e in entries] == [("base", None, "base"), ("sdrrl", "ja", "sdrrl-ja")]
    assert not notes
    make_model(out / "model")
    entries, _ = run.discover_models(cfg)
    assert [(e.name, e.target) for e in entries] == [("base", None), ("sdrrl", None)]
    # eval.models: a folder of per-target folders, and a model pinned to one target
    runs = tmp_path / "runs"
    make_model(runs / "th")
    cfg = load_config(None, [f"out_dir={out}", "languages.targets=[ja,th]",
                             f"eval.models={{tsft: {runs}, cit: {{path: {base}, target: ja}}}}"])
    entries, _ = run.discover_models(cfg)
    assert [(e.name, e.target) for e in entries] == [("tsft", "th"), ("cit", "ja")]
    assert inference.model_max_positions(base, EngineOptions()) == 64


# ---------------------------------------------------------------- contamination


def test_contamination_flags_exact_and_ngram_overlap(tmp_path):
    out = tmp_path / "out"
    (out / "transfer_set").mkdir(parents=True)
    leaked_en = "The museum has a new room about the ocean; visitors can see large fish, old ships"
    table = pa.table({
        "question": ["Translate: " + leaked_en + " today.", "無関係な質問です。", "What is 2+2?"],
        "answer": ["x", "博物館に海についての新しい部屋ができました。来館者は大きな魚や古い船を見ます。", "4"],
        "subset": ["LL", "TT", "LL"],
    })
    pq.write_table(table, out / "transfer_set" / "part-0.parquet")
    cfg = load_config(None, [f"out_dir={out}", "languages.targets=[ja]", "data.path="])
    items = {
        ("belebele", "en"): [
            {"item_id": "leak", "fields": {"flores_passage": "The museum has a new room about the ocean. "
                                                             "Visitors can see large fish, old ships.",
                                           "question": "?"}},
            {"item_id": "clean", "fields": {"flores_passage": "Something else entirely, nothing shared here "
                                                              "with any training text at all.", "question": "?"}}],
        ("belebele", "ja"): [
            {"item_id": "leak-ja", "fields": {"flores_passage": "博物館に海についての新しい部屋ができました。"
                                                                "来館者は大きな魚や古い船や海の地図を見ることができます。",
                                              "question": "何？"}}],
        ("mkqa", "en"): [{"item_id": "q", "question": "what is 2 + 2", "answers": ["4"]}],
    }
    c = contamination.check(cfg, items)
    flagged = {(k, i["item_id"]): i for k, u in c["by_unit"].items() for i in u["items"]}
    assert flagged[("belebele/en", "leak")]["ngram"]  # 13 shared words
    assert flagged[("belebele/ja", "leak-ja")]["ngram"]  # 25 shared characters
    assert flagged[("mkqa/en", "q")]["exact"]  # "what is 2+2" == "What is 2+2?" once normalized
    assert ("belebele/en", "clean") not in flagged
    assert c["texts_scanned"]["transfer_set"] == 6 and c["flagged"] == 3
    # with commit markers, only committed parts count: a part a killed run left behind is not training data
    (out / ".commits").mkdir()
    (out / ".commits" / "0").write_text("3 0\n")
    pq.write_table(pa.table({"question": ["What is 2+2?"], "answer": ["4"], "subset": ["LL"]}),
                   out / "transfer_set" / "part-uncommitted.parquet")
    assert contamination.check(cfg, items)["texts_scanned"]["transfer_set"] == 6
    (out / ".commits" / "0").unlink()
    (out / ".commits" / "uncommitted").write_text("1 0\n")
    again = contamination.check(cfg, items)
    assert again["texts_scanned"]["transfer_set"] == 2 and again["flagged"] == 1  # only the 2+2 part counts now


# ---------------------------------------------------------------- report layout


def test_report_compares_a_one_target_model_on_its_own_language():
    from sdrrl_ray.evaluation import report

    cfg = load_config(None, ["languages.targets=[ja,th]", "eval.tasks=[belebele]"])
    entries = [run.ModelEntry("base", "/b"), run.ModelEntry("sdrrl", "/m/ja", "ja")]
    results = [dict(model_key=k, task="belebele", unit=u, metric="acc", value=v) for k, u, v in [
        ("base", "ja", 40.0), ("base", "th", 20.0), ("base", "en", 60.0), ("sdrrl-ja", "ja", 50.0),
        ("sdrrl-ja", "en", 61.0)]]
    rep = report.build(cfg, entries, ["belebele"], ["ja", "th"], results, {}, None, "base", [], seconds=0, data_dir="")
    target, english = rep["tables"]
    base, sdrrl = target["rows"]
    assert base["values"] == {"ja": 40.0, "th": 20.0} and base["avg"] == 30.0 and not base["partial"]
    # vs base on ja
    assert sdrrl["values"] == {"ja": 50.0, "th": None} and sdrrl["partial"] and sdrrl["delta_avg"] == 10.0
    # one base model: the same English run in every column
    assert english["rows"][0]["values"] == {"ja": 60.0, "th": 60.0}
    agg = {r["model"]: r for r in rep["aggregates"]["rows"]}
    assert agg["sdrrl"]["nlu_target"] == 50.0 and agg["sdrrl"]["delta"]["nlu_target"] == 10.0
    assert agg["sdrrl"]["delta"]["nlu_english"] == pytest.approx(1.0)
    md = report.to_markdown(rep)
    assert "| sdrrl | 50.00 (+10.00) | – | 50.00 (+10.00)* |" in md and "| base | 40.00 | 20.00 | 30.00 |" in md


# ---------------------------------------------------------------- a killed eval rerun reuses saved predictions


class FakeKill(Exception):
    """Raised by FakeInference to stand in for a killed ``sdrrl eval``."""


class FakeInference:
    """Test-only stand-in for ``inference.run_inference``: deterministic answers per request, streamed through
    ``on_output`` as the real one streams them; records every request it computes. With ``kill_after_saved``
    it raises :class:`FakeKill` as soon as that many unit files have been saved (a run killed mid-model)."""

    def __init__(self, units_dir=None, kill_after_saved=None):
        self.units_dir, self.kill_after_saved = units_dir, kill_after_saved
        self.calls, self.computed = 0, []

    @staticmethod
    def answer(r: dict) -> dict:
        import hashlib

        h = hashlib.sha256((r["prefix"] + r["body"] + r["suffix"]).encode()).digest()
        out = dict(req_id=r["req_id"], truncated=False, n_prompt_tokens=len(r["body"].split()))
        if r["kind"] == "generate":
            out.update(prediction="ABCD"[h[0] % 4] + " answer " + str(h[1]), n_output_tokens=3, finish_reason="stop")
        elif r["kind"] == "loglik":
            out["option_logprobs"] = [-(h[k] / 16.0) for k in range(len(json.loads(r["options"])))]
        else:
            out["vector"] = [h[k] / 255.0 for k in range(8)]
        return out

    def __call__(self, requests, *, cfg, model_path, callable_cls, on_output=None):
        self.calls += 1
        results = {}  # longest first, as the real one orders them: the units finish interleaved
        for r in sorted(requests, key=lambda r: -len(r["prefix"]) - len(r["body"]) - len(r["suffix"])):
            results[r["req_id"]] = out = self.answer(r)
            self.computed.append(r["req_id"])
            if on_output is not None:
                on_output(r["req_id"], out)
            saved = os.listdir(self.units_dir) if self.kill_after_saved and os.path.isdir(self.units_dir) else []
            if self.kill_after_saved and len(saved) >= self.kill_after_saved:
                raise FakeKill(f"killed after {len(self.computed)} requests")
        return results


def _eval_cfg(out, model, *extra):
    return load_config(None, [f"out_dir={out}", "languages.targets=[ja,th]", f"eval.models={{base: {model}}}",
                              "eval.tasks=[belebele,flores,alignment]", "eval.belebele_mode=both",
                              "eval.bleu_download=false", "eval.contamination=false", "eval.plots=false", "data.path=",
                              *extra])


def _comparable(rep: dict) -> dict:
    return {k: v for k, v in rep.items() if k not in ("seconds", "created")}  # the clock, not the results


def test_killed_eval_rerun_reuses_saved_unit_predictions(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("sdrrl_ray.runtime.init_ray", lambda cfg: None)
    model = make_model(tmp_path / "model")

    def evaluate(out, fake, *extra):
        monkeypatch.setattr(inference, "run_inference", fake)
        caplog.clear()
        with caplog.at_level("INFO", logger="sdrrl_ray.eval"):
            return run.run_eval(_eval_cfg(out, model, *extra))

    reference = FakeInference()
    rep_ref = evaluate(tmp_path / "ref", reference)
    every = set(reference.computed)
    assert reference.calls == 1 and len(every) > 20

    out = tmp_path / "out"
    units_dir = out / "predictions" / "units"
    killed = FakeInference(units_dir, kill_after_saved=1)
    with pytest.raises(FakeKill):
        evaluate(out, killed)
    first = os.listdir(units_dir)
    assert len(first) == 1 and first[0].startswith("base.")  # one unit saved whole; no temporary file left behind
    model_key, task, unit = first[0][:-len(".jsonl")].split(".")
    saved_ids = {i for i in every if i.startswith(f"{model_key}|{task}|{unit}|")}
    assert saved_ids <= set(killed.computed) and len(killed.computed) > len(saved_ids)  # others were half done

    rerun = FakeInference()
    rep = evaluate(out, rerun)
    assert set(rerun.computed) == every - saved_ids and len(rerun.computed) == len(every - saved_ids)
    n_units = len(os.listdir(units_dir))
    assert f"reused 1 of {n_units} prediction files" in caplog.text
    assert _comparable(rep) == _comparable(rep_ref)
    for name in sorted(os.listdir(tmp_path / "ref" / "predictions")):
        if name.endswith(".jsonl"):
            assert (out / "predictions" / name).read_text() == (tmp_path / "ref" / "predictions" / name).read_text()

    # a finished run's rerun computes nothing; a changed setting or a changed model recomputes everything
    idle = FakeInference()
    assert _comparable(evaluate(out, idle)) == _comparable(rep_ref)
    assert idle.calls == 0 and f"reused {n_units} of {n_units} prediction files" in caplog.text
    changed = FakeInference()
    evaluate(out, changed, "eval.max_prompt_tokens=512")
    assert set(changed.computed) == every and f"reused 0 of {n_units}" in caplog.text
    with open(os.path.join(model, "config.json"), "a") as fh:
        fh.write("\n")  # retrained in place: the same folder, other files
    retrained = FakeInference()
    evaluate(out, retrained, "eval.max_prompt_tokens=512")
    assert set(retrained.computed) == every
