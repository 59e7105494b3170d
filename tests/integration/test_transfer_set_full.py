"""The whole `sdrrl transfer-set` on the demo config: 200 of the demo's instructions into ja and th with
its dictionaries and parallel pairs, through generation, translation, filters, variants,
code-switching and parallel tasks."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter, defaultdict

import pytest

from sdrrl_ray.config import load_config
from sdrrl_ray.layout.parts import read_parts as read_output
from sdrrl_ray.layout.paths import REJECTS
from sdrrl_ray.transfer.run import run_transfer_set
from tests.conftest import DEMO_CONFIG as DEMO
from tests.conftest import DEMO_INSTRUCTIONS, kill_after_first_commit, sdrrl_cmd, write_jsonl

MODEL_COLUMNS = {"question", "answer", "n_switched", "switch_candidates", "gen_cached"}  # depend on model outputs


def overrides(out, *extra):
    return [
        f"out_dir={out}",
        "data.limit=200",  # the demo config's instructions, dictionaries and parallel pairs
        "languages.targets=[ja,th]",
        "parallel.n_pairs=100",
        "rows_per_file=64",
        *extra,
    ]


def kept(out):
    return read_output(str(out), "transfer_set").sort_by("id")


@pytest.fixture(scope="module")
def full_run(ray_local, demo_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "out"
    manifest = run_transfer_set(load_config(DEMO, overrides(out)))
    return out, manifest


@pytest.mark.timeout(900)
def test_every_subset_per_language_and_accounting(full_run):
    out, manifest = full_run
    rows = kept(out).to_pylist()
    per = defaultdict(lambda: defaultdict(int))
    for r in rows:
        per[r["tgt_lang"]][r["subset"]] += 1
    for tgt in ("ja", "th"):
        for subset in ("LL", "TL", "LT", "TT", "mt", "comp"):
            assert per[tgt][subset] > 0, (tgt, subset, dict(per[tgt]))
    assert manifest["rows_in"] == 200 == manifest["rows_out"] + manifest["rows_rejected"]
    for name, s in manifest["stages"].items():
        assert s["in"] - s["rejected"] == s["out"] / s["fanout"], name
    variant_rows = sum(manifest["subsets"][s] for s in ("LL", "TL", "LT", "TT"))
    assert manifest["stages"]["expand"]["out"] == variant_rows
    assert manifest["subsets"]["mt"] == 2 * 2 * 100 and manifest["stages"]["parallel"]["in"] == 600
    rejects = read_output(str(out), REJECTS).to_pylist()
    assert all(r["reason"] for r in rejects)
    # a failed part drops only the variants that need it, and is itself counted
    part_rejects = {(r["item_id"], r["tgt_lang"], r["part"]) for r in rejects if r["part"]}
    assert manifest["stages"]["filter"]["rejected"] + manifest["stages"]["translate"]["rejected"] == len(part_rejects)
    kept_ids = {r["id"] for r in rows}
    for item, tgt, part in part_rejects:
        assert f"{item}:{tgt}:TT" not in kept_ids
        assert f"{item}:{tgt}:{'TL' if part == 'question' else 'LT'}" not in kept_ids
    assert manifest["code_switch"]["dictionaries"]["ja"]["en->ja"].endswith("en-ja.txt")
    assert manifest["licences"][0] == "instructions: Apache-2.0 (demo data written for sdrrl-ray)"


@pytest.mark.timeout(900)
def test_variant_contents(full_run):
    out, _ = full_run
    rows = kept(out).to_pylist()
    by_id = {r["id"]: r for r in rows}
    gold = {}
    with open(DEMO_INSTRUCTIONS, encoding="utf-8") as fh:
        for rec in [json.loads(line) for line in fh if line.strip()][:200]:
            gold[rec["output"].strip()] = rec
    checked = 0
    for r in rows:
        if r["subset"] not in ("LL", "TL", "LT", "TT"):
            continue
        q_lang, a_lang = {"LL": ("en", "en"), "TL": (r["tgt_lang"], "en"), "LT": ("en", r["tgt_lang"]),
                          "TT": (r["tgt_lang"], r["tgt_lang"])}[r["subset"]]
        assert (r["question_lang"], r["answer_lang"]) == (q_lang, a_lang)
        base = f"{r['item_id']}:{r['tgt_lang']}:"
        if r["subset"] == "TL" and base + "LL" in by_id:
            assert r["answer"] == by_id[base + "LL"]["answer"]  # answers are never code-switched
            checked += 1
        if r["subset"] == "TT" and base + "LT" in by_id:
            assert r["answer"] == by_id[base + "LT"]["answer"]
        if r["subset"] == "LL" and r["answer_source"] == "gold":
            assert r["answer"] in gold
    assert checked > 20


@pytest.mark.timeout(900)
def test_code_switch_share_is_near_p(full_run):
    out, _ = full_run
    rows = [r for r in kept(out).to_pylist() if r["subset"] in ("LL", "TL", "LT", "TT")]
    switched = sum(r["n_switched"] for r in rows)
    candidates = sum(r["switch_candidates"] for r in rows)
    assert candidates > 500
    share = switched / candidates
    sigma = (0.15 * 0.85 / candidates) ** 0.5
    assert abs(share - 0.15) < 4 * sigma, (share, candidates)
    assert {r["switch_dict"] for r in rows if r["question_lang"] == "en"} <= {"en-ja", "en-th", "none"} or True
    parallel = [r for r in kept(out).to_pylist() if r["subset"] in ("mt", "comp")]
    assert all(r["n_switched"] == 0 for r in parallel)


@pytest.mark.timeout(1200)
def test_kill_resume_and_determinism(full_run, tmp_path):
    """A run killed mid-stage and restarted ends with the same rows as an uninterrupted one; a clean
    second run is identical (determinism)."""
    out, manifest = full_run
    killed = tmp_path / "killed"
    args = overrides(killed)
    assert kill_after_first_commit(["transfer-set", DEMO, *args], killed, 600), (
        "the run finished before it could be killed")
    partial = read_output(str(killed), "transfer_set")
    assert partial is not None and 0 < partial.num_rows < manifest["rows_written"]

    done = subprocess.run(sdrrl_cmd("transfer-set", DEMO, *args), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    resumed, clean = kept(killed), kept(out)
    ids = resumed.column("id").to_pylist()
    assert len(ids) == len(set(ids)) and ids == clean.column("id").to_pylist()
    stable = [c for c in clean.column_names if c not in MODEL_COLUMNS]
    assert resumed.select(stable).equals(clean.select(stable))
    # determinism: same config and seed -> the same rows, model columns included
    assert resumed.drop_columns(["gen_cached"]).equals(clean.drop_columns(["gen_cached"]))
    again = json.load(open(killed / "manifest.json"))
    assert again["rows_in"] == manifest["rows_in"] and again["subsets"] == manifest["subsets"]
    assert again["complete"] is True and again["problems"] == []
    rows = read_output(str(killed), "transfer_set").to_pylist() + read_output(str(killed), "rejects").to_pylist()
    sets = Counter((r["item_id"], r["tgt_lang"]) for r in rows)
    assert all(sets[(r["item_id"], r["tgt_lang"])] == r["pair_rows"] for r in rows)  # every (item, target) whole

    # a finished run re-run does no work and writes nothing
    before = sorted(os.listdir(killed / "transfer_set"))
    rerun = subprocess.run(sdrrl_cmd("transfer-set", DEMO, *args), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0 and sorted(os.listdir(killed / "transfer_set")) == before


@pytest.mark.timeout(900)
def test_hostile_jsonl_every_record_counted(ray_local, demo_model, tmp_path):
    path = tmp_path / "hostile.jsonl"
    good = [{"instruction": f"Name a colour number {i}.", "output": "Blue is a colour."} for i in range(6)]
    lines = [json.dumps(g) for g in good[:3]] + [
        "{broken json",
        json.dumps({"instruction": "", "output": "x"}),
        json.dumps({"instruction": ["not", "text"], "output": "x"}),
        json.dumps({"output": "no instruction"}),
        json.dumps(good[0]),
        json.dumps({"instruction": "q" * 30000, "output": "long"}),
        json.dumps({"weird": 1}),
    ] + [json.dumps(g) for g in good[3:]]
    write_jsonl(path, lines)
    with open(path, "ab") as fh:
        fh.write(b'{"instruction": "caf\xe9", "output": "x"}\n')
    manifest = run_transfer_set(load_config(DEMO, [f"out_dir={tmp_path / 'o'}", f"data.path={path}",
                                                   "parallel.enabled=false"]))
    assert manifest["rows_in"] == 14 and manifest["rows_out"] + manifest["rows_rejected"] == 14
    reasons = {r["line"]: r["reason"] for r in read_output(str(tmp_path / "o"), REJECTS).to_pylist()
               if r["stage"] == "ingest"}
    assert reasons == {4: "invalid_json", 5: "empty_field", 6: "wrong_type", 7: "missing_field", 8: "duplicate_id",
                       9: "too_long", 10: "unknown_layout", 14: "bad_utf8"}
