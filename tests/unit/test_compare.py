"""``sdrrl compare`` without Ray: the arm table against the preset files, each run's config, pooling seeds,
the arm-level report and the command line's errors."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

from sdrrl_ray.app.compare import arm_config, run_name
from sdrrl_ray.config import load_config
from sdrrl_ray.config.arms import ARMS, arm_settings
from sdrrl_ray.evaluation import stats
from sdrrl_ray.evaluation.pooled import pool, pooled_report

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRESETS = os.path.join(ROOT, "jobs", "configs", "presets")
DEMO = os.path.join(ROOT, "jobs", "configs", "demo.yaml")


def _get(cfg, section: str, key: str):
    value = getattr(getattr(cfg, section), key)
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("arm", sorted(ARMS))
def test_every_arm_sets_what_its_preset_file_spells_out(arm):
    assert os.path.exists(os.path.join(PRESETS, f"{arm}.yaml"))
    preset = load_config(os.path.join(PRESETS, f"{arm}.yaml"))
    for section, values in arm_settings(arm).items():
        for key, value in values.items():
            assert _get(preset, section, key) == value, f"{arm}: {section}.{key}"


def test_the_arm_table_covers_every_preset_file():
    assert {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(PRESETS, "*.yaml"))} == set(ARMS)


def test_a_run_config_has_its_arm_its_seed_its_own_out_and_the_shared_caches(tmp_path):
    cfg = load_config(DEMO, [f"out_dir={tmp_path}/cmp", "seed=7", "code_switch.enabled=false"])
    run = arm_config(cfg, "sdrrl", 2)
    assert run.seed == 2 and run.generate.seed == 7  # the answers do not change with the arm's seed
    assert run.generate.generate_all  # every item answered once, whatever the seed's answer choice
    assert run.out_dir == f"{tmp_path}/cmp/arms/sdrrl/seed-2"
    assert run.generate.cache_dir == f"{tmp_path}/cmp/shared/generations"
    assert run.translate.cache_dir == f"{tmp_path}/cmp/shared/translations"
    assert run.code_switch.enabled  # the arm's own settings win over the config's
    sft = arm_config(cfg, "sft-en", 0)
    assert sft.transfer.subsets == ("LL",) and sft.answer.mode == "gold" and not sft.parallel.enabled
    assert sft.translate.cache_dir == run.translate.cache_dir
    assert run_name("sft-en", 0) != run_name("sft-en", 1)


def test_bad_arms_seeds_or_reference_are_one_line_errors(tmp_path):
    from sdrrl_ray.errors import ConfigError

    for overrides, words in (
        (["compare.arms=[sdrrl,nope]"], "unknown ['nope']"),
        (["compare.arms=[sdrrl,sdrrl]"], "each arm once"),
        (["compare.seeds=[]"], "distinct seeds"),
        (["compare.arms=[sft-en]", "compare.reference=sdrrl"], "not one of the arms"),
    ):
        with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
            load_config(DEMO, [f"out_dir={tmp_path}/x", *overrides])


def test_the_command_line_takes_short_arm_names_and_names_a_wrong_one(tmp_path, capsys):
    from sdrrl_ray.app.cli import main

    assert main(["compare", DEMO, f"out_dir={tmp_path}/c", "arms=[sdrrl,typo]"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "compare.arms has unknown ['typo']" in err
    assert not os.path.exists(f"{tmp_path}/c")


# ----------------------------------------------------------------------------------- pooling seeds


def test_pooling_binary_seeds_gives_the_mean_of_the_seed_scores():
    a = stats.binary(["1", "2", "3", "4"], [1, 1, 0, 0])
    b = stats.binary(["1", "2", "3", "4"], [1, 0, 0, 0])
    pooled = stats.pool_seeds([a, b])
    assert pooled.score() == pytest.approx((a.score() + b.score()) / 2) == 37.5
    assert pooled.kind == stats.MEAN and pooled.n == 4
    assert stats.pool_seeds([a]) is a  # one seed keeps its exact (Wilson / McNemar) statistics


def test_pooling_corpus_seeds_averages_the_corpus_scores_on_the_same_items():
    def ratio(sums):  # a corpus metric: 100 * matches / length
        return 100.0 * sums[0] / sums[1]

    a = stats.corpus(["1", "2"], [[1, 2], [3, 4]], ratio)  # 4/6
    b = stats.corpus(["2", "1"], [[1, 9], [0, 1]], ratio)  # 1/10
    pooled = stats.pool_seeds([a, b])
    assert pooled.score() == pytest.approx((a.score() + b.score()) / 2)
    assert pooled.score() != pytest.approx(ratio(np.array([5, 16])))  # not the corpus of both seeds together
    boot = stats.Bootstrap(resamples=200)
    lo, hi = boot.ci(pooled, "k")
    assert lo <= pooled.score() <= hi


def _evidence(values: dict) -> dict:
    """Fake evidence of one evaluation run: model name -> per-item outcomes on 40 BELEBELE items."""
    ids = [f"q{i}" for i in range(40)]
    results, samples = [], {}
    for model, outcomes in values.items():
        target = None if model == "base" else "ja"
        key = model if target is None else f"{model}-{target}"
        s = stats.binary(ids, outcomes)
        samples[(key, "belebele", "ja", "acc")] = s
        results.append(dict(model=model, model_target=target, model_key=key, task="belebele", unit="ja",
                            lang="ja", side="target", column="ja", metric="acc", value=s.score(), n=s.n))
    return {"results": results, "samples": samples, "tasks": ["belebele"], "targets": ["ja"],
            "data_dir": "demo", "contamination": None}


def test_the_arm_report_pools_seeds_and_tests_against_the_reference(tmp_path):
    good = [1] * 30 + [0] * 10
    weak = [1] * 12 + [0] * 28
    evidence = _evidence({"base": weak, "sdrrl-seed0": good, "sdrrl-seed1": good[::-1],
                          "sft-en-seed0": weak, "sft-en-seed1": weak[::-1]})
    members = {"base": "base", "sdrrl-seed0": "sdrrl", "sdrrl-seed1": "sdrrl",
               "sft-en-seed0": "sft-en", "sft-en-seed1": "sft-en"}
    entries, results, _, _ = pool(evidence, members)
    assert {(e.name, e.target) for e in entries} == {("base", None), ("sdrrl", "ja"), ("sft-en", "ja")}
    by_arm = {r["model"]: r for r in results}
    assert by_arm["sdrrl"]["value"] == 75.0 and by_arm["sdrrl"]["seeds"] == 2
    assert by_arm["sdrrl"]["members"] == ["sdrrl-seed0-ja", "sdrrl-seed1-ja"]
    cfg = load_config(DEMO, [f"out_dir={tmp_path}/c", "compare.arms=[sft-en,sdrrl]", "compare.seeds=[0,1]"])
    rep = pooled_report(cfg, evidence, members, "sdrrl", seeds=[0, 1])
    (table,) = [t for t in rep["tables"] if t["task"] == "belebele" and t["side"] == "target"]
    rows = {r["model"]: r for r in table["rows"]}
    assert rows["sdrrl"]["values"]["ja"] == 75.0 and rows["sft-en"]["values"]["ja"] == 30.0
    assert rows["sft-en"]["delta"]["ja"] == -45.0  # against the reference arm
    assert rep["reference"] == "sdrrl" and rep["baseline"] == "sdrrl" and rep["seeds"] == [0, 1]
    p = rows["sft-en"]["p_value"]["ja"]
    assert p is not None and p < 0.001  # 45 points on 40 items, same items for both arms
    assert rows["sdrrl"]["p_value"]["ja"] in (None, 1.0)  # the reference against itself


def test_arms_without_model_answers_do_not_generate(tmp_path):
    cfg = load_config(DEMO, [f"out_dir={tmp_path}/c"])
    assert not arm_config(cfg, "translate-then-sft", 0).generate.generate_all
    assert arm_config(cfg, "ablation-no-codeswitch", 0).generate.generate_all


def test_the_demo_evaluates_every_item():
    assert load_config(DEMO).eval.limit is None  # eval.limit is for tests


def test_adding_arms_or_seeds_keeps_the_finished_runs(tmp_path):
    from sdrrl_ray.app.compare import run_digest
    from sdrrl_ray.transfer.fingerprint import fingerprint

    one = load_config(DEMO, [f"out_dir={tmp_path}/c", "compare.arms=[sdrrl]"])
    more = load_config(DEMO, [f"out_dir={tmp_path}/c", "compare.arms=[sft-en,sdrrl]", "compare.seeds=[0,1]"])
    a, b = arm_config(one, "sdrrl", 0), arm_config(more, "sdrrl", 0)
    assert run_digest(a) == run_digest(b)
    assert fingerprint(a, [], {}) == fingerprint(b, [], {})  # the transfer set resumes instead of refusing
    assert run_digest(a) != run_digest(arm_config(one, "sdrrl", 1))
