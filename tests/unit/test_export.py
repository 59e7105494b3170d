"""``sdrrl export`` and the dataset card, without Ray: a transfer set written by hand with the commit
protocol the sink uses, exported, then read back the way LLaMA-Factory and ``datasets`` read it
(following ``dataset_info.json``), with the weights training computes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from sdrrl_ray.app.export import FORMATS, export_transfer_set
from sdrrl_ray.config import load_config
from sdrrl_ray.errors import UserError
from sdrrl_ray.layout.parts import write_committed
from sdrrl_ray.layout.paths import REJECTS, TRANSFER_SET, Out
from sdrrl_ray.schema import COMP, KEPT_SCHEMA, LL, LT, MT, REJECT_SCHEMA, SUBSETS, TL, TT
from sdrrl_ray.train.plan import build_index, row_keys
from sdrrl_ray.transfer.card import write_card
from tests.conftest import DEMO_CONFIG, ROOT

datasets = pytest.importorskip("datasets")

# rows per (target, subset): unequal, so Eq. 6 weights differ between subsets and targets
SHAPE = {"ja": {LL: 4, TL: 3, LT: 4, TT: 2, MT: 4, COMP: 2}, "th": {LL: 4, TL: 1, LT: 3, TT: 1, MT: 2, COMP: 1}}


def kept_rows(shape: dict = SHAPE) -> list[dict]:
    rows = []
    for tgt, subsets in shape.items():
        for subset, n in subsets.items():
            for i in range(n):
                item = f"par:{tgt}:{i}" if subset in (MT, COMP) else f"item{i}"
                rows.append(dict(id=f"{item}:{tgt}:{subset}:{i}", item_id=item, subset=subset, src_lang="en",
                                 tgt_lang=tgt, question=f"question {tgt} {subset} {i} «ü»", answer=f"answer {i}",
                                 answer_source="gold", pair_rows=1))
    return rows


def transfer_set(out, rows: list[dict], *, complete: bool = True, parts: int = 2) -> str:
    """``rows`` committed in ``parts`` parts, and a manifest as the transfer-set phase writes it."""
    for k in range(parts):
        write_committed(str(out), {TRANSFER_SET: pa.Table.from_pylist(rows[k::parts], schema=KEPT_SCHEMA),
                                   REJECTS: pa.Table.from_pylist([], schema=REJECT_SCHEMA)})
    cfg = load_config(DEMO_CONFIG, [f"out_dir={out}"]).to_dict()
    subsets = {s: sum(r["subset"] == s for r in rows) for s in SUBSETS}
    manifest = dict(rows_in=4, rows_out=4, rows_rejected=0, rows_written=len(rows), subsets=subsets, complete=complete,
                    config=cfg, licences=["instructions: Apache-2.0"], fingerprint="f00")
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return str(out)


def config(out, *overrides: str):
    return load_config(DEMO_CONFIG, [f"out_dir={out}", *overrides])


def training_weights(rows: list[dict], **kw) -> dict:
    """id -> the weight sdrrl train gives the row (its Index over these rows, no held-out split)."""
    idx = build_index([r["id"] for r in rows], [r["item_id"] for r in rows], [r["subset"] for r in rows],
                      heldout_fraction=0.0, seed=0, **kw)
    by_key = {k: r["id"] for k, r in zip(row_keys([r["id"] for r in rows]).tolist(), rows)}
    return {by_key[k]: w for k, w in zip(idx.train_keys.tolist(), idx.train_weights.tolist())}


def load_entry(folder: str, name: str, entry: dict, cache) -> "datasets.Dataset":
    """What LLaMA-Factory does with a dataset_info.json entry: its file, read by the json builder."""
    return datasets.load_dataset("json", data_files=os.path.join(folder, entry["file_name"]), split="train",
                                 cache_dir=str(cache))


def test_alpaca_export_is_read_through_dataset_info_with_the_training_weights(tmp_path):
    rows = kept_rows()
    out = transfer_set(tmp_path / "run", rows)
    result = export_transfer_set(config(out), "alpaca")
    folder = Out(out).export
    assert result["folder"] == folder and result["card"] == Out(out).card
    with open(os.path.join(folder, "dataset_info.json"), encoding="utf-8") as fh:
        info = json.load(fh)
    assert sorted(info) == ["sdrrl_ja_alpaca", "sdrrl_th_alpaca"]
    for name, entry in info.items():
        tgt = name.split("_")[1]
        assert entry["formatting"] == "alpaca"
        cols = entry["columns"]
        assert cols == {"prompt": "instruction", "query": "input", "response": "output"}
        ds = load_entry(folder, name, entry, tmp_path / "hf")
        mine = [r for r in rows if r["tgt_lang"] == tgt]
        assert ds.num_rows == len(mine) == result["datasets"][name]["rows"]
        by_id = {r["id"]: r for r in mine}
        expected = training_weights(mine, weighting="eq6")  # one model per target (train.per_target)
        for rec in ds:
            row = by_id[rec["id"]]
            assert (rec[cols["prompt"]], rec[cols["query"]], rec[cols["response"]]) == (row["question"], "",
                                                                                       row["answer"])
            assert (rec["subset"], rec["target"], rec["item_id"]) == (row["subset"], tgt, row["item_id"])
            assert rec["weight"] == pytest.approx(expected[rec["id"]], rel=1e-12)
        assert sum(ds["weight"]) == pytest.approx(len(mine))  # Eq. 6 weights have mean 1


def test_sharegpt_export_of_one_target_with_system_prompt_merges_dataset_info(tmp_path):
    rows = kept_rows()
    out = transfer_set(tmp_path / "run", rows)
    folder = tmp_path / "llama_factory_data"
    folder.mkdir()
    theirs = {"alpaca_en_demo": {"file_name": "alpaca_en_demo.json"}}
    (folder / "dataset_info.json").write_text(json.dumps(theirs), encoding="utf-8")
    result = export_transfer_set(config(out, "generate.system_prompt=Answer briefly."), "sharegpt", "th", str(folder))
    info = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8"))
    assert sorted(info) == ["alpaca_en_demo", "sdrrl_th_sharegpt"] and list(result["datasets"]) == ["sdrrl_th_sharegpt"]
    entry = info["sdrrl_th_sharegpt"]
    assert entry["formatting"] == "sharegpt"
    assert entry["columns"] == {"messages": "conversations", "system": "system"}
    tags = entry["tags"]
    assert (tags["role_tag"], tags["content_tag"], tags["user_tag"], tags["assistant_tag"]) == (
        "from", "value", "human", "gpt")
    ds = load_entry(str(folder), "sdrrl_th_sharegpt", entry, tmp_path / "hf")
    th = {r["id"]: r for r in rows if r["tgt_lang"] == "th"}
    assert ds.num_rows == len(th)
    expected = training_weights(list(th.values()), weighting="eq6")
    for rec in ds:
        turns = rec[entry["columns"]["messages"]]
        assert [t[tags["role_tag"]] for t in turns] == [tags["user_tag"], tags["assistant_tag"]]
        assert [t[tags["content_tag"]] for t in turns] == [th[rec["id"]]["question"], th[rec["id"]]["answer"]]
        assert rec["system"] == "Answer briefly."
        assert rec["weight"] == pytest.approx(expected[rec["id"]], rel=1e-12)
    assert not (folder / "README.md").exists()  # the card goes to OUT, never into a data folder


def test_weights_follow_the_training_groups_and_the_weighting(tmp_path):
    rows = kept_rows()
    out = transfer_set(tmp_path / "run", rows)
    export_transfer_set(config(out, "train.per_target=false"), "alpaca", out=str(tmp_path / "multi"))
    expected = training_weights(rows, weighting="eq6")  # one model on every target
    got = {}
    for tgt in SHAPE:
        with open(tmp_path / "multi" / f"sdrrl_{tgt}_alpaca.jsonl", encoding="utf-8") as fh:
            got.update({rec["id"]: rec["weight"] for rec in map(json.loads, fh)})
    assert got == pytest.approx(expected, rel=1e-12)
    export_transfer_set(config(out, "train.loss_weighting=mean"), "alpaca", "ja", out=str(tmp_path / "mean"))
    with open(tmp_path / "mean" / "sdrrl_ja_alpaca.jsonl", encoding="utf-8") as fh:
        assert {json.loads(line)["weight"] for line in fh} == {1.0}


def test_the_parquet_transfer_set_loads_and_the_card_has_its_counts(tmp_path):
    rows = kept_rows()
    out = transfer_set(tmp_path / "run", rows, parts=3)
    card = write_card(out)
    assert card == os.path.join(out, "README.md")
    assert sorted(os.listdir(os.path.join(out, TRANSFER_SET))) == sorted(
        f for f in os.listdir(os.path.join(out, TRANSFER_SET)) if f.startswith("part-"))  # nothing else in it
    assert pq.read_table(os.path.join(out, TRANSFER_SET)).num_rows == len(rows)  # a folder read whole still works
    ds = datasets.load_dataset("parquet", data_files=os.path.join(out, TRANSFER_SET, "part-*.parquet"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == len(rows) and set(KEPT_SCHEMA.names) <= set(ds.column_names)
    via_card = datasets.load_dataset(out, split="train", cache_dir=str(tmp_path / "hf2"))  # the card's configs
    assert via_card.num_rows == len(rows)

    text = open(card, encoding="utf-8").read()
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["language"] == ["en", "ja", "th"] and meta["license"] == "other"
    assert "inherits the instruction set's and the parallel corpus's licences" in meta["license_details"]
    assert {"text-generation", "translation"} <= set(meta["task_categories"])
    assert meta["configs"][0]["data_files"][0]["path"] == "transfer_set/part-*.parquet"
    for subset in SUBSETS:
        ja, th = SHAPE["ja"][subset], SHAPE["th"][subset]
        line = next(ln for ln in body.splitlines() if ln.startswith(f"| {subset} |"))
        assert line.endswith(f"| {ja} | {th} | {ja + th} |"), line
    assert f"| all | | {sum(SHAPE['ja'].values())} | {sum(SHAPE['th'].values())} | {len(rows)} |" in body
    for column in KEPT_SCHEMA.names:
        assert f"| {column} |" in body
    assert 'load_dataset("parquet"' in body and "Apache-2.0" in body


def test_user_errors_say_what_where_and_how(tmp_path):
    empty = tmp_path / "empty"
    with pytest.raises(UserError, match=r"no transfer set in .*empty.*run `sdrrl transfer-set CONFIG` first"):
        export_transfer_set(config(empty), "alpaca")
    out = transfer_set(tmp_path / "run", kept_rows())
    with pytest.raises(UserError, match=r"--format 'xml' is not one of alpaca, sharegpt"):
        export_transfer_set(config(out), "xml")
    assert FORMATS == ("alpaca", "sharegpt")
    with pytest.raises(UserError, match=r"--target km is not in the transfer set .* \(it has ja, th\)"):
        export_transfer_set(config(out), "alpaca", "km")
    partial = transfer_set(tmp_path / "partial", kept_rows(), complete=False)
    with pytest.raises(UserError, match=r"is not complete .*does not say complete.*finish it"):
        export_transfer_set(config(partial), "alpaca")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match=r"cannot write the export into"):
        export_transfer_set(config(out), "alpaca", out=str(tmp_path / "file" / "sub"))


def test_the_command_maps_a_user_error_to_one_line_and_exit_2(tmp_path):
    out = transfer_set(tmp_path / "run", kept_rows())
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    for args, message in [(["--format", "xml"], "--format 'xml' is not one of alpaca, sharegpt"),
                          (["--target", "km"], "--target km is not in the transfer set")]:
        res = subprocess.run([sys.executable, "-m", "sdrrl_ray", "export", DEMO_CONFIG, f"out_dir={out}", *args],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 2, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
        assert res.stderr.startswith("sdrrl: error: ") and message in res.stderr
    for options in (["--format", "sharegpt", "--target", "ja"], ["format=sharegpt", "target=ja"]):  # both spellings
        res = subprocess.run([sys.executable, "-m", "sdrrl_ray", "export", DEMO_CONFIG, f"out_dir={out}", *options],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        assert res.stdout.splitlines()[0].startswith(f"sdrrl_ja_sharegpt: {sum(SHAPE['ja'].values())} rows -> ")
