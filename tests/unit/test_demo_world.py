"""The demo world is one where SDRRL can win or lose on its merits.

- the parallel corpus (SDRRL's translation / completion tasks) holds everyday sentences only: no
  instruction text, no evaluation text;
- no evaluation item's text is in any text a demo model trains on (base LM, MT models,
  instructions, parallel corpus), by the project's own contamination check and by name;
- the evaluation sets are parallel across en / ja / th (same ids) and large enough;
- the base LM's training mix is mostly English, with no reading comprehension in the targets.
"""

from __future__ import annotations

import os
import re
from collections import Counter

import pytest

from sdrrl_ray.config import load_config
from sdrrl_ray.demo import assets, build, datagen, evalgen, train, world
from sdrrl_ray.evaluation import belebele, contamination, run
from sdrrl_ray.evaluation.metrics.text import tokenize
from sdrrl_ray.evaluation.tasks import TASKS
from sdrrl_ray.ingest import records

TARGETS = ["ja", "th"]
MIN_ITEMS = {"belebele": 500, "mkqa": 500, "flores": 200, "xlsum": 200, "ner": 200, "offtarget": 200,
             "alignment": 200}


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    return load_config(None, [f"out_dir={out}", "languages.targets=[ja,th]",
                              f"data.path={assets.demo_instructions_path()}"])


@pytest.fixture(scope="module")
def eval_items(cfg) -> dict:
    """(task, unit name) -> every item of the demo evaluation files."""
    ctx = run.context(cfg)
    out = {}
    for task, unit in run.entry_units(run.ModelEntry("any", "x"), list(TASKS), TARGETS):
        items = TASKS[task].load(assets.eval_data_dir(), unit, ctx)
        out[(task, unit.name)] = [it for it in items if not it.get("skip")]
    return out


def training_texts() -> dict[str, list[str]]:
    """Every text a demo model trains on, by source."""
    instr = [t for rec in assets.read_instructions() for t in records.alpaca(rec)]
    lm = [t for ex in train.qa_examples() + train.completion_examples() for t in (ex.question, ex.answer)]
    return {
        "instructions": instr,
        "parallel": [side for lang in TARGETS for pair in assets.read_parallel(lang) for side in pair],
        "mt": [side for lang in TARGETS for pair in assets.read_mt(lang) for side in pair],
        "base_lm": lm,
        "tokenizer": build.tokenizer_texts(),
    }


def _index(eval_items: dict) -> contamination.ContaminationIndex:
    index = contamination.ContaminationIndex()
    for (task, unit), items in eval_items.items():
        for it in items:
            index.add((task, unit, it["item_id"]), contamination.item_texts(task, it))
    return index


def test_eval_sets_are_large_and_parallel_across_languages(eval_items):
    for (task, unit), items in eval_items.items():
        assert len(items) >= MIN_ITEMS[task], (task, unit, len(items))
    for task in ("belebele", "mkqa", "xlsum", "ner", "offtarget"):
        ids = {unit: [it["item_id"] for it in items] for (t, unit), items in eval_items.items() if t == task}
        assert set(ids) == {"en", "ja", "th"}
        if task == "offtarget":  # the Dolly layout has no id: English items are numbered by line
            assert ids["ja"] == ids["th"] and len(ids["en"]) == len(ids["ja"])
        else:
            assert ids["ja"] == ids["en"] == ids["th"], task
        assert len(set(ids["en"])) == len(ids["en"]), task
    bele = {unit: items for (t, unit), items in eval_items.items() if t == "belebele"}
    answers = {u: [it["answer"] for it in items] for u, items in bele.items()}
    assert answers["ja"] == answers["en"] == answers["th"]
    assert Counter(it["answer"] for it in bele["en"]).most_common()[-1][1] >= 0.15 * len(bele["en"])  # balanced letters
    ner = {unit: items for (t, unit), items in eval_items.items() if t == "ner"}
    types = {u: [sorted(tag[2:] for tag in it["tags"] if tag.startswith("B-")) for it in items]
             for u, items in ner.items()}
    assert types["en"] == types["ja"] == types["th"]
    flores = {unit: items for (t, unit), items in eval_items.items() if t == "flores"}
    assert [it["source"] for it in flores["en-ja"]] == [it["reference"] for it in flores["ja-en"]]
    assert [it["source"] for it in flores["en-th"]] == [it["reference"] for it in flores["th-en"]]
    assert len(eval_items[("mkqa", "ja")]) == len(eval_items[("mkqa", "en")])


def test_eval_items_are_in_no_training_text(eval_items):
    index = _index(eval_items)
    # the check can fail: an evaluation passage planted in a training text is found
    planted = eval_items[("belebele", "th")][7]["fields"]["flores_passage"]
    assert index.check("Read this. " + planted)[1]
    for source, texts in training_texts().items():
        assert texts, source
        flagged = {key for text in texts for key in set().union(*index.check(text))}
        assert not flagged, (source, sorted(flagged)[:5])


def test_eval_names_never_appear_in_training_texts():
    names = [n for lang in ("en", "ja", "th") for n in (getattr(w, lang) for w in world.EVAL_NAMES)]
    assert not set(world.EVAL_NAMES) & set(world.TRAIN_NAMES)
    with open(assets.corpus_path(), encoding="utf-8") as f:
        corpus = f.read()
    for source, texts in {**training_texts(), "corpus": [corpus]}.items():
        joined = "\n".join(texts)
        found = [n for n in names if (re.search(rf"\b{n}\b", joined) if n.isascii() else n in joined)]
        assert not found, (source, found)


def test_project_contamination_check_is_clean_on_the_demo(cfg, eval_items):
    report = contamination.check(cfg, eval_items, cfg.out_dir)
    assert report["texts_scanned"]["instructions"] >= 2 * len(assets.read_instructions())
    assert report["eval_items"] == sum(len(v) for v in eval_items.values())
    assert report["flagged"] == 0, report["by_unit"]


def test_parallel_corpus_is_disjoint_from_instructions_and_mt_covers_them():
    instr = [t for rec in assets.read_instructions() for t in records.alpaca(rec)]
    instr_tokens = " ".join(" ".join(tokenize(t)) for t in instr)
    for lang in TARGETS:
        pairs = assets.read_parallel(lang)
        assert len(pairs) >= 400
        english = {en for en, _ in pairs}
        assert not english & set(instr)
        inside = [en for en in english if f" {' '.join(tokenize(en))} " in f" {instr_tokens} "]
        assert not inside, inside[:5]
        mt = dict(assets.read_mt(lang))
        assert all(qa.en_q in mt and qa.en_a in mt for qa in datagen.qa_items())
        for story, q in world.training_items()[0][:50]:  # reading rows: every sentence, question and option
            assert all(world.sentence(f, "en") in mt for f in story.facts)
            assert q.text["en"] in mt and all(o in mt for o in q.options["en"])


def test_base_training_mix_is_mostly_english_and_targets_cover_few_tasks():
    examples = train.qa_examples() + train.completion_examples()
    counts = Counter(ex.lang for ex in examples)
    assert counts["en"] >= 0.8 * len(examples), counts
    assert 0.04 * len(examples) <= counts["ja"] + counts["th"] <= 0.2 * len(examples), counts
    target_questions = " ".join(ex.question for ex in examples if ex.lang != "en")
    assert "Answer" not in target_questions and "答え" not in target_questions
    assert "持っています" not in target_questions
    reading = {text for lang in TARGETS for pair in world.reading_pairs(lang) for text in pair}
    assert not reading & {t for ex in examples if ex.lang != "en" for t in (ex.question, ex.answer)}
    english = [ex for ex in examples if ex.lang == "en"]
    assert sum("Answer with the letter" in ex.question for ex in english) >= 1000
    assert sum(ex.answer in world.LETTERS for ex in english) >= 1000
    assert sum(ex.question.endswith("?") and " has " in ex.question for ex in english) >= 2000  # short answers


def test_reading_rows_use_the_evaluation_layouts():
    assert world.MC_TEMPLATE == belebele.DEFAULT_TEMPLATE
    rows = world.reading_rows()
    mc = [r for r in rows if r["output"] in ("A", "B", "C", "D")]
    assert len(mc) == world.N_MC and Counter(r["output"] for r in mc).most_common()[-1][1] > 150
    short = [r for r in rows if r not in mc]
    assert all(len(r["output"].split()) <= 3 for r in short)


def test_eval_files_match_the_generator(tmp_path):
    evalgen.write_all(str(tmp_path))
    generated = evalgen.generated_files(str(tmp_path))
    assert generated == evalgen.generated_files(assets.eval_data_dir())
    assert len(generated) == 16
    for rel in generated:
        with open(os.path.join(assets.eval_data_dir(), rel), "rb") as committed:
            assert committed.read() == (tmp_path / rel).read_bytes(), \
                f"{rel} differs: run python -m sdrrl_ray.demo.evalgen"


def test_mt_corpus_keeps_held_out_pairs():
    from sdrrl_ray.demo import mt

    for lang in TARGETS:
        held, trained = mt.heldout_pairs(lang), mt.training_pairs(lang)
        assert len(held) >= 100 and not set(held) & set(trained)
        assert len(held) + len(trained) == len(datagen.mt_pairs(lang))
