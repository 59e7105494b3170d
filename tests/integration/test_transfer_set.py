"""`sdrrl transfer-set` on real local Ray with the project's tiny model: ingest -> answer choice -> generate.

These runs keep the LL subset only (no translation), which is what the generation engines need to
be tested on; the full transfer set is tested in test_transfer_set_full.py.
"""

from __future__ import annotations

import os
import subprocess

import pyarrow.compute as pc
import pytest

from sdrrl_ray.config import load_config
from sdrrl_ray.layout.parts import read_parts as read_output
from sdrrl_ray.layout.paths import REJECTS
from sdrrl_ray.schema import SUBSET_DOCS
from sdrrl_ray.transfer.run import run_transfer_set
from tests.conftest import DEMO_CONFIG as DEMO
from tests.conftest import ROOT, kill_after_first_commit, sdrrl_cmd, write_jsonl

MODEL_COLUMNS = {"gen_cached", "answer"}
GENERATION_ONLY = ["transfer.subsets=[LL]", "parallel.enabled=false", "code_switch.enabled=false",
                   "languages.targets=[ja]"]


def engine_param():
    return [pytest.param("hf", id="hf"), pytest.param("vllm", id="vllm", marks=pytest.mark.vllm)]


def overrides(out, engine="hf", *extra):
    vllm = ["generate.pool.num_cpus=1", "generate.max_model_len=256"] if engine == "vllm" else []
    return [
        f"out_dir={out}",
        "data.limit=200",  # of the demo's own instructions (the demo config's data.path)
        f"generate.engine={engine}",
        "generate.max_new_tokens=24",
        "rows_per_file=32",
        *GENERATION_ONLY,
        *vllm,
        *extra,
    ]


def kept(out):
    return read_output(str(out), "transfer_set").sort_by("id")


def generations(out):
    """item_id -> saved generated answer (the generation cache under OUT/generations)."""
    (key,) = os.listdir(os.path.join(out, "generations"))
    table = read_output(os.path.join(out, "generations"), key)
    return dict(zip(table.column("item_id").to_pylist(), table.column("generated_answer").to_pylist()))


def check_accounting(manifest, out):
    assert manifest["rows_in"] == manifest["rows_out"] + manifest["rows_rejected"]
    for name, s in manifest["stages"].items():
        assert s["in"] - s["rejected"] == s["out"] / s["fanout"], name
    rejects = read_output(str(out), REJECTS)
    n_rejects = rejects.num_rows if rejects is not None else 0
    assert kept(out).num_rows + n_rejects == manifest["rows_in"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("engine", engine_param())
def test_200_demo_instruction_rows(ray_local, demo_model, tmp_path, engine):
    cfg = load_config(DEMO, overrides(tmp_path / "a", engine))
    manifest = run_transfer_set(cfg)
    assert manifest["rows_in"] == 200
    check_accounting(manifest, tmp_path / "a")
    table = kept(tmp_path / "a")
    rows = table.to_pylist()
    assert {r["subset"] for r in rows} == {"LL"} and all(r["question_lang"] == r["answer_lang"] == "en" for r in rows)
    selves = [r for r in rows if r["answer_source"] == "self"]
    golds = [r for r in rows if r["answer_source"] == "gold"]
    assert 60 < len(selves) and 60 < len(golds)
    saved = generations(tmp_path / "a")
    assert all(r["answer"] == saved[r["item_id"]] and r["answer"].strip() for r in selves)
    assert not any(r["item_id"] in saved for r in golds)  # gold items are not generated
    assert manifest["stages"]["generate"]["unit"] == "item"
    assert manifest["subsets"]["LL"] == len(rows)
    assert manifest["provenance"]["inputs"][0]["sha256"]
    assert manifest["versions"]["ray"] and "demo data written for sdrrl-ray" in " ".join(manifest["licences"])
    card = (tmp_path / "a" / "README.md").read_text(encoding="utf-8")  # the dataset card, beside the parts
    assert f"| LL | {SUBSET_DOCS['LL']} | {len(rows)} | {len(rows)} |" in card

    # determinism: a second run into a fresh folder gives the same rows
    again = run_transfer_set(load_config(DEMO, overrides(tmp_path / "b", engine)))
    assert again["rows_out"] == manifest["rows_out"]
    assert kept(tmp_path / "b").drop_columns(["gen_cached"]).equals(table.drop_columns(["gen_cached"]))

    # a finished run re-run does no work and writes nothing
    before = sorted(os.listdir(tmp_path / "a" / "transfer_set"))
    run_transfer_set(cfg)
    assert sorted(os.listdir(tmp_path / "a" / "transfer_set")) == before


@pytest.mark.timeout(600)
def test_other_targets_reuse_saved_generations(ray_local, demo_model, tmp_path):
    """Per-target jobs share the saved answers (generate.cache_dir): the second target generates nothing."""
    shared = f"generate.cache_dir={tmp_path / 'generations'}"
    run_transfer_set(load_config(DEMO, overrides(tmp_path / "ja", "hf", "data.limit=40", shared,
                                                 "languages.targets=[ja]")))
    parts = sorted(os.listdir(tmp_path / "generations" / os.listdir(tmp_path / "generations")[0]))
    manifest = run_transfer_set(load_config(DEMO, overrides(tmp_path / "th", "hf", "data.limit=40", shared,
                                                            "languages.targets=[th]")))
    table = kept(tmp_path / "th")
    selves = pc.equal(table.column("answer_source"), "self")
    assert pc.sum(selves).as_py() > 0
    assert pc.all(pc.filter(table.column("gen_cached"), selves)).as_py()
    assert sorted(os.listdir(tmp_path / "generations" / os.listdir(tmp_path / "generations")[0])) == parts
    assert set(table.column("tgt_lang").to_pylist()) == {"th"} and manifest["rows_in"] == 40


@pytest.mark.timeout(600)
def test_resume_after_kill(demo_model, tmp_path):
    slow = ["generate.max_new_tokens=48", "rows_per_file=8", "generate.pool.batch_size=4", "generate.generate_all=true"]
    args = overrides(tmp_path / "killed", "hf", *slow)
    assert kill_after_first_commit(["transfer-set", DEMO, *args], tmp_path / "killed", 300), \
        "the run finished before it could be killed"
    partial = read_output(str(tmp_path / "killed"), "transfer_set")
    assert partial is not None and 0 < partial.num_rows < 200

    done = subprocess.run(sdrrl_cmd("transfer-set", DEMO, *args), capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    full = subprocess.run(sdrrl_cmd("transfer-set", DEMO, *overrides(tmp_path / "clean", "hf", *slow)),
                          capture_output=True, text=True, timeout=400)
    assert full.returncode == 0, full.stderr[-2000:]

    resumed, clean = kept(tmp_path / "killed"), kept(tmp_path / "clean")
    ids = resumed.column("id").to_pylist()
    assert len(ids) == len(set(ids)) == clean.num_rows
    assert ids == clean.column("id").to_pylist()
    stable = [c for c in clean.column_names if c not in MODEL_COLUMNS]
    assert resumed.select(stable).equals(clean.select(stable))
    assert "rows_in=200" in done.stdout


def run_cli(*args, timeout=300):
    return subprocess.run(sdrrl_cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.timeout(300)
def test_cli_user_errors_exit_2_with_one_line(tmp_path):
    (tmp_path / "broken.json").write_text('[{"instruction": "a", ')
    res = run_cli("transfer-set", DEMO, f"out_dir={tmp_path / 'o'}", f"data.path={tmp_path / 'broken.json'}")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("sdrrl: error: input") and "broken.json" in res.stderr
    assert "Traceback" not in res.stderr

    res = run_cli("transfer-set", DEMO, "generate.tempreature=1")
    assert res.returncode == 2 and "generate.tempreature" in res.stderr and "Traceback" not in res.stderr

    res = run_cli("transfer-set", str(tmp_path / "missing.yaml"))
    assert res.returncode == 2 and "missing.yaml" in res.stderr


@pytest.mark.timeout(600)
def test_hostile_jsonl_through_the_plan(ray_local, demo_model, tmp_path):
    path = write_jsonl(
        tmp_path / "hostile.jsonl",
        [
            {"instruction": "Name a colour.", "output": "Blue."},
            "{broken",
            {"instruction": "", "output": "x"},
            {"instruction": "Name a colour.", "output": "Blue."},
            {"instruction": ["list"], "output": "x"},
            {"instruction": "Count to three.", "output": "One, two, three."},
        ],
    )
    manifest = run_transfer_set(load_config(DEMO, [f"out_dir={tmp_path / 'o'}", f"data.path={path}", "answer.mode=gold",
                                                   *GENERATION_ONLY]))
    assert manifest["rows_in"] == 6 and manifest["rows_out"] == 2 and manifest["rows_rejected"] == 4
    assert manifest["reject_reasons"] == {"duplicate_id": 1, "empty_field": 1, "invalid_json": 1, "wrong_type": 1}
    rejects = read_output(str(tmp_path / "o"), REJECTS).to_pylist()
    assert sorted(r["line"] for r in rejects) == [2, 3, 4, 5]
