"""Expansion into LL / TL / LT / TT variants."""

from __future__ import annotations

import numpy as np
import pytest

from sdrrl_ray.stages.variants import (
    ANSWER_REJECTED,
    BOTH_REJECTED,
    QUESTION_REJECTED,
    VARIANTS,
    count_drops,
    expand_variants,
)


def _batch(flags, tgt="ja"):
    """One row per (question_ok, answer_ok) flag pair."""
    n = len(flags)
    return {
        "item_id": [f"it{i}" for i in range(n)],
        "tgt_lang": [tgt] * n,
        "src_lang": ["en"] * n,
        "answer_source": ["gold" if i % 2 else "self" for i in range(n)],
        "question_src": [f"Q{i} en" for i in range(n)],
        "answer_src": [f"A{i} en" for i in range(n)],
        "question_tgt": [f"Q{i} {tgt}" if q else None for i, (q, _) in enumerate(flags)],
        "answer_tgt": [f"A{i} {tgt}" if a else None for i, (_, a) in enumerate(flags)],
        "question_ok": [q for q, _ in flags],
        "answer_ok": [a for _, a in flags],
    }


def _by_subset(out):
    return {s: i for i, s in enumerate(out["subset"])}


def test_all_four_when_both_translations_passed():
    out = expand_variants(_batch([(True, True)]), source_lang="en")
    assert out["subset"] == list(VARIANTS)
    assert out["id"] == ["it0:ja:LL", "it0:ja:TL", "it0:ja:LT", "it0:ja:TT"]
    assert out["question"] == ["Q0 en", "Q0 ja", "Q0 en", "Q0 ja"]
    assert out["answer"] == ["A0 en", "A0 en", "A0 ja", "A0 ja"]
    assert out["question_lang"] == ["en", "ja", "en", "ja"]
    assert out["answer_lang"] == ["en", "en", "ja", "ja"]
    assert out["src_lang"] == ["en"] * 4 and out["tgt_lang"] == ["ja"] * 4
    assert out["item_id"] == ["it0"] * 4 and out["answer_source"] == ["self"] * 4


def test_failed_answer_keeps_ll_and_tl_failed_question_keeps_ll_and_lt():
    out = expand_variants(_batch([(True, False), (False, True), (False, False)]), source_lang="en")
    assert out["id"] == ["it0:ja:LL", "it0:ja:TL", "it1:ja:LL", "it1:ja:LT", "it2:ja:LL"]
    assert all(q is not None and a is not None for q, a in zip(out["question"], out["answer"]))


def test_answers_equal_across_ll_tl_and_across_lt_tt():
    out = expand_variants(_batch([(True, True)] * 5), source_lang="en")
    for item in range(5):
        rows = {s: (q, a) for s, q, a, i in zip(out["subset"], out["question"], out["answer"], out["item_id"])
                if i == f"it{item}"}
        assert rows["LL"][1] == rows["TL"][1] and rows["LT"][1] == rows["TT"][1]
        assert rows["LL"][0] == rows["LT"][0] and rows["TL"][0] == rows["TT"][0]
        assert rows["LL"][1] != rows["LT"][1]


def test_subset_selection_is_honoured():
    batch = _batch([(True, True), (True, False)])
    out = expand_variants(batch, subsets=("LL", "TT"), source_lang="en")
    assert out["id"] == ["it0:ja:LL", "it0:ja:TT", "it1:ja:LL"]
    out = expand_variants(batch, subsets=("TT", "LL", "mt", "comp"), source_lang="en")  # order and mt/comp ignored
    assert out["subset"] == ["LL", "TT", "LL"]
    with pytest.raises(ValueError, match="unknown subsets"):
        expand_variants(batch, subsets=("XX",), source_lang="en")


def test_ids_unique_and_stable_across_batches_and_targets():
    flags = [(True, True), (True, False), (False, True)] * 4
    ja = expand_variants(_batch(flags, "ja"), source_lang="en")
    th = expand_variants(_batch(flags, "th"), source_lang="en")
    ids = ja["id"] + th["id"]
    assert len(ids) == len(set(ids))
    assert expand_variants(_batch(flags, "ja"), source_lang="en")["id"] == ja["id"]
    half = {k: v[6:] for k, v in _batch(flags, "ja").items()}
    tail = expand_variants(half, source_lang="en")["id"]
    assert tail == ja["id"][-len(tail):]


def test_drops_are_counted_per_reason_and_optionally_returned_as_rejects():
    batch = _batch([(True, True), (True, False), (False, True), (False, False)])
    assert count_drops(batch) == {
        ANSWER_REJECTED: 2 + 1,  # it1: LT, TT; it3: LT
        QUESTION_REJECTED: 2 + 1,  # it2: TL, TT; it3: TL
        BOTH_REJECTED: 1,  # it3: TT
    }
    assert count_drops(batch, subsets=("LL", "TL")) == {QUESTION_REJECTED: 2}
    kept = expand_variants(batch, source_lang="en")
    full = expand_variants(batch, source_lang="en", rejects=True)
    assert len(full["id"]) == 16 and "status" not in kept and "reason" not in kept
    ok = [i for i, s in zip(full["id"], full["status"]) if s == "ok"]
    assert ok == kept["id"]
    dropped = [(s, st, r) for s, st, r in zip(full["status"], full["stage"], full["reason"]) if s == "rejected"]
    assert sorted(r for _, _, r in dropped) == sorted(k for k, n in count_drops(batch).items() for _ in range(n))
    assert {st for _, st, _ in dropped} == {"expand"}
    assert all(st is None and r is None for s, st, r in zip(full["status"], full["stage"], full["reason"]) if s == "ok")
    assert full["detail"][full["id"].index("it1:ja:TT")] == "TT needs the question and answer translations"
    assert len(kept["id"]) + sum(count_drops(batch).values()) == 4 * len(batch["item_id"])


def test_rows_rejected_upstream_pass_through_once():
    batch = _batch([(True, True), (True, True)])
    batch["status"] = ["ok", "rejected"]
    batch["stage"] = [None, "translate"]
    batch["reason"] = [None, "off_target"]
    batch["detail"] = [None, "lingua: th"]
    out = expand_variants(batch, source_lang="en")
    assert out["id"] == ["it0:ja:LL", "it0:ja:TL", "it0:ja:LT", "it0:ja:TT", "it1:ja"]
    assert out["status"] == ["ok"] * 4 + ["rejected"]
    assert out["subset"][-1] is None and (out["stage"][-1], out["reason"][-1]) == ("translate", "off_target")
    assert out["detail"][-1] == "lingua: th" and out["stage"][:4] == [None] * 4


def test_other_columns_travel_with_each_variant_and_numpy_input_works():
    batch = {k: np.asarray(v, dtype=object) for k, v in _batch([(True, True), (True, False)]).items()}
    batch["qe_score"] = np.array([0.9, 0.7])
    batch["question_ok"] = np.array([True, True])
    batch["answer_ok"] = np.array([True, False])
    out = expand_variants(batch, source_lang="en")
    assert list(out)[:10] == ["id", "item_id", "subset", "src_lang", "tgt_lang", "question_lang",
                              "answer_lang", "answer_source", "question", "answer"]
    assert "question_src" not in out and "answer_ok" not in out
    assert out["qe_score"].tolist() == [0.9] * 4 + [0.7] * 2 and out["qe_score"].dtype == np.float64
    assert all(len(v) == 6 for v in out.values())


def test_missing_columns_and_wrong_source_are_errors():
    batch = _batch([(True, True)])
    with pytest.raises(ValueError, match="source is 'fr'"):
        expand_variants(batch, source_lang="fr")
    del batch["answer_ok"]
    with pytest.raises(ValueError, match="answer_ok"):
        expand_variants(batch, source_lang="en")
    no_src = _batch([(True, True)])
    del no_src["src_lang"]
    assert expand_variants(no_src, source_lang="en")["src_lang"] == ["en"] * 4


def test_nan_and_none_flags_count_as_failures():
    batch = _batch([(True, True)])
    batch["answer_ok"] = [float("nan")]
    assert expand_variants(batch, source_lang="en")["subset"] == ["LL", "TL"]
    batch["question_ok"] = [None]
    assert expand_variants(batch, source_lang="en")["subset"] == ["LL"]
