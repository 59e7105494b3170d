"""The metric code proven end to end: an oracle model scores 100 everywhere, a wrong one at the bottom.

``OracleEngine`` / ``OracleScorer`` (test-only) answer every request with its reference (or, for the
"wrong" model, with an answer that cannot match). They plug into the real inference actor class
(:class:`EvalInference`, run in-process here instead of on a Ray actor pool) through the engine
factory, so prompts, predictions files, scoring and the report all run for real.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from sdrrl_ray.config import load_config
from sdrrl_ray.engines.base import EngineOptions, GenerationResult
from sdrrl_ray.evaluation import inference, run
from sdrrl_ray.evaluation import ner as ner_task
from sdrrl_ray.evaluation.belebele import LETTERS
from sdrrl_ray.evaluation.tasks import TASKS

TARGETS = ["ja", "th"]
WRONG_TEXT = {"en": "สวัสดีครับ ยินดีที่ได้รู้จัก", "ja": "qqq zzz xxx", "th": "qqq zzz xxx"}


def norm(text: str) -> str:
    return " ".join(text.split())


class OracleTokenizer:
    """Word-level, reversible (a shared vocabulary), no chat template: prompts are 'Question: ...\\nAnswer:'."""

    chat_template = None
    eos_token = "</s>"
    pad_token_id = 0
    eos_token_id = 0
    vocab: dict = {"<pad>": 0}
    words: list = ["<pad>"]

    def __call__(self, text, add_special_tokens=False):
        ids = []
        for w in text.split():
            if w not in self.vocab:
                self.vocab[w] = len(self.words)
                self.words.append(w)
            ids.append(self.vocab[w])
        return {"input_ids": ids}

    def decode(self, ids, **_):
        return " ".join(self.words[i] for i in ids)


def message_of(prompt_text: str) -> str:
    t = norm(prompt_text)
    assert t.startswith("Question: ") and t.endswith("Answer:"), t
    return t[len("Question: "):-len("Answer:")].strip()


class OracleEngine:
    """Test-only engine: returns the reference answer of each prompt (the answer book is built from the task files)."""

    name = "oracle"

    def __init__(self, book: dict):
        self.book = book
        self.tokenizer = OracleTokenizer()

    def generate(self, prompts, sampling, seeds=None):
        out = []
        for p in prompts:
            text = self.book[("generate", message_of(p))]
            out.append(GenerationResult(text, len(p.split()), len(text.split()), "stop"))
        return out


class OracleScorer:
    """Test-only scorer: the correct option gets the highest log-likelihood; parallel sentences identical vectors."""

    pad_id = 0

    def __init__(self, book: dict):
        self.book = book
        self.tokenizer = OracleTokenizer()

    def loglik(self, prompt_ids, option_ids):
        out = []
        for p, opts in zip(prompt_ids, option_ids):
            correct = self.book[("loglik", message_of(self.tokenizer.decode(p)))]
            out.append([0.0 if k == correct else -5.0 - k for k in range(len(opts))])
        return out

    def hidden(self, seqs):
        return [np.asarray(self.book[("hidden", norm(self.tokenizer.decode(s)))], dtype=np.float32) for s in seqs]


def answer_book(cfg, wrong: bool) -> dict:
    """(kind, normalized message) -> what the oracle (or the wrong model) answers, for every request of every task."""
    ctx = run.context(cfg)
    store = run.ItemStore(run.demo_eval_data_dir(), ctx)
    book: dict = {}
    entry = run.ModelEntry("any", "x")
    for task, unit in run.entry_units(entry, list(TASKS), TARGETS):
        shots, items = store.get(task, unit)
        by_id = {it["item_id"]: it for it in items}
        n = len(items)
        for r in TASKS[task].requests(items, shots, unit, ctx):
            msg = norm(r["prefix"] + r["body"] + r["suffix"])
            item_id, _, variant = r["key"].partition("#")
            it = by_id[item_id]
            if task == "belebele":
                correct = it["answer"] - 1
                pick = (correct + 1) % 4 if wrong else correct
                if variant == "loglik":
                    book[("loglik", msg)] = pick
                else:
                    book[("generate", msg)] = LETTERS[pick]
            elif task == "alignment":
                i = list(by_id).index(item_id)
                j = (i + 1) % n if (wrong and variant == "x") else i
                book[("hidden", norm(r["body"]))] = np.eye(n)[j]
            else:
                if wrong:
                    text = WRONG_TEXT[unit.lang if task == "offtarget" else unit.out_lang]
                elif task == "flores":
                    text = it["reference"]
                elif task == "xlsum":
                    text = it["summary"]
                elif task == "mkqa":
                    text = it["answers"][0]
                elif task == "ner":
                    text = ner_task.format_entities(ner_task.gold_entities(it))
                else:  # offtarget: answering with the prompt itself is answering in its language
                    text = it["instruction"]
                book[("generate", msg)] = text
    return book


@pytest.fixture
def oracle_run(monkeypatch, tmp_path):
    out = tmp_path / "out"
    cfg = load_config(None, [
        f"out_dir={out}",
        "languages.targets=[ja,th]",
        "eval.models={base: wrong-model, sdrrl: oracle-model}",
        "eval.belebele_mode=both",
        "eval.bleu_download=false",
        "eval.contamination=false",
        "eval.limit=10",
        "data.path=",
    ])
    books = {"oracle-model": answer_book(cfg, wrong=False), "wrong-model": answer_book(cfg, wrong=True)}
    monkeypatch.setattr(inference, "build_engine", lambda engine, path, options: OracleEngine(books[path]))
    monkeypatch.setattr(inference, "build_scorer", lambda path, engine, options: OracleScorer(books[path]))
    monkeypatch.setattr(inference, "model_max_positions", lambda path, options: None)

    def in_process(requests, *, cfg, model_path, callable_cls):
        worker = callable_cls(engine="hf", model_path=model_path, engine_options=EngineOptions(),
                              kinds=("generate", "loglik", "hidden"), max_prompt_tokens=cfg.eval.max_prompt_tokens,
                              seed=cfg.seed)
        batch = {f.name: np.array([r.get(f.name) for r in requests], dtype=object) for f in inference.REQUEST_SCHEMA}
        return {row["req_id"]: row for row in worker(batch).to_pylist()}

    monkeypatch.setattr(inference, "run_inference", in_process)
    monkeypatch.setattr("sdrrl_ray.runtime.init_ray", lambda cfg: None)
    return cfg, out


def cells(rep: dict, model: str) -> dict:
    """(task, metric, side, column) -> value for one report row."""
    out = {}
    for t in rep["tables"]:
        for r in t["rows"]:
            if r["model"] == model:
                for c, v in r["values"].items():
                    out[(t["task"], t["metric"], t["side"], c)] = v
    return out


EXPECT_TOP = {"acc": 100.0, "bleu": 100.0, "chrf++": 100.0, "rouge1": 100.0, "rougeL": 100.0, "f1": 100.0, "em": 100.0,
              "rate": 0.0, "top1": 100.0, "cosine": 1.0}
EXPECT_BOTTOM = {"acc": 0.0, "bleu": 0.0, "chrf++": 0.0, "rouge1": 0.0, "rougeL": 0.0, "f1": 0.0, "em": 0.0,
                 "rate": 100.0, "top1": 0.0, "cosine": 0.0}


def test_oracle_scores_top_and_wrong_model_bottom(oracle_run):
    cfg, out = oracle_run
    rep = run.run_eval(cfg)
    top, bottom = cells(rep, "sdrrl"), cells(rep, "base")
    tasks_seen = {k[0] for k in top}
    assert tasks_seen == set(TASKS)
    assert len(top) == len(bottom) > 30
    for key, v in top.items():
        assert v == pytest.approx(EXPECT_TOP[key[1]], abs=1e-6), key
    for key, v in bottom.items():
        assert v == pytest.approx(EXPECT_BOTTOM[key[1]], abs=1e-6), key
    # both BELEBELE modes, and the aggregates follow from the tables
    ja_units = {(u["model"], u["task"], u["unit"]): u for u in rep["units"]}
    assert ja_units[("sdrrl", "belebele", "ja")]["answer_extracted_share"] == 1.0
    agg = {r["model"]: r for r in rep["aggregates"]["rows"]}
    assert agg["sdrrl"]["nlu_target"] == pytest.approx(100) and agg["sdrrl"]["nlg_english"] == pytest.approx(100)
    assert agg["sdrrl"]["delta"]["nlg_target"] == pytest.approx(100) and agg["base"]["nlg_target"] == pytest.approx(0)
    # BLEU used the documented fallback (no flores200 model offline) and says so
    assert rep["bleu"]["notes"] and all("tok:flores200" not in s for s in rep["bleu"]["signatures"])
    assert (any("tok:char" in s for s in rep["bleu"]["signatures"])
            and any("tok:13a" in s for s in rep["bleu"]["signatures"]))
    md = (out / "report.md").read_text()
    # each cell: value [95% interval] (delta; no "ns": significant) n=items; Wilson for 10/10 and 0/10, McNemar 10 vs 0
    assert ("| sdrrl | 100.00 [72.25, 100.00] (+100.00) n=10 | 100.00 [72.25, 100.00] (+100.00) n=10 | "
            "100.00 [83.89, 100.00] (+100.00) n=20 |") in md
    bele = next(t for t in rep["tables"] if (t["task"], t["side"]) == ("belebele", "target"))
    assert bele["rows"][1]["p_value"]["ja"] == pytest.approx(2 / 2 ** 10) and bele["chance"] == 25.0
    assert "MKQA F1, target language" in md and "| Model | JPN | THA | AVG |" in md
    assert ({p.split("/")[-1] for p in rep["plots"]}
            >= {"belebele.png", "flores.png", "aggregates.png", "alignment_ja-en.png"})
    for p in rep["plots"]:
        assert (out / p).stat().st_size > 1000
    # MKQA: the two questions without ground truth are skipped and reported
    assert ja_units[("sdrrl", "mkqa", "ja")]["skipped"] == 2 and ja_units[("sdrrl", "mkqa", "ja")]["n"] == 10


def test_score_only_rescores_saved_predictions(oracle_run, monkeypatch):
    cfg, out = oracle_run
    cfg = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, plots=False))
    first = run.run_eval(cfg)
    files = sorted(os.listdir(out / "predictions"))
    assert "sdrrl.flores.jsonl" in files and "base.alignment.jsonl" in files
    row = json.loads((out / "predictions" / "sdrrl.mkqa.jsonl").read_text().splitlines()[0])
    assert {"model", "task", "unit", "key", "prediction"} <= set(row)

    def no_model(*a, **k):
        raise AssertionError("score-only mode must not run a model")

    monkeypatch.setattr(inference, "run_inference", no_model)
    again = run.run_eval(cfg, score_only=True)
    assert [t["rows"] for t in again["tables"]] == [t["rows"] for t in first["tables"]]
    assert any("scored saved predictions" in n for n in again["notes"])
