"""The CIT and XCOT baseline presets through the real `sdrrl transfer-set` (local Ray, the demo models):
each writes the subsets its paper baseline describes and nothing else. The cheap check beside
tests/integration/test_compare.py, which runs two arms end to end; the unit tier builds the same shapes
from the stage functions (tests/unit/test_baselines.py)."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from sdrrl_ray.config import load_config
from sdrrl_ray.layout.parts import read_parts as read_output
from sdrrl_ray.transfer.run import run_transfer_set
from tests.conftest import ROOT

PRESETS = os.path.join(ROOT, "jobs", "configs", "presets")
TINY = ["data.limit=24", "languages.targets=[ja]", "translate.beam_size=1", "rows_per_file=64"]


def _run(name, tmp_path):
    out = tmp_path / name
    manifest = run_transfer_set(load_config(os.path.join(PRESETS, f"{name}.yaml"), [f"out_dir={out}", *TINY]))
    assert manifest["rows_in"] == 24 == manifest["rows_out"] + manifest["rows_rejected"]
    return manifest, read_output(str(out), "transfer_set").to_pylist()


@pytest.mark.timeout(900)
def test_cit_and_xcot_presets_write_their_subsets(ray_local, demo_model, tmp_path):
    manifest, rows = _run("cit", tmp_path)
    assert {s for s, n in manifest["subsets"].items() if n} == {"LT"}
    assert rows and all(r["subset"] == "LT" and r["question_lang"] == "en" and r["answer_lang"] == "ja"
                        and r["answer_source"] == "gold" and not r["n_switched"] for r in rows)

    manifest, rows = _run("xcot", tmp_path)
    assert {s for s, n in manifest["subsets"].items() if n} == {"LL", "TL", "TT"}
    assert {(r["subset"], r["question_lang"], r["answer_lang"]) for r in rows} == {
        ("LL", "en", "en"), ("TL", "ja", "en"), ("TT", "ja", "ja")}
    assert {r["answer_source"] for r in rows} == {"gold"}
    switched = Counter(r["subset"] for r in rows if r["n_switched"])
    assert set(switched) == {"LL", "TL", "TT"}, switched  # English and translated questions are code-switched
