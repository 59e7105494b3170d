"""Code-switching: dictionaries, segmentation and the batch transform; on the real MUSE, Alpaca and
Tatoeba files (``realdata``) and on the demo's own dictionaries and instructions."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sdrrl_ray.codeswitch.lexicon import Lexicon, dictionary_path, dictionary_plan, load_lexicons, load_muse
from sdrrl_ray.codeswitch.switch import code_switch_text
from sdrrl_ray.codeswitch.words import dictionary_words, segment
from sdrrl_ray.schema import to_arrow
from sdrrl_ray.seeding import row_rng
from sdrrl_ray.stages.code_switch import CodeSwitcher, code_switch
from tests.conftest import DEMO_DATA, DEMO_INSTRUCTIONS, real_data_path

MUSE = Path(real_data_path("muse"))


@pytest.fixture(scope="module")
def lexicons():
    """The real MUSE dictionaries (realdata tests only)."""
    return load_lexicons(MUSE, "en", ["ja", "th"])


@pytest.fixture(scope="module")
def alpaca_questions():
    """The real Alpaca sample's instructions (realdata tests only)."""
    items = json.loads(Path(real_data_path("alpaca", "alpaca_en_demo.json")).read_text(encoding="utf-8"))
    return [it["instruction"] for it in items]


@pytest.fixture(scope="module")
def demo_lexicons():
    return load_lexicons(os.path.join(DEMO_DATA, "dictionaries"), "en", ["ja", "th"])


@pytest.fixture(scope="module")
def demo_questions():
    with open(DEMO_INSTRUCTIONS, encoding="utf-8") as f:
        return [json.loads(line)["instruction"] for line in f if line.strip()]


def _tatoeba(name: str) -> list[str]:
    lines = Path(real_data_path("tatoeba", name)).read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[3] for line in lines if line.strip()]


def _batch(questions, *, qlang="en", src="en", tgt="ja", start=0):
    n = len(questions)
    return {
        "id": [f"item{start + i}:{tgt}:LL" for i in range(n)],
        "question": list(questions),
        "answer": [f"answer {start + i}" for i in range(n)],
        "question_lang": [qlang] * n,
        "src_lang": [src] * n,
        "tgt_lang": [tgt] * n,
        "score": np.arange(start, start + n, dtype=np.float64),
    }


# ---------------------------------------------------------------------------------- dictionaries


@pytest.mark.realdata
def test_load_muse_real_file_keeps_every_translation_and_drops_identity_pairs():
    lex = load_muse(MUSE / "en-th.txt")
    assert lex.name == "en-th.txt"
    assert lex.n_lines == 24658 and lex.n_skipped == 0
    assert lex.lookup("and") == ("และ", "แล้ว")  # two lines for "and", file order kept
    assert lex.lookup("AND") == ("และ", "แล้ว")  # case-insensitive lookup
    assert lex.n_identity > 0
    assert all(t.lower() != k for k, targets in lex.entries.items() for t in targets)
    ja = load_muse(MUSE / "en-ja.txt")
    assert "was" not in ja  # "was was" is an identity pair in the public file
    assert ja.max_words == 1 and ja.max_chars == max(len(k) for k in ja.entries)


def test_load_muse_counts_malformed_lines_and_reads_tab_separated_multiword_entries(tmp_path):
    path = tmp_path / "en-xx.txt"
    path.write_text("cat neko\n\nlonely\n   \nice cream\taisu kuriimu\ncat nyanko\ncat neko\n", encoding="utf-8")
    lex = load_muse(path)
    assert lex.n_lines == 7
    assert lex.n_skipped == 3 and lex.skipped_lines == (2, 3, 4)
    assert lex.lookup("cat") == ("neko", "nyanko")
    assert lex.lookup("Ice Cream") == ("aisu kuriimu",)
    assert lex.max_words == 2
    text, k, c, reps = code_switch_text("I like ice cream and cats.", lex, p=1.0, rng=random.Random(0), spaced=True)
    assert (text, k, c) == ("I like aisu kuriimu and cats.", 1, 1)
    capped = load_muse(path, max_words=1)  # code_switch.max_ngram=1: single words only
    assert capped.max_words == 1
    assert code_switch_text("ice cream", capped, p=1.0, rng=random.Random(0), spaced=True)[1:3] == (0, 0)


@pytest.mark.realdata
def test_dictionary_path_maps_iso_codes_through_the_registry(tmp_path):
    assert dictionary_path(MUSE, "en", "nb") == str(MUSE / "en-no.txt")
    assert dictionary_path(MUSE, "nb", "en") == str(MUSE / "no-en.txt")
    assert dictionary_path(MUSE, "ja", "en") == str(MUSE / "ja-en.txt")
    assert dictionary_path(MUSE, "en", "km") is None
    assert dictionary_path("", "en", "ja") is None
    (tmp_path / "en-km.txt").write_text("water ទឹក\n", encoding="utf-8")  # a user-supplied Khmer lexicon
    assert dictionary_path(tmp_path, "en", "km") == str(tmp_path / "en-km.txt")


@pytest.mark.realdata
def test_dictionary_plan_says_which_file_serves_each_direction(tmp_path):
    plan = dictionary_plan(MUSE, "en", ["ja", "km"])
    assert plan["ja"] == {"en->ja": str(MUSE / "en-ja.txt"), "ja->en": str(MUSE / "ja-en.txt")}
    assert plan["km"] == {"en->km": "none", "km->en": "none"}
    (tmp_path / "en-km.txt").write_text("water ទឹក\n", encoding="utf-8")
    user = dictionary_plan(tmp_path, "en", ["km"])
    assert user["km"] == {"en->km": str(tmp_path / "en-km.txt"), "km->en": f"inverted:{tmp_path / 'en-km.txt'}"}
    lex = load_lexicons(tmp_path, "en", ["km"])
    assert lex[("km", "en")].lookup("ទឹក") == ("water",)


# ---------------------------------------------------------------------------------- segmentation


def test_longest_match_segments_hand_segmented_japanese():
    lex = Lexicon.from_pairs([(w, "x") for w in ("私", "は", "日本", "日本語", "本", "語", "を", "読む", "大学")])
    text = "私は日本語の本を読む。"
    tokens = [s for s, _ in segment(text, lex, spaced=False)]
    assert tokens == ["私", "は", "日本語", "の", "本", "を", "読む", "。"]
    hits = [s for s, t in segment(text, lex, spaced=False) if t is not None]
    assert hits == ["私", "は", "日本語", "本", "を", "読む"]


def test_longest_match_segments_hand_segmented_thai():
    words = ("ฉัน", "ไป", "โรง", "โรงเรียน", "เรียน", "ทุก", "วัน")
    lex = Lexicon.from_pairs([(w, "x") for w in words])
    text = "ฉันไปโรงเรียนทุกวัน"
    assert [s for s, _ in segment(text, lex, spaced=False)] == ["ฉัน", "ไป", "โรงเรียน", "ทุก", "วัน"]
    # outside the dictionary the fallback is a character cluster: marks stay on their consonant
    assert [s for s, _ in segment("ที่นี่", Lexicon.from_pairs([("x", "y")]), spaced=False)] == ["ที่", "นี่"]


@pytest.mark.realdata
def test_segmentation_reassembles_real_text_exactly(lexicons, alpaca_questions):
    for text in alpaca_questions[:300]:
        assert "".join(s for s, _ in segment(text, lexicons[("en", "ja")], spaced=True)) == text
    for text, key in [(t, ("ja", "en")) for t in _tatoeba("eng-jpn.tsv")] + [
        (t, ("th", "en")) for t in _tatoeba("eng-tha.tsv")
    ]:
        assert "".join(s for s, _ in segment(text, lexicons[key], spaced=False)) == text


@pytest.mark.realdata
def test_dictionary_words_are_found_inside_unsegmented_japanese(lexicons):
    ja_en = lexicons[("ja", "en")]
    tokens = segment("アメリカは1863年に奴隷制度を廃止した。", ja_en, spaced=False)
    hits = [s for s, t in tokens if t is not None]
    assert "アメリカ" in hits and "1863" not in hits
    assert "1863" in [s for s, _ in tokens]  # a digit run stays one token


def test_dictionary_words_are_the_segments_with_translations_at_their_offsets():
    lex = Lexicon.from_pairs([("ice cream", "アイス"), ("ice", "氷"), ("cat", "猫"), ("猫", "cat"), ("café", "x"),
                              ("ฉัน", "I"), ("don't", "no")])
    texts = ["I like ice cream, don't you? Cat!", "猫cat犬 café x\u0301y", "\u0301cat ice  cream", "ฉันไป cat", "",
             "  ", "ice\ncream"]
    for text in texts:
        for spaced in (True, False):
            words = dictionary_words(text, lex, spaced=spaced)
            assert [(text[a:b], t) for a, b, t in words] == [(s, t) for s, t in segment(text, lex, spaced=spaced)
                                                           if t is not None]
    assert dictionary_words("I like ice cream.", lex, spaced=True) == [(7, 16, ("アイス",))]


# ---------------------------------------------------------------------------------- switching


def test_spacing_and_case_of_replacements():
    lex = Lexicon.from_pairs([("猫", "cat"), ("犬", "dog"), ("dog", "chó")])
    rng = random.Random(0)
    assert code_switch_text("私は猫が好き", lex, p=1.0, rng=rng, spaced=False)[0] == "私はcatが好き"
    assert code_switch_text("猫犬", lex, p=1.0, rng=rng, spaced=False)[0] == "cat dog"
    assert code_switch_text("猫iPhone", lex, p=1.0, rng=rng, spaced=False)[0] == "cat iPhone"
    assert code_switch_text("Dog, DOG and dog.", lex, p=1.0, rng=rng, spaced=True)[0] == "Chó, CHÓ and chó."
    assert code_switch_text("a dog", lex, p=0.0, rng=rng, spaced=True) == ("a dog", 0, 1, [])


@pytest.mark.realdata
def test_switched_share_of_dictionary_words_is_p_within_binomial_bounds(lexicons, alpaca_questions):
    p = 0.15
    out = code_switch(_batch(alpaca_questions), lexicons=lexicons, p=p, seed=7)
    switched, candidates = int(out["n_switched"].sum()), int(out["switch_candidates"].sum())
    assert candidates > 2000  # a few hundred real sentences give thousands of dictionary words
    sigma = math.sqrt(p * (1 - p) / candidates)
    assert abs(switched / candidates - p) < 4 * sigma, (switched, candidates)
    assert (out["n_switched"] <= out["switch_candidates"]).all()
    changed = sum(a != b for a, b in zip(out["question"], alpaca_questions))
    assert changed == int((out["n_switched"] > 0).sum())


@pytest.mark.realdata
def test_every_replacement_is_an_entry_of_the_right_direction(lexicons, alpaca_questions):
    en_ja, ja_en = lexicons[("en", "ja")], lexicons[("ja", "en")]
    seed = 3
    en_rows = _batch(alpaca_questions[:200], qlang="en")
    ja_sentences = _tatoeba("eng-jpn.tsv")
    ja_rows = _batch(ja_sentences, qlang="ja", start=1000)
    batch = {k: list(en_rows[k]) + list(ja_rows[k]) for k in en_rows}
    out = code_switch(batch, lexicons=lexicons, p=0.5, seed=seed)
    n_reps = {"en": 0, "ja": 0}
    for r, question in enumerate(batch["question"]):
        qlang = batch["question_lang"][r]
        lex, spaced = (en_ja, True) if qlang == "en" else (ja_en, False)
        rng = row_rng(seed, batch["id"][r], "code_switch")
        text, k, c, reps = code_switch_text(question, lex, p=0.5, rng=rng, spaced=spaced)
        assert out["question"][r] == text and out["n_switched"][r] == k and out["switch_candidates"][r] == c
        assert out["switch_dict"][r] == ("en-ja.txt" if qlang == "en" else "ja-en.txt")
        for original, replacement in reps:
            assert replacement.lower() in {t.lower() for t in lex.lookup(original)}
            if qlang == "ja":  # tgt->src on target-language questions: English words come in
                assert replacement.isascii()
        n_reps[qlang] += len(reps)
    assert n_reps["en"] > 100 and n_reps["ja"] > 50


def test_deterministic_under_seed_and_independent_of_batch_split(demo_lexicons, demo_questions):
    questions = demo_questions[:400]
    whole = code_switch(_batch(questions), lexicons=demo_lexicons, p=0.15, seed=11)
    pieces, start = [], 0
    for size in (1, 7, 100, 92, 200):
        part = _batch(questions[start : start + size], start=start)
        pieces.append(code_switch(part, lexicons=demo_lexicons, p=0.15, seed=11))
        start += size
    assert start == len(questions)
    assert [q for p in pieces for q in p["question"]] == whole["question"]
    assert [int(n) for p in pieces for n in p["n_switched"]] == whole["n_switched"].tolist()
    again = code_switch(_batch(questions), lexicons=demo_lexicons, p=0.15, seed=11)
    assert again["question"] == whole["question"]
    other = code_switch(_batch(questions), lexicons=demo_lexicons, p=0.15, seed=12)
    assert other["question"] != whole["question"]


def test_rows_and_other_columns_are_preserved_and_answers_untouched(demo_lexicons, demo_questions):
    batch = _batch(demo_questions[:50])
    batch["answer"] = list(demo_questions[50:100])  # answers full of dictionary words
    out = code_switch(batch, lexicons=demo_lexicons, p=1.0, seed=0)
    assert list(out)[: len(batch)] == list(batch)  # same columns, same order, new ones appended
    assert set(out) - set(batch) == {"n_switched", "switch_candidates", "switch_dict"}
    assert all(len(v) == 50 for v in out.values())
    assert out["answer"] == demo_questions[50:100]
    for col in ("id", "question_lang", "src_lang", "tgt_lang"):
        assert out[col] == batch[col]
    np.testing.assert_array_equal(out["score"], batch["score"])
    changed = [q != o for q, o in zip(out["question"], batch["question"])]
    # p=1: a question changes exactly when it holds a dictionary word
    assert changed == [int(c) > 0 for c in out["switch_candidates"]] and sum(changed) >= 25


def test_numpy_batches_are_accepted(demo_lexicons, demo_questions):
    batch = {k: np.asarray(v, dtype=object) for k, v in _batch(demo_questions[:20]).items()}
    out = code_switch(batch, lexicons=demo_lexicons, p=0.5, seed=1)
    ref = code_switch(_batch(demo_questions[:20]), lexicons=demo_lexicons, p=0.5, seed=1)
    assert isinstance(out["question"], np.ndarray) and list(out["question"]) == ref["question"]


def test_arrow_batches_get_the_same_columns_and_keep_the_others():
    switcher = CodeSwitcher(os.path.join(DEMO_DATA, "dictionaries"), "en", ["ja"], p=0.5, seed=1)
    with open(DEMO_INSTRUCTIONS, encoding="utf-8") as f:
        questions = [json.loads(line)["instruction"] for line in f if line.strip()][:40]
    batch = _batch(questions)
    batch["question"][3] = None  # a missing question passes through
    batch["subset"] = ["LL"] * 39 + ["mt"]
    ref = switcher(dict(batch))
    out = switcher(to_arrow(batch))
    assert isinstance(out, pa.Table) and out.num_rows == 40
    assert out.column_names[: len(batch)] == list(batch)  # columns kept in place, outputs appended
    for name in ("question", "n_switched", "switch_candidates", "switch_dict"):
        assert out.column(name).to_pylist() == list(ref[name]), name
    assert out.column("score").to_pylist() == list(batch["score"]) and sum(ref["n_switched"]) > 10
    again = switcher(out)  # a batch that already has the output columns: they are replaced, not added
    assert again.column_names == out.column_names


def test_missing_dictionary_passes_rows_through_and_reports_none(demo_lexicons):
    km = _batch(["Give three tips for staying healthy."] * 3, tgt="km")
    for lex in (demo_lexicons, {("en", "km"): None}):
        out = code_switch(km, lexicons=lex, p=1.0, seed=0)
        assert out["question"] == km["question"]
        assert out["n_switched"].tolist() == [0, 0, 0] and out["switch_candidates"].tolist() == [0, 0, 0]
        assert list(out["switch_dict"]) == ["none"] * 3


def test_parallel_task_rows_are_not_switched(demo_lexicons):
    batch = _batch(["Give three tips for staying healthy."] * 2)
    batch["subset"] = ["mt", "LL"]
    out = code_switch(batch, lexicons=demo_lexicons, p=1.0, seed=0)
    assert out["question"][0] == batch["question"][0] and out["switch_dict"][0] == "off"
    assert out["question"][1] != batch["question"][1] and out["switch_dict"][1] == "en-ja.txt"


def test_question_in_a_third_language_is_an_error(demo_lexicons):
    with pytest.raises(ValueError, match="question_lang='fr'"):
        code_switch(_batch(["Bonjour"], qlang="fr"), lexicons=demo_lexicons, p=0.15, seed=0)
    with pytest.raises(ValueError, match="the batch lacks"):
        code_switch({"id": [1], "question": ["x"]}, lexicons=demo_lexicons, p=0.15, seed=0)


@pytest.mark.realdata
def test_code_switcher_class_loads_once_and_reports_its_plan(alpaca_questions):
    switcher = CodeSwitcher(str(MUSE), "en", ["th", "km"], p=0.15, seed=5)
    assert switcher.plan["th"]["en->th"].endswith("en-th.txt") and switcher.plan["km"]["en->km"] == "none"
    out = switcher(_batch(alpaca_questions[:30], tgt="th"))
    ref = code_switch(_batch(alpaca_questions[:30], tgt="th"), lexicons=switcher.lexicons, p=0.15, seed=5)
    assert out["question"] == ref["question"]
    assert set(out["switch_dict"]) == {"en-th.txt"}
