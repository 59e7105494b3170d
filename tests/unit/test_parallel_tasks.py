"""Parallel-corpus reading and the mt / comp task rows: on the real Tatoeba samples (``realdata``) and
on the demo's own parallel files."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from sdrrl_ray.codeswitch.lexicon import load_muse
from sdrrl_ray.codeswitch.words import segment
from sdrrl_ray.errors import UserError
from sdrrl_ray.parallel.corpus import Pair, read_parallel
from sdrrl_ray.parallel.tasks import count_tasks, make_tasks, split_points
from tests.conftest import DEMO_DATA, real_data_path

TATOEBA = Path(real_data_path("tatoeba"))
DEMO_PARALLEL = Path(DEMO_DATA) / "parallel"


def _lines(name):
    return [line.split("\t") for line in (TATOEBA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------------------------- reading


@pytest.mark.realdata
@pytest.mark.parametrize("name,src,tgt", [("eng-jpn.tsv", "en", "ja"), ("eng-tha.tsv", "en", "th"),
                                          ("eng-kor.tsv", "en", "ko"), ("eng-vie.tsv", "en", "vi")])
def test_tatoeba_layout_is_read_completely(name, src, tgt):
    corpus = read_parallel(TATOEBA / name, src_iso=src, tgt_iso=tgt, n_pairs=None, seed=0)
    lines = _lines(name)
    assert corpus.layout == "tatoeba" and not corpus.swapped
    assert len(corpus.pairs) == corpus.n_valid == corpus.n_lines == len(lines)
    assert corpus.bad == [] and corpus.n_blank == 0
    assert (corpus.pairs[0].src, corpus.pairs[0].tgt, corpus.pairs[0].index) == (lines[0][2], lines[0][3], 1)
    assert (corpus.pairs[-1].src, corpus.pairs[-1].tgt) == (lines[-1][2], lines[-1][3].strip())


@pytest.mark.realdata
def test_tatoeba_file_of_another_pair_is_refused_and_reverse_order_is_swapped():
    with pytest.raises(UserError, match="eng-jpn do not match the requested pair en-th"):
        read_parallel(TATOEBA / "eng-jpn.tsv", src_iso="en", tgt_iso="th", n_pairs=None, seed=0)
    rev = read_parallel(TATOEBA / "eng-jpn.tsv", src_iso="ja", tgt_iso="en", n_pairs=None, seed=0)
    first = _lines("eng-jpn.tsv")[0]
    assert rev.swapped and (rev.pairs[0].src, rev.pairs[0].tgt) == (first[3], first[2])


def test_tatoeba_lines_with_other_codes_are_bad_lines_with_numbers(tmp_path):
    path = tmp_path / "mixed.tsv"
    path.write_text("eng\tjpn_Hira\tHello.\tこんにちは。\neng\tkor\tHi.\t안녕.\neng\tjpn\tToo few\n\n"
                    "eng\tjpn\tYes.\tはい。\n", encoding="utf-8")
    corpus = read_parallel(path, src_iso="en", tgt_iso="ja", n_pairs=None, seed=0)
    assert [p.index for p in corpus.pairs] == [1, 5]
    assert [n for n, _ in corpus.bad] == [2, 3] and "eng-kor" in corpus.bad[0][1]
    assert corpus.n_blank == 1 and corpus.n_lines == 5


def test_two_column_tsv(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("Hello.\tこんにちは。\nno tab here\nGood night.\tおやすみ。\r\n\t空\nA\tB\tC\n", encoding="utf-8")
    corpus = read_parallel(path, src_iso="en", tgt_iso="ja", n_pairs=None, seed=0)
    assert corpus.layout == "tsv2"
    assert [(p.src, p.tgt, p.index) for p in corpus.pairs] == [
        ("Hello.", "こんにちは。", 1), ("Good night.", "おやすみ。", 3)]
    assert corpus.bad == [(2, "1 columns (expected 2)"), (4, "empty sentence"), (5, "3 columns (expected 2)")]


def test_jsonl_with_src_tgt_iso_and_opus_keys(tmp_path):
    path = tmp_path / "pairs.jsonl"
    recs = [{"src": "Hello.", "tgt": "สวัสดี"}, {"en": "Yes.", "th": "ใช่"},
            {"translation": {"en": "No.", "th": "ไม่"}}, {"en": "x", "ja": "y"}, [1, 2]]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in recs) + "\n{broken\n", encoding="utf-8")
    corpus = read_parallel(path, src_iso="en", tgt_iso="th", n_pairs=None, seed=0)
    assert corpus.layout == "jsonl"
    assert [(p.src, p.tgt) for p in corpus.pairs] == [("Hello.", "สวัสดี"), ("Yes.", "ใช่"), ("No.", "ไม่")]
    assert [n for n, _ in corpus.bad] == [4, 5, 6] and corpus.bad[2][1].startswith("invalid_json")


def test_missing_or_unusable_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_parallel(tmp_path / "nope.tsv", src_iso="en", tgt_iso="ja", n_pairs=10, seed=0)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{broken\n", encoding="utf-8")
    with pytest.raises(UserError, match="no usable en-ja pair; first bad line 1"):
        read_parallel(bad, src_iso="en", tgt_iso="ja", n_pairs=10, seed=0)


def test_sampling_n_pairs_is_deterministic_and_keeps_file_order():
    def sample(seed):
        c = read_parallel(DEMO_PARALLEL / "en-th.tsv", src_iso="en", tgt_iso="th", n_pairs=50, seed=seed)
        return [p.index for p in c.pairs]

    a = sample(1)
    assert len(a) == 50 and len(set(a)) == 50 and a == sorted(a)
    assert sample(1) == a and sample(2) != a
    lines = sum(1 for line in (DEMO_PARALLEL / "en-th.tsv").read_text(encoding="utf-8").splitlines() if line.strip())
    all_pairs = read_parallel(DEMO_PARALLEL / "en-th.tsv", src_iso="en", tgt_iso="th", n_pairs=lines + 100, seed=1)
    assert len(all_pairs.pairs) == lines  # fewer lines than n_pairs: all kept


# ---------------------------------------------------------------------------------- tasks


def test_templates_are_exact():
    rows = make_tasks([Pair("The quick brown fox jumps.", "Sang rubah cokelat melompat.", 7)],
                      src_iso="en", tgt_iso="id", seed=0)
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {"par:id:7:mt-en-id", "par:id:7:mt-id-en", "par:id:7:comp"}
    fwd, back, comp = by_id["par:id:7:mt-en-id"], by_id["par:id:7:mt-id-en"], by_id["par:id:7:comp"]
    assert fwd["question"] == "Translate the following sentence from English to Indonesian.\nThe quick brown fox jumps."
    assert fwd["answer"] == "Sang rubah cokelat melompat."
    assert back["question"] == (
        "Translate the following sentence from Indonesian to English.\nSang rubah cokelat melompat."
    )
    assert back["answer"] == "The quick brown fox jumps."
    head = "Complete the following sentence in Indonesian according to its context.\n"
    assert comp["question"].startswith(head) and comp["answer"] == "Sang rubah cokelat melompat."
    assert (fwd["question_lang"], fwd["answer_lang"]) == ("en", "id")
    assert (back["question_lang"], back["answer_lang"]) == ("id", "en")
    assert (comp["question_lang"], comp["answer_lang"]) == ("id", "id")
    for r in rows:
        assert r["item_id"] == "par:id:7" and r["answer_source"] == "parallel"
        assert (r["src_lang"], r["tgt_lang"]) == ("en", "id")
        assert list(r) == ["id", "item_id", "subset", "src_lang", "tgt_lang", "question_lang", "answer_lang",
                           "answer_source", "question", "answer"]
    assert [r["subset"] for r in make_tasks([("a b", "c d")], src_iso="en", tgt_iso="id", seed=0,
                                            tasks=("comp",))] == ["comp"]


def _prefix(row):
    return row["question"].split("\n", 1)[1]


@pytest.mark.realdata
def test_completion_prefix_is_a_proper_prefix_at_a_word_boundary_spaced():
    corpus = read_parallel(TATOEBA / "eng-vie.tsv", src_iso="en", tgt_iso="vi", n_pairs=None, seed=0)
    rows = [r for r in make_tasks(corpus.pairs, src_iso="en", tgt_iso="vi", seed=3) if r["subset"] == "comp"]
    assert len(rows) >= 170
    for r in rows:
        sentence, prefix = r["answer"], _prefix(r)
        assert sentence.startswith(prefix) and 0 < len(prefix) < len(sentence)
        assert sentence[len(prefix)].isspace() and not prefix[-1].isspace()
        assert re.search(r"\w", sentence[len(prefix):])


@pytest.mark.realdata
@pytest.mark.parametrize("name,tgt,dictionary", [("eng-jpn.tsv", "ja", "ja-en.txt"), ("eng-tha.tsv", "th", None)])
def test_completion_prefix_is_a_proper_prefix_for_unspaced_scripts(name, tgt, dictionary):
    lex = load_muse(real_data_path("muse", dictionary)) if dictionary else None
    corpus = read_parallel(TATOEBA / name, src_iso="en", tgt_iso=tgt, n_pairs=None, seed=0)
    rows = make_tasks(corpus.pairs, src_iso="en", tgt_iso=tgt, seed=5, lexicon=lex)
    comp = [r for r in rows if r["subset"] == "comp"]
    assert len(comp) >= 0.9 * len(corpus.pairs)
    for r in comp:
        sentence, prefix = r["answer"], _prefix(r)
        assert sentence.startswith(prefix) and 0 < len(prefix) < len(sentence)
        boundaries, pos = set(), 0
        for surface, _ in segment(sentence, lex, spaced=False):
            pos += len(surface)
            boundaries.add(pos)
        assert len(prefix) in boundaries  # never inside a dictionary word or a character cluster


def test_split_is_uniform_over_word_boundaries():
    sentence = "one two three four five"
    cuts = split_points(sentence, spaced=True)
    assert [sentence[:c] for c in cuts] == ["one", "one two", "one two three", "one two three four"]
    seen = Counter()
    for seed in range(800):
        (row,) = make_tasks([("x", sentence)], src_iso="en", tgt_iso="vi", seed=seed, tasks=("comp",))
        seen[_prefix(row)] += 1
    assert len(seen) == 4 and min(seen.values()) > 150  # 200 expected each


def test_too_short_sentences_are_skipped_and_counted():
    pairs = [("Yes.", "Có."), ("Thank you.", "Cảm ơn."), ("OK", "!!! OK")]
    rows = make_tasks(pairs, src_iso="en", tgt_iso="vi", seed=0)
    assert [r["id"] for r in rows if r["subset"] == "comp"] == ["par:vi:1:comp"]
    assert count_tasks(rows, n_pairs=3) == {"mt": 6, "comp": 1, "comp_too_short": 2}
    assert make_tasks([("Yes.", "ใช่")], src_iso="en", tgt_iso="th", seed=0, tasks=("comp",)) == []


def test_ids_unique_and_deterministic():
    corpus = read_parallel(DEMO_PARALLEL / "en-ja.tsv", src_iso="en", tgt_iso="ja", n_pairs=100, seed=0)
    rows = make_tasks(corpus.pairs, src_iso="en", tgt_iso="ja", seed=9)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert make_tasks(corpus.pairs, src_iso="en", tgt_iso="ja", seed=9) == rows
    with pytest.raises(ValueError, match="unknown tasks"):
        make_tasks(corpus.pairs, src_iso="en", tgt_iso="ja", seed=9, tasks=("qa",))
