"""The report's statistics: known values of the intervals and tests, determinism, and the report's shape."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re

import numpy as np
import pytest

from sdrrl_ray.config import load_config
from sdrrl_ray.evaluation import inference, run, stats
from sdrrl_ray.evaluation.metrics.bleu import corpus_scores
from sdrrl_ray.evaluation.metrics.ner import entity_counts, entity_scores, from_counts

# ---------------------------------------------------------------- closed forms


def test_wilson_interval_of_4_in_10():
    lo, hi = stats.wilson(4, 10)
    assert [round(100 * lo, 1), round(100 * hi, 1)] == [16.8, 68.7]
    assert stats.wilson(0, 10)[0] == 0.0 and stats.wilson(10, 10)[1] == 1.0
    sample = stats.binary([f"q{i}" for i in range(10)], [1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    lo, hi, method = stats.interval(sample, stats.Bootstrap())
    assert method == "wilson" and (round(lo, 1), round(hi, 1)) == (16.8, 68.7) and sample.score() == 40.0


def test_exact_mcnemar_known_values():
    assert stats.mcnemar_exact(2, 0) == 0.5
    assert stats.mcnemar_exact(0, 2) == 0.5
    assert stats.mcnemar_exact(0, 0) == 1.0
    assert stats.mcnemar_exact(10, 0) == pytest.approx(2 / 2 ** 10)
    assert stats.mcnemar_exact(7, 1) == pytest.approx(0.0703125)  # 2 * (1 + 8) / 256
    ids = ["a", "b", "c", "d", "e"]
    a = stats.binary(ids, [1, 1, 1, 0, 1])  # right on a, b where b is wrong; concordant elsewhere
    b = stats.binary(ids, [0, 0, 1, 0, 1])
    assert stats.mcnemar(a, b) == 0.5
    p, test = stats.paired_test(a, b, stats.Bootstrap())
    assert (p, test) == (0.5, "mcnemar")


def test_mcnemar_matches_scipy_binomial_test_when_installed():
    scipy_stats = pytest.importorskip("scipy.stats")
    for b, c in [(3, 9), (12, 4), (0, 6), (25, 31), (100, 70)]:
        assert stats.mcnemar_exact(b, c) == pytest.approx(scipy_stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)


def test_minimum_detectable_difference_two_proportion_formula():
    z = 1.959963984540054 + 0.8416212335729143
    assert stats.mde_rate(0.5, 100) == pytest.approx(z * math.sqrt(2 * 0.25 / 100))
    assert stats.mde_rate(0.0, 100) == stats.mde_rate(0.5, 100)  # a degenerate rate falls back to 0.5
    base = stats.binary(range(900), [i % 4 == 0 for i in range(900)])  # 25% of 900
    assert stats.mde(base, stats.Bootstrap()) == pytest.approx(100 * z * math.sqrt(2 * 0.25 * 0.75 / 900))


def test_weighted_wilson_is_the_pooled_interval_for_equal_languages():
    ja = stats.binary([f"j{i}" for i in range(10)], [1] * 4 + [0] * 6)
    th = stats.binary([f"t{i}" for i in range(10)], [1] * 6 + [0] * 4)
    lo, hi = stats.weighted_wilson([(0.5, ja), (0.5, th)])
    assert (lo, hi) == pytest.approx(tuple(100 * x for x in stats.wilson(10, 20)))
    # one sample in every column (the English run shared by the columns) is that sample's own interval
    assert stats.weighted_wilson([(0.5, ja), (0.5, ja)]) == pytest.approx(tuple(100 * x for x in stats.wilson(4, 10)))


# ---------------------------------------------------------------- bootstrap

WORDS = "the a cat dog sat on mat house big small red blue runs jumps quickly slowly over under".split()


def _flores_like(n: int, keep: float, seed: int):
    rnd = random.Random(seed)
    refs = [" ".join(rnd.choice(WORDS) for _ in range(12)) for _ in range(n)]
    hyps = [" ".join(w if rnd.random() < keep else rnd.choice(WORDS) for w in r.split()) for r in refs]
    return hyps, refs


def _bleu_sample(hyps, refs):
    s = corpus_scores(hyps, refs, "en", tokenize="13a", allow_download=False, segments=True)
    ids = [str(i) for i in range(len(hyps))]
    return s, stats.corpus(ids, s["bleu_stats"], s["bleu_scorer"]), stats.corpus(ids, s["chrf_stats"], s["chrf_scorer"])


def test_bootstrap_resamples_with_the_reports_own_scorer():
    hyps, refs = _flores_like(60, 0.6, 1)
    s, bleu, chrf = _bleu_sample(hyps, refs)
    assert bleu.score() == pytest.approx(s["bleu"], abs=1e-9) and chrf.score() == pytest.approx(s["chrf++"], abs=1e-9)
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"], ["B-LOC", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["O", "B-ORG"], ["B-PER", "O"]]
    counts = [entity_counts(g, p) for g, p in zip(gold, pred)]
    ner = stats.corpus(["s0", "s1", "s2"], counts, lambda c: 100 * from_counts(c)["f1"])
    assert ner.score() == pytest.approx(100 * entity_scores(gold, pred)["f1"])


def test_bootstrap_interval_contains_the_estimate_and_is_deterministic():
    hyps, refs = _flores_like(80, 0.6, 2)
    _, bleu, chrf = _bleu_sample(hyps, refs)
    rouge = stats.means([f"x{i}" for i in range(80)], np.linspace(0, 1, 80) ** 2)
    for sample in (bleu, chrf, rouge):
        lo, hi = stats.Bootstrap(seed=7).ci(sample, ("flores", "en-ja"))
        assert lo <= sample.score() <= hi and lo < hi
        assert stats.Bootstrap(seed=7).ci(sample, ("flores", "en-ja")) == (lo, hi)  # a fresh instance, same numbers
        assert stats.Bootstrap(seed=8).ci(sample, ("flores", "en-ja")) != (lo, hi)
        low, high, method = stats.interval(sample, stats.Bootstrap())
        assert method == "bootstrap" and low <= sample.score() <= high


def test_a_system_against_itself_has_p_one():
    hyps, refs = _flores_like(50, 0.5, 3)
    _, bleu, _ = _bleu_sample(hyps, refs)
    _, same_bleu, _ = _bleu_sample(hyps, refs)  # the same predictions, scored again
    boot = stats.Bootstrap()
    assert boot.paired_p(bleu, bleu) == 1.0 and boot.paired_p(same_bleu, bleu) == 1.0
    acc = stats.binary(range(30), [i % 3 == 0 for i in range(30)])
    assert stats.mcnemar(acc, acc) == 1.0 and stats.paired_test(acc, acc, boot)[0] == 1.0
    f1 = stats.means(range(30), [i / 30 for i in range(30)])
    assert stats.paired_test(f1, f1, boot) == (1.0, "paired bootstrap")


def test_paired_bootstrap_tells_a_real_difference_from_noise():
    hyps, refs = _flores_like(200, 0.5, 4)
    better = [r if i % 2 else h for i, (h, r) in enumerate(zip(hyps, refs))]  # half the sentences exactly right
    _, weak, _ = _bleu_sample(hyps, refs)
    _, strong, _ = _bleu_sample(better, refs)
    boot = stats.Bootstrap()
    assert strong.score() > weak.score() + 10 and boot.paired_p(strong, weak) < 0.01
    noisy = list(hyps)
    noisy[0] = refs[0]  # one sentence better
    _, slightly, _ = _bleu_sample(noisy, refs)
    assert boot.paired_p(slightly, weak) > 0.05
    # two items, both better by the same amount: the bootstrap has no spread, the p-value stays at 2 / 2**2
    assert boot.paired_p(stats.means("ab", [1, 1]), stats.means("ab", [0.5, 0.5])) == 0.5
    # only the items both models answered are compared
    part = stats.means(["a", "b", "c"], [1, 0, 1])
    full = stats.means(["b", "c", "d", "e"], [0, 1, 0, 0])
    assert stats.common_ids([part, full]) == ["b", "c"] and boot.paired_p(part, full) == 1.0


# ---------------------------------------------------------------- the report of a fake evaluation


class FakeInference:
    """Test-only stand-in for ``inference.run_inference``: answers depend on the prompt and on the model path, so two
    models answer differently; NER answers never name an entity (its F1 is 0 for every model)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, requests, *, cfg, model_path, callable_cls, on_output=None):
        self.calls += 1
        out = {}
        for r in requests:
            h = hashlib.sha256((model_path + r["prefix"] + r["body"] + r["suffix"]).encode()).digest()
            o = dict(req_id=r["req_id"], truncated=False, n_prompt_tokens=3)
            if r["kind"] == "generate":
                text = r["body"].split(".")[0] if h[2] % 2 else "ABCD"[h[0] % 4] + " answer " + str(h[1])
                o.update(prediction=text, n_output_tokens=3, finish_reason="stop")
            elif r["kind"] == "loglik":
                o["option_logprobs"] = [-(h[k] / 16.0) for k in range(len(json.loads(r["options"])))]
            else:
                o["vector"] = [h[k] / 255.0 for k in range(8)]
            out[r["req_id"]] = o
            if on_output is not None:
                on_output(r["req_id"], o)
        return out


def _model(path):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as fh:
        json.dump({"model_type": "llama"}, fh)
    return str(path)


def test_report_rows_carry_n_interval_and_p_value(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    drawn = {}
    save = Figure.savefig

    def keep(fig, path, *a, **k):
        drawn[os.path.basename(str(path))] = fig
        return save(fig, path, *a, **k)

    monkeypatch.setattr(Figure, "savefig", keep)
    monkeypatch.setattr("sdrrl_ray.runtime.init_ray", lambda cfg: None)
    monkeypatch.setattr(inference, "run_inference", FakeInference())
    out = tmp_path / "out"
    cfg = load_config(None, [f"out_dir={out}", "languages.targets=[ja,th]",
                             f"eval.models={{base: {_model(tmp_path / 'b')}, sdrrl: {_model(tmp_path / 's')}}}",
                             "eval.tasks=[belebele,flores,xlsum,mkqa,ner]", "eval.bleu_download=false",
                             "eval.contamination=false", "data.path="])
    rep = run.run_eval(cfg)
    saved = json.loads((out / "report.json").read_text())
    assert saved["results"] and saved["tables"] == rep["tables"]
    for row in saved["results"]:
        assert {"n", "ci_low", "ci_high", "p_value"} <= set(row), row
        if row["value"] is None or row["ci_low"] is None:
            continue
        assert row["n"] > 0 and row["ci_low"] - 1e-9 <= row["value"] <= row["ci_high"] + 1e-9, row
        if row["model"] == "base":
            assert row["p_value"] is None
        else:
            assert 0 < row["p_value"] <= 1 and row["p_test"] in ("mcnemar", "paired bootstrap"), row
    tests = {(r["task"], r["metric"]): r["p_test"] for r in saved["results"] if r["p_test"]}
    assert tests[("belebele", "acc")] == "mcnemar" and tests[("mkqa", "em")] == "mcnemar"
    assert tests[("flores", "bleu")] == tests[("xlsum", "rougeL")] == tests[("mkqa", "f1")] == "paired bootstrap"
    intervals = {(r["task"], r["metric"]): r["ci_method"] for r in saved["results"] if r["ci_method"]}
    assert intervals[("belebele", "acc")] == "wilson" and intervals[("flores", "chrf++")] == "bootstrap"
    for t in saved["tables"]:
        for r in t["rows"]:
            assert set(r["n"]) == set(r["ci_low"]) == set(r["ci_high"]) == set(r["p_value"]) == set(t["columns"])
            assert "avg_ci_low" in r and "p_value_avg" in r
    by_title = {t["title"]: t for t in saved["tables"]}
    bele = by_title["BELEBELE accuracy, target language"]
    assert bele["chance"] == 25.0 and all(v is not None for v in bele["mde"].values())
    assert saved["aggregates"]["chance"] == {"nlu_target": 25.0, "nlu_english": 25.0}
    ner = by_title["NER (WikiANN) entity F1, target language"]
    note = "NER (WikiANN) entity F1 (target language) is 0.00 for every model"
    assert ner["all_zero"] and note in saved["zero_metrics"]

    md = (out / "report.md").read_text()
    assert "Chance level (a random answer): 25.00." in md
    assert "NER (WikiANN) entity F1 (target language) is 0.00 for every model." in md
    assert md.count("Smallest difference to base that this n detects") >= len(saved["tables"]) - 4
    assert "`ns`: not significant at 0.05" in md and "## Statistics" in md and "exact McNemar" in md
    # the sdrrl cell of Japanese BELEBELE: value [interval] (delta, ns when p >= 0.05) n=items
    sdrrl = next(r for r in bele["rows"] if r["model"] == "sdrrl")
    line = next(x for x in md.split("### BELEBELE accuracy, target language")[1].splitlines()
                if x.startswith("| sdrrl |"))
    cell = line.split(" | ")[1]
    assert cell.startswith(f"{sdrrl['values']['ja']:.2f} [{sdrrl['ci_low']['ja']:.2f}, {sdrrl['ci_high']['ja']:.2f}]")
    assert cell.endswith(f" n={sdrrl['n']['ja']}")
    if round(sdrrl["delta"]["ja"], 2) != 0:
        assert re.search(r"\([+-]\d+\.\d\d( ns)?\)", cell)
        assert (" ns)" in cell) == (sdrrl["p_value"]["ja"] >= 0.05)
    # plots: the chance level as a dashed line, the all-zero panel as a sentence
    chance_lines = [ln for ax in drawn["belebele.png"].axes for ln in ax.lines if ln.get_linestyle() == "--"]
    assert chance_lines and all(list(ln.get_ydata()) == [25.0, 25.0] for ln in chance_lines)
    ner_axes = drawn["ner.png"].axes
    assert any("0.00 for every model" in t.get_text() for ax in ner_axes for t in ax.texts)
    assert all(not ax.patches for ax in ner_axes)  # no empty bars

    # the same predictions scored again give the same statistics (fixed seed)
    again = run.run_eval(cfg, score_only=True)
    assert [t["rows"] for t in again["tables"]] == [t["rows"] for t in rep["tables"]]
