"""The paper's CIT and XCOT baselines (paper-spec section 8) as arms built from the project's own stages.

Each preset's transfer set is built on a hand-made batch by the stage functions the plan chains
(answer choice -> target fan-out -> translations -> assemble -> code-switching -> parallel-corpus rows),
with the preset file's settings, and set against the other paper arms: which (question, answer) language
pairs each arm trains on, whether questions are code-switched, and whether model answers or parallel
rows come in."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sdrrl_ray.app.compare import arm_config
from sdrrl_ray.config import load_config
from sdrrl_ray.config.arms import ARMS, BASELINES, PAPER_ARMS, arm_settings
from sdrrl_ray.schema import COMP, LL, LT, MT, PARALLEL_TASKS, SUBSETS, TL, TT
from sdrrl_ray.stages.answer_choice import choose_answers
from sdrrl_ray.stages.assemble import assemble
from sdrrl_ray.stages.code_switch import CodeSwitcher
from sdrrl_ray.stages.targets import expand_targets
from sdrrl_ray.transfer.parallel import parallel_rows
from tests.conftest import DEMO_CONFIG, DEMO_DATA, ROOT

PRESETS = os.path.join(ROOT, "jobs", "configs", "presets")
COMPARED = ("sft-en", "translate-then-sft", "cit", "xcot", "sdrrl")
N_ITEMS = 24


def _corpus() -> dict[str, dict[str, str]]:
    """English sentence -> its translation, per target, from the demo's parallel corpus (same English lines)."""
    out = {}
    for tgt in ("ja", "th"):
        with open(os.path.join(DEMO_DATA, "parallel", f"en-{tgt}.tsv"), encoding="utf-8") as f:
            out[tgt] = dict(line.rstrip("\n").split("\t")[:2] for line in f if line.strip())
    return out


CORPUS = _corpus()
ENGLISH = sorted(CORPUS["ja"])[: 2 * N_ITEMS]
QUESTIONS, ANSWERS = ENGLISH[:N_ITEMS], ENGLISH[N_ITEMS:]  # questions and gold answers, all translatable


def transfer_rows(cfg) -> list[dict]:
    """The kept transfer-set rows ``cfg`` gives for the hand-made items, stage by stage as the plan runs them."""
    items = {
        "item_id": np.array([f"it{i}" for i in range(N_ITEMS)], dtype=object),
        "status": np.array(["ok"] * N_ITEMS, dtype=object),
        "question": np.array(QUESTIONS, dtype=object),
        "answer": np.array(ANSWERS, dtype=object),  # gold; a "self" row's answer is the model's in a real run
        "src_lang": np.array(["en"] * N_ITEMS, dtype=object),
    }
    items = choose_answers(items, mode=cfg.answer.mode, p_self=cfg.answer.p_self, seed=cfg.seed)
    pairs = expand_targets(items, targets=list(cfg.languages.targets)).to_pydict()
    n = len(pairs["item_id"])
    # the translate and filter stages' columns: every translation made and passed
    pairs.update(
        question_tgt=[CORPUS[t][q] for t, q in zip(pairs["tgt_lang"], pairs["question_src"])],
        answer_tgt=[CORPUS[t][a] for t, a in zip(pairs["tgt_lang"], pairs["answer_src"])],
        question_ok=[True] * n, answer_ok=[True] * n, question_reason=[None] * n, answer_reason=[None] * n,
    )
    table = assemble(pairs, subsets=list(cfg.transfer.subsets), source_lang=cfg.languages.source).to_pydict()
    kept = {k: [v for v, s in zip(col, table["status"]) if s == "ok"] for k, col in table.items()}
    if cfg.code_switch.enabled:
        cs = cfg.code_switch
        kept = CodeSwitcher(cs.dictionaries, cfg.languages.source, list(cfg.languages.targets), p=cs.p,
                            seed=cfg.seed, max_ngram=cs.max_ngram)(kept)
    rows = [{k: kept[k][i] for k in kept} for i in range(len(kept["id"]))]
    rows += [r for r in parallel_rows(cfg, set())[0] if r["status"] == "ok"]
    return rows


@pytest.fixture(scope="module")
def built() -> dict[str, list[dict]]:
    return {arm: transfer_rows(load_config(os.path.join(PRESETS, f"{arm}.yaml"))) for arm in COMPARED}


def _subsets(rows) -> set:
    return {r["subset"] for r in rows}


def _sides(rows) -> set:
    """(question side, answer side) of the rows: 'src' (English) or 'tgt'."""
    return {("src" if r["question_lang"] == r["src_lang"] else "tgt",
             "src" if r["answer_lang"] == r["src_lang"] else "tgt") for r in rows}


def _switched(rows) -> int:
    return sum(int(r.get("n_switched") or 0) for r in rows)


def test_the_four_paper_baselines_are_arms_and_compare_takes_cit_and_xcot(tmp_path):
    assert set(BASELINES) <= set(ARMS) and {"cit", "xcot"} <= set(BASELINES)
    assert PAPER_ARMS == ("sft-en", "translate-then-sft", "sdrrl")  # compare's default, unchanged
    for arm in ("cit", "xcot"):
        assert "paper baseline" in ARMS[arm][0] and arm.upper() in ARMS[arm][0]
    cfg = load_config(DEMO_CONFIG, [f"out_dir={tmp_path}/c", "compare.arms=[cit,xcot,sdrrl]"])
    assert cfg.compare.arms == ("cit", "xcot", "sdrrl")
    cit, xcot = arm_config(cfg, "cit", 0), arm_config(cfg, "xcot", 0)
    assert cit.transfer.subsets == (LT,) and not cit.code_switch.enabled and not cit.parallel.enabled
    assert xcot.transfer.subsets == (LL, TL, TT) and xcot.code_switch.enabled and not xcot.parallel.enabled
    for run in (cit, xcot):  # gold answers only: nothing to generate, plain mean loss
        assert run.answer.mode == "gold" and not run.generate.generate_all and run.train.loss_weighting == "mean"


def test_cit_trains_english_questions_with_target_answers_only(built):
    rows = built["cit"]
    assert len(rows) == N_ITEMS * 2  # every item, for ja and th
    assert _subsets(rows) == {LT}
    assert all(r["question_lang"] == "en" and r["answer_lang"] == r["tgt_lang"] != "en" for r in rows)
    assert {r["question"] for r in rows} == set(QUESTIONS)  # the English questions as they are: no code-switching
    assert all(r["answer"] == CORPUS[r["tgt_lang"]][a] for r, a in zip(rows, _gold_sources(rows)))
    assert {r["answer_source"] for r in rows} == {"gold"}
    assert not _switched(rows) and not _subsets(rows) & set(PARALLEL_TASKS)


def _gold_sources(rows) -> list[str]:
    return [ANSWERS[int(r["item_id"][2:])] for r in rows]


def test_xcot_supervises_target_questions_with_english_answers_and_switches_questions(built):
    rows = built["xcot"]
    assert _subsets(rows) == {LL, TL, TT}  # no LT, no parallel rows
    assert _sides(rows) == {("src", "src"), ("tgt", "src"), ("tgt", "tgt")}
    tl = [r for r in rows if r["subset"] == TL]
    assert len(tl) == N_ITEMS * 2
    assert all(r["question_lang"] == r["tgt_lang"] and r["answer_lang"] == "en" for r in tl)
    assert [r["answer"] for r in tl] == _gold_sources(tl)  # the English gold answer, never switched
    assert {r["answer_source"] for r in rows} == {"gold"}
    # every question goes through code-switching, with the dictionary of its direction
    assert {r["switch_dict"] for r in rows if r["subset"] == LL} == {"en-ja.txt", "en-th.txt"}
    assert {r["switch_dict"] for r in rows if r["subset"] != LL} == {"ja-en.txt", "th-en.txt"}
    for subset in (LL, TL, TT):  # English and translated questions alike get dictionary words switched
        assert _switched(r for r in rows if r["subset"] == subset) > 0, subset
    assert {r["question"] for r in rows if r["subset"] == LL} != set(QUESTIONS)


def test_cit_and_xcot_differ_from_the_other_paper_arms_as_described(built):
    expected = {  # subsets, (question side, answer side) of the instruction rows, code-switched, model answers
        "sft-en": ({LL}, {("src", "src")}, False, False),
        "translate-then-sft": ({TT}, {("tgt", "tgt")}, False, False),
        "cit": ({LT}, {("src", "tgt")}, False, False),
        "xcot": ({LL, TL, TT}, {("src", "src"), ("tgt", "src"), ("tgt", "tgt")}, True, False),
        "sdrrl": (set(SUBSETS), {("src", "src"), ("tgt", "src"), ("src", "tgt"), ("tgt", "tgt")}, True, True),
    }
    for arm, (subsets, sides, switched, self_answers) in expected.items():
        rows = built[arm]
        instructions = [r for r in rows if r["subset"] not in PARALLEL_TASKS]
        assert _subsets(rows) == subsets, arm
        assert _sides(instructions) == sides, arm
        assert (_switched(instructions) > 0) == switched, arm
        assert ("self" in {r["answer_source"] for r in instructions}) == self_answers, arm
        assert ({MT, COMP} <= _subsets(rows)) == (arm == "sdrrl"), arm
        assert set(arm_settings(arm)["transfer"]["subsets"]) == subsets, arm
    # cit is the only arm whose every row answers an English question in the target language;
    # xcot the only gold-only arm that trains target questions on English answers
    assert [a for a in COMPARED if _sides(built[a]) == {("src", "tgt")}] == ["cit"]
    assert [a for a in COMPARED if ("tgt", "src") in _sides(built[a])
            and {r["answer_source"] for r in built[a]} == {"gold"}] == ["xcot"]
