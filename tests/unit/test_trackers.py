"""train.report_to trackers with the real packages, offline, read back from what each one wrote."""

from __future__ import annotations

import glob
import json
import struct
import time

import pytest

from sdrrl_ray.config import TrainConfig
from sdrrl_ray.errors import ConfigError, UserError
from sdrrl_ray.layout.paths import Out
from sdrrl_ray.train.trackers import check_trackers, flatten, open_trackers, tracker_spec

STEPS = [dict(step=s, epoch=0, loss=1.0 / s, loss_LL=2.0 / s, loss_TT=3.0 / s, lr=1e-3 * s, grad_norm=None,
              tokens_per_s=100.0 + s) for s in (1, 2, 3)]
PARAMS = {"seed": 3, "train": {"learning_rate": 2e-5, "report_to": ["tensorboard"], "lora": {}}}


def _run(tmp_path, monkeypatch, names):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 opens its file store only when asked
    spec = tracker_spec(names, out_dir=str(tmp_path), run="sdrrl-train-ja-abc", params=PARAMS)
    trackers = open_trackers(spec)
    for m in STEPS:
        trackers.log(m["step"], m)
    trackers.log(3, {"heldout_loss": 0.75, "heldout_loss_LL": 0.5}, group="eval")
    trackers.close()
    return spec


def wandb_records(path: str):
    """The protobuf records of a W&B ``run-*.wandb`` file (LevelDB-style log: 7-byte header, 32 KiB blocks)."""
    from wandb.proto import wandb_internal_pb2

    data = open(path, "rb").read()
    assert data[:4] == b":W&B"
    pos, block, chunks = 7, 32768, []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer: padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunks.append(data[pos + 7:pos + 7 + length])
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(b"".join(chunks))
            chunks = []
            yield rec


def wandb_run_records(path: str, wait_s: float = 30.0) -> list:
    """The records of a finished run: wandb-core may still be writing the file when ``finish()`` returns."""
    deadline = time.monotonic() + wait_s
    while True:
        records = list(wandb_records(path))
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def test_config_checks_report_to():
    assert TrainConfig().report_to == () and TrainConfig(report_to=("wandb", "mlflow")).report_to
    with pytest.raises(ConfigError, match="train.report_to"):
        TrainConfig(report_to=("neptune",))
    with pytest.raises(ConfigError, match="train.eval_every_steps"):
        TrainConfig(eval_every_steps=-1)


def test_missing_package_is_one_line_user_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(UserError, match="pip install wandb") as exc:
        check_trackers(["tensorboard", "wandb"])
    assert "\n" not in str(exc.value)
    check_trackers(["tensorboard", "mlflow"])


def test_flatten_config():
    assert flatten(PARAMS) == {"seed": 3, "train.learning_rate": 2e-5, "train.report_to": '["tensorboard"]',
                               "train.lora": "{}"}


def test_tensorboard_event_files(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = _run(tmp_path, monkeypatch, ["tensorboard"])
    assert spec["tensorboard"] == Out(str(tmp_path)).tensorboard("sdrrl-train-ja-abc")
    ea = EventAccumulator(spec["tensorboard"])
    ea.Reload()
    assert {"train/loss", "train/loss_LL", "train/loss_TT", "train/lr", "train/tokens_per_s",
            "eval/heldout_loss"} <= set(ea.Tags()["scalars"])
    assert [(e.step, round(e.value, 4)) for e in ea.Scalars("train/loss_TT")] == [(1, 3.0), (2, 1.5), (3, 1.0)]
    assert [e.value for e in ea.Scalars("eval/heldout_loss")] == [0.75]
    assert "train/grad_norm" not in ea.Tags()["scalars"]  # None values are skipped


def test_mlflow_file_store(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    spec = _run(tmp_path, monkeypatch, ["mlflow"])
    assert spec["mlflow"] == "file://" + str(tmp_path / "mlruns")
    client = MlflowClient(spec["mlflow"])
    run = client.search_runs([client.get_experiment_by_name("sdrrl").experiment_id])[0]
    assert run.info.run_name == "sdrrl-train-ja-abc" and run.info.status == "FINISHED"
    assert run.data.params["train.learning_rate"] == "2e-05" and run.data.params["seed"] == "3"
    hist = client.get_metric_history(run.info.run_id, "train/loss_LL")
    assert [(m.step, m.value) for m in hist] == [(1, 2.0), (2, 1.0), (3, 2.0 / 3)]
    assert client.get_metric_history(run.info.run_id, "eval/heldout_loss")[0].value == 0.75


def test_wandb_offline_run(tmp_path, monkeypatch):
    _run(tmp_path, monkeypatch, ["wandb"])
    files = glob.glob(str(tmp_path / "wandb" / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(files) == 1
    history, config, names, kinds = [], {}, [], []
    for rec in wandb_run_records(files[0]):
        kind = rec.WhichOneof("record_type")
        kinds.append(kind)
        if kind == "history":
            history.append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item})
        elif kind == "config":
            config.update({i.key: json.loads(i.value_json) for i in rec.config.update})
        elif kind == "run":
            names.append(rec.run.display_name)
    assert "sdrrl-train-ja-abc" in names, (names, kinds)
    losses = [(h["_step"], h["train/loss"]) for h in history if "train/loss" in h]
    assert losses == [(1, 1.0), (2, 0.5), (3, 1 / 3)]
    assert any(h.get("eval/heldout_loss") == 0.75 for h in history)
    lr = config["train.learning_rate"]  # the config record holds {"value": ...} per key
    assert (lr.get("value") if isinstance(lr, dict) else lr) == 2e-5
