"""Task readers on fixtures in each benchmark's released format (real samples from SDRRL_TEST_DATA/eval where
there are some), answer extraction and parsing, prompt fitting. Model discovery, contamination and the
report layout: ``test_eval_run.py``."""

from __future__ import annotations

import gzip
import json
import os
import shutil

import numpy as np
import pytest

from sdrrl_ray.config import load_config
from sdrrl_ray.engines.base import GenerationResult
from sdrrl_ray.evaluation import belebele, common, flores, inference, mkqa, ner, offtarget, run, xlsum
from sdrrl_ray.evaluation.common import ENGLISH_SIDE, TARGET
from tests.conftest import real_data_path, write_jsonl

SHARED_EVAL = real_data_path("eval")


def ctx(*overrides):
    return run.context(load_config(None, ["languages.targets=[ja,th]", *overrides]))


def unit(module, name):
    return next(u for u in module.units(["ja", "th"]) if u.name == name)


# ---------------------------------------------------------------- BELEBELE


@pytest.mark.realdata
def test_belebele_reads_the_released_record(tmp_path):
    (tmp_path / "belebele").mkdir()
    shutil.copy(os.path.join(SHARED_EVAL, "belebele", "eng_Latn.first1.jsonl"),
                tmp_path / "belebele" / "eng_Latn.jsonl")
    c = ctx("eval.belebele_mode=both")
    (item,) = belebele.load(str(tmp_path), unit(belebele, "en"), c)
    assert item["answer"] == 1 and item["options"][0].startswith("For additional volume")
    assert item["item_id"] == "1@https://en.wikibooks.org/wiki/Accordion/Right_hand"
    reqs = belebele.requests([item], [], unit(belebele, "en"), c)
    assert [r["kind"] for r in reqs] == ["loglik", "generate"]
    assert json.loads(reqs[0]["options"]) == ["A", "B", "C", "D"]
    assert reqs[0]["body"] == item["fields"]["flores_passage"] and reqs[0]["suffix"].endswith("Answer:")
    preds = {f"{item['item_id']}#loglik": {"option_logprobs": [-1.0, -2.0, -3.0, -4.0]},
             f"{item['item_id']}#generate": {"prediction": "The answer is B"}}
    s = belebele.score([item], preds, unit(belebele, "en"), c)
    assert s["metrics"] == {"acc": 100.0, "acc_generate": 0.0}
    with pytest.raises(common.MissingData, match="jpn_Jpan"):
        belebele.load(str(tmp_path), unit(belebele, "ja"), c)


@pytest.mark.parametrize("text,choice", [
    ("B", 2), ("(C) green", 3), ("The answer is D.", 4), ("答え: A", 1), ("Ｃ", 3), ("2", 2),
    ("I think it is green apple", 3), ("A cat", None), ("", None), ("no idea", None),
])
def test_belebele_answer_extraction(text, choice):
    assert belebele.extract_choice(text, ["red", "blue", "green apple", "green"]) == choice


# ---------------------------------------------------------------- FLORES


def write_flores(root, split="devtest", layout=("flores", "flores200_dataset")):
    folder = root.joinpath(*layout, split)
    folder.mkdir(parents=True)
    (folder / f"eng_Latn.{split}").write_text("The cat sleeps.\nIt is cold.\nBirds sing.\n", encoding="utf-8")
    (folder / f"jpn_Jpan.{split}").write_text("猫が寝ています。\n寒いです。\n鳥が歌います。\n", encoding="utf-8")
    return folder


def test_flores_directions_layouts_and_shots(tmp_path):
    write_flores(tmp_path)
    c = ctx("eval.shots=1")
    enja, jaen = unit(flores, "en-ja"), unit(flores, "ja-en")
    assert (enja.side, enja.out_lang, jaen.side, jaen.out_lang) == (TARGET, "ja", ENGLISH_SIDE, "en")
    items = flores.load(str(tmp_path), enja, c)
    assert [i["reference"] for i in items] == ["猫が寝ています。", "寒いです。", "鳥が歌います。"]
    store = run.ItemStore(str(tmp_path), c)
    shots, scored = store.get("flores", enja)
    assert [s["item_id"] for s in shots] == ["1"] and [i["item_id"] for i in scored] == ["2", "3"]
    (req, _) = flores.requests(scored, shots, enja, c)
    assert req["prefix"].startswith("Translate the following sentence from English to Japanese.\n"
                                    "The cat sleeps.\n猫が寝ています。\n\n")
    assert req["body"] == "It is cold." and req["max_new_tokens"] == 128
    # the other accepted layout and the dev split
    other = tmp_path / "other"
    write_flores(other, "dev", layout=("flores",))
    assert len(flores.load(str(other), jaen, ctx("eval.flores_split=dev"))) == 3


def test_flores_rejects_files_that_are_not_parallel(tmp_path):
    folder = write_flores(tmp_path)
    (folder / "jpn_Jpan.devtest").write_text("一行だけ。\n", encoding="utf-8")
    with pytest.raises(common.MissingData, match="parallel"):
        flores.load(str(tmp_path), unit(flores, "en-ja"), ctx())


def test_flores_scores_first_line_of_the_answer(tmp_path):
    write_flores(tmp_path)
    c = ctx("eval.bleu_download=false")
    items = flores.load(str(tmp_path), unit(flores, "ja-en"), c)
    preds = {it["item_id"]: {"prediction": it["reference"] + "\nExtra chatter."} for it in items}
    s = flores.score(items, preds, unit(flores, "ja-en"), c)
    assert s["metrics"]["bleu"] == pytest.approx(100) and "tok:13a" in s["info"]["bleu_signature"]


# ---------------------------------------------------------------- XL-Sum


def test_xlsum_reads_released_jsonl_and_scores_rouge(tmp_path):
    (tmp_path / "xlsum").mkdir()
    rows = [{"id": "a1", "url": "u", "title": "t", "summary": "猫が好きです。", "text": "長い記事。" * 5},
            {"id": "a2", "url": "u", "title": "t", "summary": "", "text": "empty summary is dropped"}]
    write_jsonl(tmp_path / "xlsum" / "japanese_test.jsonl", rows)
    u = unit(xlsum, "ja")
    items = xlsum.load(str(tmp_path), u, ctx())
    assert [i["item_id"] for i in items] == ["a1"]
    (req,) = xlsum.requests(items, [], u, ctx())
    assert "in Japanese" in req["prefix"] and req["body"] == items[0]["text"]
    s = xlsum.score(items, {"a1": {"prediction": "猫が好き"}}, u, ctx())
    # tokens: 4 predicted characters, all in the 6-character summary ("。" is dropped): P 1, R 2/3, F1 0.8
    assert s["metrics"]["rouge1"] == pytest.approx(80) and s["metrics"]["rougeL"] == pytest.approx(80)
    assert [u.name for u in xlsum.units(["cs", "ja"])] == ["ja", "en"]  # XL-Sum has no Czech
    assert xlsum.units(["cs"]) == [] and mkqa.units(["cs"]) == []  # and a Czech model gets no English XL-Sum run


# ---------------------------------------------------------------- MKQA


@pytest.mark.realdata
def test_mkqa_real_sample_skips_questions_without_answers(tmp_path):
    (tmp_path / "mkqa").mkdir()
    shutil.copy(os.path.join(SHARED_EVAL, "mkqa", "test_mkqa.jsonl.gz"), tmp_path / "mkqa" / "test_mkqa.jsonl.gz")
    c = ctx()
    store = run.ItemStore(str(tmp_path), c)
    _, items = store.get("mkqa", unit(mkqa, "en"))
    assert len(items) == 3 and store.skipped[("mkqa", "en")] == 3
    by_query = {i["question"]: i for i in items}
    preds = {
        by_query["who is the director of the film gladiator which was released in 2000"]["item_id"]: {
            "prediction": "Ridley Scott"},
        by_query["when did help me help you come out"]["item_id"]: {"prediction": "2017"},
        by_query["mountain game of thrones world's strongest man"]["item_id"]: {"prediction": "Hafthor Bjornsson"},
    }
    s = mkqa.score(items, preds, unit(mkqa, "en"), c)
    assert s["metrics"]["f1"] == pytest.approx(100 * (1 + 1 + 0.8) / 3)  # 2 of 3 tokens of "Hafthor Julius Bjornsson"
    assert s["metrics"]["em"] == pytest.approx(100 * 2 / 3)
    _, ja = store.get("mkqa", unit(mkqa, "ja"))
    gladiator = next(i for i in ja if "グラディエーター" in i["question"])
    assert gladiator["answers"] == ["リドリー・スコット"] and gladiator["lang_key"] == "ja"
    (req,) = mkqa.requests([gladiator], [], unit(mkqa, "ja"), c)
    assert req["prefix"] == gladiator["question"] and req["max_new_tokens"] == 32


def test_mkqa_file_lookup(tmp_path):
    (tmp_path / "mkqa").mkdir()
    with gzip.open(tmp_path / "mkqa" / "mkqa.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"query": "q", "answers": {"en": [{"type": "number", "text": "8", "aliases": ["eight"]}]},
                             "queries": {"en": "q"}, "example_id": 7}) + "\n")
    assert mkqa.find_file(str(tmp_path)).endswith("mkqa.jsonl.gz")
    (item,) = mkqa.load(str(tmp_path), unit(mkqa, "en"), ctx())
    assert item["answers"] == ["8", "eight"]


# ---------------------------------------------------------------- NER


CONLL = """-DOCSTART- O

en:Tom\tB-PER
en:Smith\tI-PER
en:visited\tO
en:New\tB-LOC
en:York\tI-LOC
en:.\tO

Green B-ORG
Bank I-ORG
opened O
"""


def test_ner_conll_parsing_prompting_and_seqeval(tmp_path):
    (tmp_path / "ner" / "en").mkdir(parents=True)
    (tmp_path / "ner" / "en" / "test").write_text(CONLL, encoding="utf-8")
    u = unit(ner, "en")
    items = ner.load(str(tmp_path), u, ctx())
    assert items[0]["tokens"] == ["Tom", "Smith", "visited", "New", "York", "."]
    assert items[1]["sentence"] == "Green Bank opened"
    assert ner.gold_entities(items[0]) == [("PER", "Tom Smith"), ("LOC", "New York")]
    answers = {
        "s0": {"prediction": "PER: Tom Smith\nORG: New York"},  # one right, one wrong type
        "s1": {"prediction": "- Green Bank (ORG)\nLOC: Mars"},  # right; Mars is not in the sentence
    }
    s = ner.score(items, answers, u, ctx())
    # gold 3 entities; predicted spans: Tom Smith/PER (ok), New York/ORG (wrong), Green Bank/ORG (ok) -> P 2/3, R 2/3
    assert s["metrics"]["f1"] == pytest.approx(200 / 3) and s["metrics"]["precision"] == pytest.approx(200 / 3)
    perfect = {it["item_id"]: {"prediction": ner.format_entities(ner.gold_entities(it))} for it in items}
    assert ner.score(items, perfect, u, ctx())["metrics"]["f1"] == 100


def test_ner_matching_unspaced_tokens():
    toks = ["東", "京", "の", "リ", "ド", "リ", "ー"]
    assert ner.tag_entities(toks, [("LOC", "東京"), ("PER", "リドリー")]) == [
        "B-LOC", "I-LOC", "O", "B-PER", "I-PER", "I-PER", "I-PER"]
    assert ner.tag_entities(["a", "b", "a"], [("PER", "a"), ("PER", "a"), ("PER", "a")]) == ["B-PER", "O", "B-PER"]
    assert ner.parse_entities("Person: Ann\nLOCATION - Paris\n[ORG] UN\nnone", {"PER", "LOC", "ORG"}) == [
        ("PER", "Ann"), ("LOC", "Paris"), ("ORG", "UN")]


# ---------------------------------------------------------------- off-target


@pytest.mark.realdata
def test_offtarget_reads_dolly_and_bactrian_layouts_and_judges_language(tmp_path):
    root = tmp_path / "offtarget"
    root.mkdir()
    shutil.copy(os.path.join(SHARED_EVAL, "dolly", "databricks-dolly-15k.head10.jsonl"),
                root / "databricks-dolly-15k.jsonl")
    (root / "ja.json").write_text(json.dumps([
        {"instruction": "猫について教えて。", "input": "", "id": "1", "output": "猫は動物です。"},
        {"instruction": "要約して。", "input": "長い文章。", "id": "2", "output": "短い。"},
    ], ensure_ascii=False), encoding="utf-8")
    write_jsonl(root / "mixed.jsonl",
                [{"instruction": "เล่าเรื่องแมว", "lang": "th"}, {"instruction": "Hi", "lang": "en"}])
    c = ctx()
    en = offtarget.load(str(tmp_path), unit(offtarget, "en"), c)
    assert len(en) == 10 and en[0]["input"].startswith("Virgin Australia")  # Dolly context
    ja = offtarget.load(str(tmp_path), unit(offtarget, "ja"), c)
    reqs = offtarget.requests(ja, [], unit(offtarget, "ja"), c)
    assert reqs[0]["prefix"] == "猫について教えて。" and reqs[0]["body"] == ""
    assert (reqs[1]["prefix"], reqs[1]["body"]) == ("要約して。\n\n", "長い文章。")
    th = offtarget.load(str(tmp_path), unit(offtarget, "th"), c)
    assert [i["instruction"] for i in th] == ["เล่าเรื่องแมว"]
    preds = {ja[0]["item_id"]: {"prediction": "猫はかわいい動物です。"},
             ja[1]["item_id"]: {"prediction": "This is an English answer."}}
    s = offtarget.score(ja, preds, unit(offtarget, "ja"), c)
    assert s["metrics"]["rate"] == 50.0 and s["info"]["judged"] == 2
    # never all languages
    assert "ko" not in s["info"]["langid_candidates"] and len(s["info"]["langid_candidates"]) < 12
    blank = offtarget.score(ja, {ja[0]["item_id"]: {"prediction": "123"}}, unit(offtarget, "ja"), c)
    assert blank["metrics"]["rate"] is None and blank["info"]["unjudged"] == 2


# ---------------------------------------------------------------- prompt fitting (inference without a model)


class WordTokenizer:
    chat_template = None
    eos_token = "</s>"
    pad_token_id = 0

    def __call__(self, text, add_special_tokens=False):
        return ({"input_ids": [len(w) for w in text.split()]} if not hasattr(self, "keep")
                else {"input_ids": text.split()})

    def decode(self, ids, **_):
        return " ".join(ids)


class EchoEngine:
    name = "echo"

    def __init__(self):
        self.tokenizer = WordTokenizer()
        self.tokenizer.keep = True
        self.prompts = []

    def generate(self, prompts, sampling, seeds=None):
        self.prompts += prompts
        return [GenerationResult("ok", len(p.split()), 1, "stop") for p in prompts]


class ConstScorer:
    pad_id = 0

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.seen = []

    def loglik(self, prompt_ids, option_ids):
        self.seen.append((prompt_ids, option_ids))
        return [[-1.0] * len(o) for o in option_ids]

    def hidden(self, seqs):
        return [np.ones(3, dtype=np.float32) * len(s) for s in seqs]


def test_inference_truncates_the_body_and_answers_every_kind(monkeypatch):
    engine = EchoEngine()
    scorer = ConstScorer(engine.tokenizer)
    monkeypatch.setattr(inference, "build_engine", lambda *a, **k: engine)
    monkeypatch.setattr(inference, "build_scorer", lambda *a, **k: scorer)
    monkeypatch.setattr(inference, "model_max_positions", lambda *a, **k: 40)
    worker = inference.EvalInference(engine="hf", model_path="m", max_prompt_tokens=1000)
    article = " ".join(f"w{i}" for i in range(100))
    rows = [
        dict(common.request("a", "generate", prefix="Summarize:\n", body=article, suffix="\nEnd.", max_new_tokens=10),
             req_id="r1"),
        dict(common.request("b", "loglik", prefix="P: ", body=article, suffix="\nAnswer:", options=["A", "B"]),
             req_id="r2"),
        dict(common.request("c", "hidden", body="one two three", raw=True), req_id="r3"),
    ]
    batch = {f.name: np.array([r[f.name] for r in rows], dtype=object) for f in inference.REQUEST_SCHEMA}
    out = {r["req_id"]: r for r in worker(batch).to_pylist()}
    prompt = engine.prompts[0]
    flat = " ".join(prompt.split())
    assert (len(prompt.split()) <= 30 and flat.startswith("Question: Summarize: w0 w1")
            and flat.endswith("w25 End. Answer:"))
    assert out["r1"]["truncated"] and out["r1"]["prediction"] == "ok"
    (prompt_ids, option_ids), = scorer.seen
    assert len(prompt_ids[0]) <= 40 - 2 and option_ids[0] == [["A"], ["B"]]  # the "Answer:" cue is kept
    assert prompt_ids[0][-1] == "Answer:" and out["r2"]["option_logprobs"] == [-1.0, -1.0]
    assert out["r3"]["vector"] == [3.0, 3.0, 3.0] and not out["r3"]["truncated"]


def test_vllm_runs_generation_then_an_hf_scoring_pass():
    assert inference.passes("hf", {"generate", "loglik", "hidden"}) == [("hf", ("generate", "hidden", "loglik"))]
    assert inference.passes("vllm", {"generate", "loglik"}) == [("vllm", ("generate",)), ("hf", ("loglik",))]
    assert inference.passes("vllm", {"hidden"}) == [("hf", ("hidden",))]
