"""Metric code against known values: sacreBLEU's and seqeval's documented examples, the official MKQA
test cases, rouge_score's documented example, hand-computed cases, and the paper's own Table 6 arithmetic."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sdrrl_ray.evaluation.metrics import aggregate, alignment, bleu, mkqa, ner, rouge
from sdrrl_ray.evaluation.metrics.text import tokenize
from tests.conftest import ROOT

# ---------------------------------------------------------------- sacreBLEU


SACREBLEU_REFS = [
    ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
    ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
]
SACREBLEU_SYS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]


def test_sacrebleu_documented_example_through_our_wrapper():
    s = bleu.corpus_scores(SACREBLEU_SYS, SACREBLEU_REFS, "en", tokenize="13a", allow_download=False)
    assert round(s["bleu"], 2) == 48.53  # sacreBLEU README: BLEU = 48.53 82.4/50.0/45.5/37.5
    assert s["bleu_signature"] == "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
    assert s["bleu_note"] == ""
    from sacrebleu.metrics import CHRF

    assert round(CHRF().corpus_score(SACREBLEU_SYS, SACREBLEU_REFS).score, 2) == 59.73  # README: chrF2 = 59.73
    assert round(s["chrf++"], 2) == 59.15 and "nw:2" in s["chrf_signature"]  # chrF++ (word_order=2)


def test_bleu_identical_and_disjoint_corpora():
    same = bleu.corpus_scores(["猫は椅子の上で寝ています。"], ["猫は椅子の上で寝ています。"], "ja",
                              allow_download=False)
    assert same["bleu"] == pytest.approx(100) and same["chrf++"] == pytest.approx(100)
    none = bleu.corpus_scores(["qqq zzz"], ["The cat sleeps on the chair."], "en", allow_download=False)
    assert none["bleu"] == 0 and none["chrf++"] == 0


def test_bleu_fallback_when_flores200_model_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(bleu, "spm_model_path", lambda name="flores200": str(tmp_path / "absent"))
    monkeypatch.setattr(bleu, "_CHOICES", {})
    ja = bleu.choose_tokenizer("flores200", "auto", "ja", allow_download=False)
    en = bleu.choose_tokenizer("flores200", "auto", "en", allow_download=False)
    th = bleu.choose_tokenizer("flores200", "13a", "th", allow_download=False)
    assert (ja.tokenize, en.tokenize, th.tokenize) == ("char", "13a", "13a")
    assert "eval.bleu_download=false" in ja.note
    mecab = bleu.choose_tokenizer("ja-mecab", "auto", "ja", allow_download=False)  # sacrebleu[ja] is not installed
    assert mecab.tokenize == "char" and "ja-mecab" in mecab.note
    s = bleu.corpus_scores(["猫が好き"], ["猫が好きです"], "ja", allow_download=False)
    assert "tok:char" in s["bleu_signature"] and s["bleu_note"]


SPM_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import sentencepiece as spm
    from sdrrl_ray.evaluation.metrics import bleu
    from sacrebleu.metrics import BLEU
    hyp = ["猫は椅子で寝ています。", "The cat sleeps on a chair."]
    ref = ["猫は椅子の上で寝ています。", "The cat is sleeping on the chair."]
    s = bleu.corpus_scores(hyp, ref, "ja", tokenize="flores200", allow_download=False)
    sp = spm.SentencePieceProcessor(model_file=bleu.spm_model_path("flores200"))
    pieces = lambda xs: [" ".join(sp.encode(x, out_type=str)) for x in xs]
    by_hand = BLEU(tokenize="none").corpus_score(pieces(hyp), [pieces(ref)]).score
    print(json.dumps(dict(s, by_hand=by_hand, path=bleu.spm_model_path("flores200"))))
    """
)


@pytest.mark.timeout(120)
def test_flores200_tokenizer_runs_with_a_local_model_in_sacrebleu_cache(tmp_path):
    """The paper's tok:flores200 path, for real: sacreBLEU loads a SentencePiece model from $SACREBLEU/models.

    The model is trained here on the demo data (the real one is a download); $SACREBLEU is read when
    sacrebleu is first imported, so the check runs in a subprocess with its own cache folder.
    """
    import json

    import sentencepiece as spm

    corpus = tmp_path / "corpus.txt"
    lines = []
    for name in ("eng_Latn", "jpn_Jpan", "tha_Thai"):
        path = os.path.join(ROOT, "sdrrl_ray", "demo", "eval_data", "flores", "flores200_dataset", "devtest",
                            f"{name}.devtest")
        lines += open(path, encoding="utf-8").read().splitlines()
    corpus.write_text("\n".join(lines * 3), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(tmp_path / "m"), vocab_size=200,
                                   hard_vocab_limit=False, character_coverage=1.0, minloglevel=2)
    cache = tmp_path / "sacrebleu"
    (cache / "models").mkdir(parents=True)
    shutil.copy(tmp_path / "m.model", cache / "models" / "flores200sacrebleuspm")  # where sacreBLEU looks
    env = dict(os.environ, SACREBLEU=str(cache))
    proc = subprocess.run([sys.executable, "-c", SPM_SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=100)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["path"] == str(cache / "models" / "flores200sacrebleuspm")
    assert out["bleu_tokenize"] == "flores200" and out["bleu_note"] == ""
    assert "tok:flores200" in out["bleu_signature"]
    assert out["bleu"] == pytest.approx(out["by_hand"]) and 0 < out["bleu"] < 100
    assert not os.listdir(cache / "models") == ["flores200sacrebleuspm.lock"]


# ---------------------------------------------------------------- seqeval


def test_seqeval_documented_example():
    y_true = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    y_pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    s = ner.entity_scores(y_true, y_pred)
    assert s == {"f1": 0.5, "precision": 0.5, "recall": 0.5}  # seqeval README: f1_score -> 0.50
    assert ner.spans(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]


# ---------------------------------------------------------------- MKQA (official test cases)


@pytest.mark.parametrize(
    "pred,golds,lang,f1,em",
    [
        ("first dummy answer", ["first dummy answer", "second dummy answer"], "en", 1.0, 1.0),
        ("alternative answer", ["dummy answer one", "alternative answer two"], "en", 0.8, 0.0),
        ("an answer ?? without stopwords", ["answer -- without, stopwords!!"], "en", 1.0, 1.0),
        ("", [""], "en", 1.0, 1.0),
        ("", ["first dummy answer", "second dummy answer"], "en", 0.0, 0.0),
        ("esto es manzana", ["esto es una manzana", "esta es otra manzana"], "es", 1.0, 1.0),
        ("c'est de la pomme", ["c'est la pomme", "c'est une autre pomme"], "fr", 1.0, 1.0),
        ("ez egy alma", ["ez alma", "ez egy újabb alma"], "hu", 1.0, 1.0),
        ("这个一个苹果", ["这是还是苹果", "这是另一个苹果"], "zh_cn", 0.7692307692307692, 0.0),
        ("នេះគឺជាផ្លែប៉ោម", ["នេះគឺជាផ្លែប៉ោមមួយទៀត"], "km", 0.8333333333333333, 0.0),
        # hand-computed: ja is character-segmented; 2 of 4 predicted characters match both gold ones
        ("東京です", ["東京"], "ja", 2 / 3, 0.0),
    ],
)
def test_mkqa_official_cases(pred, golds, lang, f1, em):
    assert mkqa.best_f1(pred, golds, lang) == pytest.approx(f1)
    assert mkqa.best_em(pred, golds, lang) == em


def test_mkqa_gold_answers_and_unanswerable():
    rec = {"answers": {"en": [{"type": "entity", "text": "Ridley Scott", "aliases": ["Sir Ridley Scott"]}],
                       "ja": [{"type": "unanswerable", "text": None}]}}
    assert mkqa.gold_answers(rec, "en") == ["Ridley Scott", "Sir Ridley Scott"]
    assert mkqa.gold_answers(rec, "ja") is None and mkqa.gold_answers(rec, "th") is None
    assert mkqa.normalize_answer("The  Pacific Ocean!", "en") == "pacific ocean"
    assert mkqa.normalize_answer("ฮาฟธอร์ ยู", "th") == "ฮ า ฟ ธ อ ร ์ ย ู"


# ---------------------------------------------------------------- ROUGE


def test_tokenizer_spaced_and_unspaced_scripts():
    assert tokenize("The quick, brown fox!") == ["the", "quick", "brown", "fox"]
    assert tokenize("猫が好き。Tokyo") == ["猫", "が", "好", "き", "tokyo"]
    assert tokenize("ไม้ แมวดำ") == ["ไ", "ม้", "แ", "ม", "ว", "ด", "ำ"]  # tone mark stays with its consonant
    assert tokenize("Привет, мир 42") == ["привет", "мир", "42"]
    assert tokenize("서울은 크다") == ["서울은", "크다"]


def test_rouge_documented_example():
    # rouge_score README: score('The quick brown fox jumps over the lazy dog', 'The quick brown dog jumps on the log.')
    s = rouge.rouge_scores("The quick brown dog jumps on the log.", "The quick brown fox jumps over the lazy dog")
    assert s["rouge1"] == pytest.approx(2 * 0.75 * (6 / 9) / (0.75 + 6 / 9))  # P 0.75, R 0.6667, F 0.70588
    assert s["rouge1"] == pytest.approx(0.70588, abs=1e-5)
    assert s["rougeL"] == pytest.approx(0.58824, abs=1e-5)  # LCS 5: P 0.625, R 0.5556


def test_rouge_hand_computed_unspaced():
    ja = rouge.rouge_scores("猫が好き", "猫が大好きです")  # 4 of 4 predicted chars in the 7-char reference, in order
    assert ja["rouge1"] == pytest.approx(8 / 11) and ja["rougeL"] == pytest.approx(8 / 11)
    th = rouge.rouge_scores("แมวดำ", "แมวขาว")  # 3 shared of 5 predicted / 6 reference tokens
    assert th["rouge1"] == pytest.approx(2 * 0.6 * 0.5 / 1.1) and th["rougeL"] == pytest.approx(2 * 0.6 * 0.5 / 1.1)
    swapped = rouge.rouge_scores("b a", "a b")
    assert swapped["rouge1"] == 1.0 and swapped["rougeL"] == 0.5
    assert rouge.rouge_scores("", "a b") == {"rouge1": 0.0, "rougeL": 0.0}


# ---------------------------------------------------------------- alignment


def test_alignment_scores_hand_cases():
    x = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    s = alignment.alignment_scores(x, x * 2)
    assert s["cosine"] == pytest.approx(1.0) and s["cosine_random"] == pytest.approx(0.0) and s["top1"] == 1.0
    shifted = alignment.alignment_scores(x, np.roll(x, 1, axis=0))
    assert shifted["top1"] == 0.0 and shifted["cosine"] == pytest.approx(0.0)
    px, py = alignment.pca_2d(x, x + 0.01)
    assert px.shape == (3, 2) and py.shape == (3, 2)


# ---------------------------------------------------------------- the paper's Table 6 arithmetic

# Per-language numbers of the full method (SDRRL, LLaMA-2-7B), transcribed in paper-spec (Tables 2-5).
LANGS14 = ["cs", "da", "uk", "bg", "fi", "hu", "nb", "id", "ja", "ko", "pt", "sl", "vi", "pl"]
BELEBELE_T = [52.11, 55.00, 48.33, 54.00, 49.56, 46.44, 53.89, 52.40, 45.81, 46.82, 57.88, 47.26, 48.38, 50.17]
BELEBELE_E = [66.26, 65.70, 67.15, 66.53, 65.92, 66.70, 66.59, 67.15, 65.13, 65.45, 66.48, 66.59, 65.57, 66.82]
FLORES_XEN = [36.38, 45.71, 35.33, 37.49, 30.80, 31.62, 40.88, 30.93, 15.42, 12.20, 39.81, 21.15, 28.68, 22.52]
FLORES_ENX = [27.91, 39.00, 27.25, 33.93, 20.88, 22.09, 29.64, 35.32, 20.51, 20.47, 43.36, 30.09, 29.87, 27.86]
XLSUM_LANGS = ["id", "ja", "ko", "pt", "vi", "uk"]
XLSUM_RL_T = [20.47, 22.81, 7.35, 19.09, 15.52, 11.84]
XLSUM_RL_E = [20.25, 19.88, 19.56, 19.69, 19.66, 19.44]
MKQA_LANGS = ["nb", "da", "fi", "hu", "ja", "ko", "pt", "vi", "pl"]
MKQA_T = [40.64, 40.92, 39.71, 39.02, 39.51, 34.06, 41.12, 40.02, 39.45]
MKQA_E = [45.42, 45.33, 45.47, 44.78, 43.26, 43.58, 43.99, 45.77, 44.71]


def r2(value: float) -> float:
    """As the paper prints: half-up to 2 decimals (BELEBELE target: 708.05 / 14 = 50.575 -> 50.58)."""
    from sdrrl_ray.evaluation.report import rounded

    return float(rounded(value, 2))


def test_table6_full_method_row_from_tables_3_to_5():
    row = aggregate.table6_row(dict(
        belebele_target=BELEBELE_T, belebele_english=BELEBELE_E, flores_enx=FLORES_ENX, flores_xen=FLORES_XEN,
        xlsum_rl_target=XLSUM_RL_T, xlsum_rl_english=XLSUM_RL_E, mkqa_target=MKQA_T, mkqa_english=MKQA_E,
    ))
    assert r2(row["nlu_target"]) == 50.58 and r2(row["nlu_english"]) == 66.29
    assert r2(row["nlg_target"]) == 28.24 and r2(row["nlg_english"]) == 31.69
    # each benchmark is averaged over its own languages first; averaging the 29 numbers together would not do
    assert r2(sum(FLORES_ENX + XLSUM_RL_T + MKQA_T) / 29) != 28.24


def test_report_aggregates_reproduce_table6_from_per_language_results():
    """The report's own path (tables per benchmark -> AVG -> NLU/NLG) on the paper's per-target runs."""
    from sdrrl_ray.config import Config, EvalConfig, LanguagesConfig
    from sdrrl_ray.evaluation import report
    from sdrrl_ray.evaluation.run import ModelEntry

    entries = [ModelEntry("sdrrl", f"/m/{t}", t) for t in LANGS14]
    results = []

    def add(task, unit, lang, metric, value):
        results.append(dict(model="sdrrl", model_target=lang, model_key=f"sdrrl-{lang}", task=task, unit=unit,
                            metric=metric, value=value))

    for t, vt, ve, xen, enx in zip(LANGS14, BELEBELE_T, BELEBELE_E, FLORES_XEN, FLORES_ENX):
        add("belebele", t, t, "acc", vt)
        add("belebele", "en", t, "acc", ve)
        add("flores", f"en-{t}", t, "bleu", enx)
        add("flores", f"{t}-en", t, "bleu", xen)
    for t, vt, ve in zip(XLSUM_LANGS, XLSUM_RL_T, XLSUM_RL_E):
        add("xlsum", t, t, "rougeL", vt)
        add("xlsum", "en", t, "rougeL", ve)
    for t, vt, ve in zip(MKQA_LANGS, MKQA_T, MKQA_E):
        add("mkqa", t, t, "f1", vt)
        add("mkqa", "en", t, "f1", ve)
    # built directly: load_config's check rejects targets that a configured eval task does not cover
    cfg = Config(languages=LanguagesConfig(targets=tuple(LANGS14)),
                 eval=EvalConfig(tasks=("belebele", "flores", "xlsum", "mkqa")))
    rep = report.build(cfg, entries, ["belebele", "flores", "xlsum", "mkqa"], LANGS14, results, {}, None, "sdrrl", [],
                       seconds=0, data_dir="")
    (row,) = rep["aggregates"]["rows"]
    assert ([r2(row[k]) for k in ("nlu_target", "nlu_english", "nlg_target", "nlg_english")]
            == [50.58, 66.29, 28.24, 31.69])
    xlsum = next(t for t in rep["tables"] if t["task"] == "xlsum" and t["metric"] == "rougeL" and t["side"] == "target")
    assert xlsum["columns"] == ["uk", "id", "ja", "ko", "pt", "vi"]  # the 6 XL-SUM languages, in config order
    md = report.to_markdown(rep)
    assert "| sdrrl | 50.58 | 66.29 | 28.24 | 31.69 |" in md


def test_a_short_mkqa_answer_seen_in_training_is_not_contamination():
    from sdrrl_ray.evaluation import contamination

    item = {"question": "Poyaki has an orange pencil. Kikabu has a purple car. What does Poyaki have?",
            "answers": ["an orange pencil"]}
    assert contamination.item_texts("mkqa", item) == [item["question"]]
