"""The DeepSpeed config function, the LR schedule, driver-side checks, presets, the log and the plot (no Ray)."""

from __future__ import annotations

import dataclasses
import glob
import json
import os

import pytest

from sdrrl_ray.config import TrainConfig, from_dict, load_config
from sdrrl_ray.errors import ConfigError, UserError
from sdrrl_ray.train.ds_config import WarmupDecay, check_batch, ds_config, resolve_export_dtype, resolve_precision
from tests.conftest import ROOT

PRESETS = os.path.join(ROOT, "jobs", "configs", "presets")


def tc(**kw):
    return dataclasses.replace(TrainConfig(), **kw)


def test_zero3_config_cpu_and_gpu():
    cpu = ds_config(tc(micro_batch_size=4, grad_accum=2), world_size=2, on_gpu=False)
    assert cpu["train_batch_size"] == 16 and cpu["train_micro_batch_size_per_gpu"] == 4
    assert cpu["gradient_accumulation_steps"] == 2
    assert cpu["zero_optimization"]["stage"] == 3
    assert cpu["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert cpu["bf16"] == {"enabled": False} and "optimizer" not in cpu  # fp32, client AdamW (nothing to compile)
    gpu = ds_config(tc(), world_size=8, on_gpu=True)
    assert gpu["bf16"] == {"enabled": True} and gpu["zero_optimization"]["overlap_comm"] is True
    assert resolve_precision(tc(), True) == "bf16" and resolve_precision(tc(), False) == "fp32"
    assert resolve_precision(tc(precision="bf16"), False) == "bf16"


def test_offload_and_stage_options():
    cfg = ds_config(tc(offload_optimizer=True, offload_params=True), 2, True)
    assert cfg["zero_optimization"]["offload_optimizer"] == {"device": "cpu", "pin_memory": True}
    assert cfg["zero_optimization"]["offload_param"]["device"] == "cpu"
    assert cfg["optimizer"]["type"] == "AdamW"  # DeepSpeed's CPU Adam with an offloaded optimizer
    with pytest.raises(ConfigError, match="offload_params needs train.zero_stage=3"):
        ds_config(tc(zero_stage=2, offload_params=True), 2, False)
    assert ds_config(tc(zero_stage=2), 2, False)["zero_optimization"]["stage"] == 2
    assert ds_config(tc(max_grad_norm=0.0), 2, False)["gradient_clipping"] == 0.0


def test_global_batch_mismatch_names_the_numbers():
    assert check_batch(tc(micro_batch_size=4, grad_accum=2, global_batch_size=16), 2) == 16
    with pytest.raises(ConfigError) as err:
        ds_config(tc(micro_batch_size=4, grad_accum=1, global_batch_size=32), world_size=2, on_gpu=False)
    msg = str(err.value)
    for part in ("global_batch_size=32", "micro_batch_size=4", "grad_accum=1", "world size 2", "= 8",
                 "train.grad_accum=4"):
        assert part in msg, (part, msg)


def test_export_dtype():
    assert resolve_export_dtype(tc(), on_gpu=True) == "bf16"
    assert resolve_export_dtype(tc(), on_gpu=False) == "fp32"
    assert resolve_export_dtype(tc(export_dtype="bf16"), on_gpu=False) == "bf16"
    with pytest.raises(ConfigError, match="export_dtype"):
        resolve_export_dtype(tc(export_dtype="int8"), on_gpu=False)


def test_lr_schedule():
    cos = WarmupDecay(total_steps=10, warmup_steps=2, kind="cosine")
    assert [round(cos(s), 3) for s in (0, 1, 2)] == [0.333, 0.667, 1.0]
    assert cos(10) == pytest.approx(0.0) and 0 < cos(6) < 1
    assert WarmupDecay(10, 0, "constant")(7) == 1.0
    assert WarmupDecay(10, 0, "linear")(5) == pytest.approx(0.5)


def test_driver_checks(tmp_path, monkeypatch):
    from sdrrl_ray.train import run

    cfg = from_dict({"out_dir": str(tmp_path), "train": {"lora": {"r": 8}}})
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "peft" else object())
    with pytest.raises(UserError, match="train.lora is set but the peft package is not installed"):
        run.check_train_config(cfg)
    monkeypatch.undo()
    with pytest.raises(UserError, match="no transfer set in .* run `sdrrl transfer-set CONFIG` first"):
        run.transfer_set_files(str(tmp_path))
    (tmp_path / "transfer_set").mkdir()
    for part in ("a", "b"):
        (tmp_path / "transfer_set" / f"part-{part}.parquet").write_bytes(b"x")
    assert [os.path.basename(p) for p in run.transfer_set_files(str(tmp_path))] == ["part-a.parquet", "part-b.parquet"]
    (tmp_path / ".commits").mkdir()
    (tmp_path / ".commits" / "b").write_text("1 0\n")
    assert [os.path.basename(p) for p in run.transfer_set_files(str(tmp_path))] == ["part-b.parquet"]


def test_fingerprint_ignores_operational_keys(tmp_path):
    from sdrrl_ray.train.run import fingerprint

    def fp(**train):
        cfg = from_dict({"out_dir": str(tmp_path), "train": train})
        return fingerprint(cfg, model_path="/m", targets=["ja"], sizes=[["part-a.parquet", 10]], max_length=256)

    assert fp() == fp(max_failures=3, storage_path="s3://b/x", report_interval_s=9.0, num_to_keep=5,
                   keep_checkpoints="all")
    assert fp() != fp(learning_rate=1e-3) and fp() != fp(loss_weighting="mean")


PRESET_NAMES = {"sft-en", "translate-then-sft", "cit", "xcot", "sdrrl", "ablation-no-tl-lt", "ablation-gold-only",
                "ablation-no-parallel", "ablation-no-codeswitch", "ablation-only-parallel"}


def test_presets_load_and_match_the_paper_variants():
    paths = {os.path.basename(p)[:-5]: p for p in glob.glob(os.path.join(PRESETS, "*.yaml"))}
    assert set(paths) == PRESET_NAMES
    cfg = {n: load_config(p) for n, p in paths.items()}
    for name, path in paths.items():
        head = open(path, encoding="utf-8").read().split("\n")[:8]
        assert head[0].startswith("# Preset:")
        assert any(f"sdrrl train jobs/configs/presets/{name}.yaml" in h for h in head)
        assert cfg[name].out_dir.endswith(f"out/presets/{name}")
    assert cfg["sft-en"].transfer.subsets == ("LL",) and not cfg["sft-en"].parallel.enabled
    assert not cfg["sft-en"].code_switch.enabled and cfg["sft-en"].answer.mode == "gold"
    assert cfg["translate-then-sft"].transfer.subsets == ("TT",) and cfg["translate-then-sft"].answer.mode == "gold"
    assert cfg["cit"].transfer.subsets == ("LT",) and not cfg["cit"].code_switch.enabled
    assert set(cfg["xcot"].transfer.subsets) == {"LL", "TL", "TT"} and cfg["xcot"].code_switch.enabled
    assert cfg["cit"].answer.mode == cfg["xcot"].answer.mode == "gold"
    full = cfg["sdrrl"]
    assert set(full.transfer.subsets) == {"LL", "TL", "LT", "TT", "mt", "comp"} and full.code_switch.enabled
    assert full.parallel.enabled and full.answer.mode == "mixed" and full.train.loss_weighting == "eq6"
    assert set(cfg["ablation-no-tl-lt"].transfer.subsets) == {"LL", "TT", "mt", "comp"}
    assert cfg["ablation-gold-only"].answer.mode == "gold"
    assert set(cfg["ablation-no-parallel"].transfer.subsets) == {"LL", "TL", "LT", "TT"}
    assert not cfg["ablation-no-parallel"].parallel.enabled
    assert not cfg["ablation-no-codeswitch"].code_switch.enabled
    assert set(cfg["ablation-only-parallel"].transfer.subsets) == {"mt", "comp"}
    # each ablation changes only what its name says (out_dir aside)
    expected = {
        "ablation-no-tl-lt": {"transfer.subsets"},
        "ablation-gold-only": {"answer.mode"},
        "ablation-no-parallel": {"transfer.subsets", "parallel.enabled"},
        "ablation-no-codeswitch": {"code_switch.enabled"},
        "ablation-only-parallel": {"transfer.subsets", "answer.mode", "code_switch.enabled"},
    }
    flat_full = _flat(full.to_dict())
    for name, keys in expected.items():
        flat = _flat(cfg[name].to_dict())
        assert {k for k in flat if flat[k] != flat_full[k]} - {"out_dir"} == keys, name


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k not in ("paths", "lora", "resources", "resources_per_worker"):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = json.dumps(v, sort_keys=True)
    return out


def test_log_last_record_per_step_and_plot(tmp_path):
    from sdrrl_ray.train.metrics import JsonlLog, last_per_step, plot_losses, read_log

    url = str(tmp_path / "train_log.jsonl")
    log = JsonlLog(url, {"run": "r1", "target": "ja"})
    for step, loss in ((1, 3.0), (2, 2.0), (3, 1.5), (2, 2.1), (3, 1.4), (4, 1.0)):  # 2-3 redone after a restore
        log.write({"event": "step", "step": step, "epoch": 0, "loss": loss, "loss_LL": loss + 0.1})
    log.write({"event": "eval", "epoch": 0, "step": 4, "heldout_loss": 1.2})
    log.close()
    records = read_log(url)
    assert [r["loss"] for r in last_per_step(records, "r1")] == [3.0, 2.1, 1.4, 1.0]
    assert all(r["target"] == "ja" and "time" in r for r in records)
    png = plot_losses(records, {"ja": "r1"}, str(tmp_path / "plots" / "loss.png"))
    assert png and os.path.getsize(png) > 1000
    assert plot_losses(records, {"ja": "other"}, str(tmp_path / "x.png")) is None
    json.dumps(records)


def test_training_groups_and_model_folders(tmp_path):
    from sdrrl_ray.train.run import training_groups

    def groups(**kw):
        cfg = from_dict({"out_dir": str(tmp_path), "languages": {"targets": kw.pop("targets")}, "train": kw})
        return [(n, t, os.path.relpath(d, tmp_path)) for n, t, d in training_groups(cfg)]

    assert groups(targets=["ja"]) == [("ja", ["ja"], "model")]
    assert groups(targets=["ja", "th"]) == [("ja", ["ja"], "model/ja"), ("th", ["th"], "model/th")]
    assert groups(targets=["ja", "th"], per_target=False) == [("multi", ["ja", "th"], "model")]
