"""The demo data files: they parse, are large and varied enough, and are in the right scripts."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys

import pytest

from sdrrl_ray import storage
from sdrrl_ray.demo import assets, build, datagen, lexicon
from sdrrl_ray.demo.assets import demo_data_dir, demo_instructions_path
from sdrrl_ray.languages import script_share

KANA = re.compile(r"[\u3040-\u30ff]")
VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]")


def test_paths_point_into_the_package():
    assert os.path.isdir(demo_data_dir())
    assert demo_instructions_path() == os.path.join(demo_data_dir(), "instructions.jsonl")
    assert os.path.isfile(demo_instructions_path())


def test_instructions_are_alpaca_rows_short_and_varied():
    rows = assets.read_instructions()
    assert len(rows) >= 2000
    for row in rows:
        assert set(row) == {"instruction", "input", "output"}
        assert all(isinstance(v, str) for v in row.values())
        assert row["instruction"].strip() and row["output"].strip()
        assert len(row["instruction"]) + len(row["input"]) < 400  # reading passages with four options
        assert len(row["output"]) < 200
    plain = [r for r in rows if " has " not in r["instruction"]]
    assert len(plain) >= 240 and all(len(r["instruction"]) + len(r["input"]) < 120 for r in plain)
    assert len({(r["instruction"], r["input"]) for r in rows}) == len(rows), "duplicate instructions"
    assert sum(bool(r["input"]) for r in rows) >= 40
    text = " ".join(r["instruction"] for r in rows)
    for topic in ("color", "legs", "capital", "plus", "minus", "fruit", "weather", "opposite", "past tense"):
        assert topic in text, topic


def test_instructions_are_english():
    for row in assets.read_instructions():
        for value in row.values():
            assert script_share(value, "Latn") == 1.0 or not any(c.isalpha() for c in value), value


@pytest.mark.parametrize("lang,script", [("ja", "Jpan"), ("th", "Thai")])
def test_parallel_files_have_two_columns_in_the_right_scripts(lang, script):
    with open(assets.parallel_path(lang), encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert len(lines) >= 400
    for line in lines:
        cols = line.split("\t")
        assert len(cols) == 2 and all(c.strip() for c in cols), line
        en, tgt = cols
        assert script_share(en, "Latn") == 1.0, en
        assert script_share(tgt, script) == 1.0, tgt
        assert len(en) < 200 and len(tgt) < 200
    assert len({line.split("\t")[0] for line in lines}) == len(lines), "duplicate English sentences"


@pytest.mark.parametrize("lang", ["ja", "th"])
def test_every_english_qa_pair_has_a_mirror_in_the_mt_corpus(lang):
    table = dict(assets.read_mt(lang))
    plain = [r for r in assets.read_instructions() if not r["input"] and "\n" not in r["instruction"]
             and " has " not in r["instruction"]]
    mirrored = [r for r in plain if r["instruction"] in table and r["output"] in table]
    assert len(mirrored) == len(plain) >= 240
    assert len(table) >= 2000


@pytest.mark.parametrize("lang,script", [("ja", "Jpan"), ("th", "Thai")])
def test_dictionaries_are_muse_format_and_reverse_each_other(lang, script):
    forward = assets.read_dictionary("en", lang)
    backward = assets.read_dictionary(lang, "en")
    for path in (assets.dictionary_path("en", lang), assets.dictionary_path(lang, "en")):
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        assert len(lines) >= 150
        assert all(re.fullmatch(r"\S+ \S+", line) for line in lines), path
    assert {(t, e) for e, t in forward} == set(backward)
    assert all(e == e.lower() and script_share(e, "Latn") == 1.0 for e, _ in forward)
    assert all(script_share(t, script) == 1.0 for _, t in forward)
    assert len({e for e, _ in forward}) < len(forward), "some words should have several translations"


@pytest.mark.parametrize("lang", ["ja", "th"])
def test_dictionaries_cover_the_words_of_the_demo_data(lang):
    pairs = set(assets.read_dictionary("en", lang))
    col = 2 if lang == "ja" else 3  # Animal/Food/Thing rows: en, plural, ja, th
    for table in (lexicon.ANIMALS, lexicon.FOODS, lexicon.THINGS):
        for row in table.values():
            if " " not in row.en:
                assert (row.en, row[col]) in pairs and (row.plural, row[col]) in pairs, row
    for place in lexicon.PLACES.values():
        assert (place.en, place[col - 1]) in pairs
    # and the dictionary's words are the data's words, on both sides
    en_words = set()
    for row in assets.read_instructions():
        en_words |= set(re.findall(r"[a-z]+", " ".join(row.values()).lower()))
    target_text = "\n".join(t for _, t in assets.read_parallel(lang) + assets.read_mt(lang))
    en_words |= set(re.findall(r"[a-z]+", " ".join(e for e, _ in assets.read_parallel(lang)).lower()))
    assert sum(e in en_words for e, _ in pairs) >= 0.9 * len(pairs)
    assert sum(t in target_text for _, t in pairs) >= 0.9 * len(pairs)


def test_corpus_covers_every_required_script():
    with open(assets.corpus_path(), encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]

    def count(script):
        return sum(script_share(line, script) >= 0.9 for line in lines)

    for script in ("Latn", "Cyrl", "Thai", "Khmr", "Hang"):
        assert count(script) >= 24, script
    assert sum(bool(KANA.search(line)) and script_share(line, "Jpan") >= 0.9 for line in lines) >= 24
    assert sum(script_share(line, "Hans") >= 0.9 and not KANA.search(line) for line in lines) >= 24
    assert sum(bool(VIETNAMESE.search(line)) for line in lines) >= 12
    text = "\n".join(lines)
    for marker in ("é", "ř", "ł", "ї", "ъ", "ő", "ø"):  # fr, cs, pl, uk, bg, hu, nb
        assert marker in text, marker


def test_readme_describes_every_file_and_the_licence():
    with open(os.path.join(demo_data_dir(), "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert "Apache-2.0" in readme and "written for this project" in readme
    for name in ("instructions.jsonl", "en-ja.tsv", "en-th.tsv", "en-ja.txt", "ja-en.txt", "en-th.txt",
                 "th-en.txt", "corpus.txt"):
        assert name in readme, name


def test_generated_files_match_the_generator(tmp_path):
    datagen.write_all(str(tmp_path))
    generated = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert len(generated) == 9  # instructions, 2 parallel files, 2 MT corpus files, 4 dictionaries
    for path in generated:
        rel = path.relative_to(tmp_path)
        with open(os.path.join(demo_data_dir(), rel), "rb") as committed:
            assert committed.read() == path.read_bytes(), f"{rel} differs: run python -m sdrrl_ray.demo.datagen"


def test_build_key_follows_hyperparameters_and_cache_root_follows_env(monkeypatch, tmp_path):
    hp = build.Hyperparameters()
    assert build.build_key(hp) == build.build_key(build.Hyperparameters())
    assert build.build_key(hp) != build.build_key(dataclasses.replace(hp, steps=hp.steps + 1))
    assert hp.hidden_size // hp.num_heads >= 32
    monkeypatch.setenv("SDRRL_CACHE", str(tmp_path / "env"))
    assert storage.cache_root() == str(tmp_path / "env")
    assert storage.cache_root(str(tmp_path / "arg")) == str(tmp_path / "arg")
    monkeypatch.delenv("SDRRL_CACHE")
    assert storage.cache_root() == os.path.expanduser("~/.cache/sdrrl_ray")


def test_importing_the_demo_package_loads_no_torch():
    code = ("import sys, sdrrl_ray.demo.build, sdrrl_ray.demo.assets, sdrrl_ray.demo.mt; "
            "print(['torch' in sys.modules, 'transformers' in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[False, False]"
