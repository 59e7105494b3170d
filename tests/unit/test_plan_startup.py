"""The plan in the run's phases: start-up per phase from a startup result, evaluation items from the files."""

from __future__ import annotations

import pytest

from sdrrl_ray.config import load_config
from sdrrl_ray.planner import startup as S
from sdrrl_ray.planner.estimate import eval_work
from sdrrl_ray.planner.eval_items import EVAL_ITEMS, EvalItems
from sdrrl_ray.planner.nodes import get_node

STARTUP = {"benchmark": "startup", "device": "cpu", "ray_start_s": 4.0, "ray_shutdown_s": 1.0,
           "phases": {"transfer-set": {"base_s": 10.0, "per_unit_s": 3.0, "unit": "targets"},
                      "train": {"base_s": 8.0, "per_unit_s": 20.0, "unit": "train_runs"},
                      "eval": {"base_s": 5.0, "per_unit_s": 2.0, "unit": "eval_models"}}}


def phases(eval_models: int = 7) -> dict:
    return {"generate": {"wall_hours": 10 / 3600}, "translate": {"wall_hours": 2 / 3600},
            "train": {"wall_hours": 100 / 3600}, "eval": {"wall_hours": 50 / 3600, "models": eval_models}}


def test_start_up_is_a_base_plus_a_part_per_target_run_and_model():
    cfg = load_config(None, ["languages.targets=[ja,th]"])
    run = S.run_phases(cfg, phases(), ("startup.json", STARTUP))
    got = {k: (round(v["work_s"], 6), v["startup_s"]) for k, v in run["phases"].items()}
    assert got == {"transfer-set": (12.0, 10 + 3 * 2), "train": (100.0, 8 + 20 * 2), "eval": (50.0, 5 + 2 * 7)}
    assert run["ray_s"] == 5.0 and run["predicted_total_s"] == pytest.approx(12 + 16 + 100 + 48 + 50 + 19 + 5)
    one_model = load_config(None, ["languages.targets=[ja,th]", "train.per_target=false"])
    assert S.run_phases(one_model, phases(), ("s", STARTUP))["phases"]["train"]["startup_s"] == 8 + 20


def test_start_up_measured_on_a_cpu_is_not_used_for_a_gpu_node():
    results = [("startup.json", STARTUP), ("other.json", {"benchmark": "train"})]
    assert S.load(results, get_node("m7i.large", uses_gpu=False)) == ("startup.json", STARTUP)
    assert S.load(results, get_node("p5.48xlarge", uses_gpu=True)) is None
    cfg = load_config(None, [])
    run = S.run_phases(cfg, phases(), None)
    assert run["ray_s"] is None and all(p["startup_s"] is None for p in run["phases"].values())
    assert run["predicted_total_s"] == pytest.approx(162.0)


def test_eval_items_are_counted_in_the_files_and_capped_by_the_limit(tmp_path):
    cfg = load_config(None, ["languages.targets=[ja]"])  # the demo's own evaluation files
    counts = EvalItems(cfg)
    flores = counts.items("flores", ["ja"])  # en-ja and ja-en
    assert 0 < flores < 2 * EVAL_ITEMS["flores"] and counts.assumed == set() and "flores" in counts.source()
    capped = EvalItems(load_config(None, ["languages.targets=[ja]", "eval.limit=3"]))
    assert capped.items("flores", ["ja"]) == 2 * 3 and capped.items("offtarget", ["ja"]) == 2 * 3  # + English
    missing = EvalItems(load_config(None, ["languages.targets=[ja]", f"eval.data_dir={tmp_path}"]))
    assert missing.items("xlsum", ["ja"]) == 2 * EVAL_ITEMS["xlsum"] and missing.assumed == {"xlsum"}
    assert "public test-set sizes" in missing.source()


def test_eval_tokens_follow_the_items_in_the_files():
    few = eval_work(load_config(None, ["languages.targets=[ja]", "eval.tasks=[flores]", "eval.limit=2",
                                       "eval.max_new_tokens=10"]))
    assert few["models"] == 2 and few["output_tokens"] == 2 * (2 * 2) * 10  # base + trained, 2 directions x 2


@pytest.fixture(scope="module")
def tok(tiny_lm):
    from sdrrl_ray.planner.tokens import load_tokenizer

    return load_tokenizer(tiny_lm, "generate.model")


def test_answers_as_long_as_their_references_and_at_the_cap_where_a_reference_cannot_be_read(tok, monkeypatch):
    cfg = load_config(None, ["languages.targets=[ja]", "eval.limit=5", "eval.max_new_tokens=100"])
    plain = EvalItems(cfg)
    fitted = EvalItems(cfg, tok, open_tokens=3.0)
    assert plain.tokens("flores", ["ja"]) == 2 * 5 * 100  # no tokenizer: every answer at max_new_tokens
    assert 2 * 5 * 2 <= fitted.tokens("flores", ["ja"]) < plain.tokens("flores", ["ja"])
    assert fitted.tokens("offtarget", ["ja"]) == 2 * 5 * (3 + 1)  # the mean gold answer and an end token
    assert "reference lengths" in fitted.source()

    def no_seqeval(item):
        raise ImportError("No module named 'seqeval'")

    monkeypatch.setattr("sdrrl_ray.evaluation.ner.gold_entities", no_seqeval)  # `sdrrl plan` without [eval]
    core = EvalItems(cfg, tok, open_tokens=3.0)
    ner_cap = core.ctx.max_new_tokens("ner", 100)
    assert core.tokens("ner", ["ja"]) == 2 * 5 * min(ner_cap, 64)
    assert "ner at max_new_tokens" in core.source()
