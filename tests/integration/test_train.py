"""Training on real local Ray: TorchTrainer + DeepSpeed ZeRO-3 on 2 CPU workers (gloo), the demo Llama.

No fakes: the transfer set is a Parquet file written here with the pipeline's column layout, and
every run goes through ``run_train`` (Ray Data tokenization, Ray Train, export, log, plot).
Fits are reused across assertions: one memorization run, one pair for gradient-accumulation
invariance (+ the Eq. 6 and gradient-norm references by hand), one pair for resume after a kill.
"""

from __future__ import annotations

import glob
import json
import math
import os
import time
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F

from sdrrl_ray.config import from_dict
from sdrrl_ray.schema import KEPT_SCHEMA
from tests.conftest import ROOT

os.environ.setdefault("TORCH_EXTENSIONS_DIR", os.path.join(ROOT, ".cache", "torch_extensions"))

# subjects and objects whose kanji are single tokens of the demo tokenizer
FACTS = [("cat", "fish", "猫", "魚"), ("dog", "mountains", "犬", "山"), ("bird", "flowers", "鳥", "花"),
         ("cow", "grass", "牛", "草"), ("man", "books", "人", "本"), ("tree", "water", "木", "水")]


def variant_rows(k: int) -> tuple[list[dict], str]:
    """Four variants of item k; every question is distinct, so each prompt has exactly one answer."""
    en, obj, ja, jobj = FACTS[k % len(FACTS)]
    return [
        dict(subset="LL", question=f"What does the {en} like?", answer=f"The {en} likes {obj}.", q="en", a="en"),
        dict(subset="TL", question=f"{ja}は何が好きですか？", answer=f"The {en} likes {obj}.", q="ja", a="en"),
        dict(subset="LT", question=f"Tell me what the {en} likes.", answer=f"{ja}は{jobj}が好きです。", q="en", a="ja"),
        dict(subset="TT", question=f"{ja}の好きなものは？", answer=f"{ja}は{jobj}が好きです。", q="ja", a="ja"),
    ], f"item{k}"


def make_rows(n_items: int = 6, n_mt: int = 0, extra: list | None = None) -> list[dict]:
    rows = []
    for k in range(n_items):
        variants, item = variant_rows(k)
        for v in variants:
            rows.append(dict(id=f"{item}:ja:{v['subset']}", item_id=item, subset=v["subset"], question=v["question"],
                             answer=v["answer"], question_lang=v["q"], answer_lang=v["a"]))
    for k in range(n_mt):
        item = f"par:ja:{k}"
        en, obj, ja, jobj = FACTS[k % len(FACTS)]
        rows.append(dict(id=f"{item}:mt", item_id=item, subset="mt",
                         question=f"Translate the following sentence from English to Japanese.\nThe {en} {k} likes"
                                  f" {'very many ' * (k % 3)}{obj}.",
                         answer=f"{ja}{k}は{jobj}" + "がとても" * (k % 3) + "好きです。", question_lang="en",
                         answer_lang="ja"))
    return rows + list(extra or [])


def copies(rows: list[dict], n: int) -> list[dict]:
    """n copies of each row as distinct items (same prompt, same answer): more steps per epoch."""
    return [dict(r, id=f"{r['id']}#{c}", item_id=f"{r['item_id']}#{c}") for c in range(n) for r in rows]


def write_transfer_set(out: str, rows: list[dict]) -> None:
    os.makedirs(os.path.join(out, "transfer_set"), exist_ok=True)
    full = []
    for i, r in enumerate(rows):
        full.append(dict(src_lang="en", tgt_lang="ja", answer_source="gold", n_switched=0, switch_candidates=0,
                         switch_dict="off", record=i, gen_cached=False, **r))
    table = pa.Table.from_pylist(full, schema=KEPT_SCHEMA)
    pq.write_table(table, os.path.join(out, "transfer_set", "part-00000.parquet"))


def config(out: str, **train) -> object:
    base = dict(num_workers=2, micro_batch_size=2, grad_accum=1, epochs=1, learning_rate=1e-3, lr_schedule="constant",
                warmup_ratio=0.0, heldout_fraction=0.0, max_length=64, zero_stage=3, report_interval_s=30.0)
    base.update(train)
    return from_dict(dict(out_dir=str(out), seed=0, languages=dict(source="en", targets=["ja"]),
                          generate=dict(model="demo"), train=base, ray=dict(num_cpus=4)))


def step_records(out: str, run: str) -> list[dict]:
    from sdrrl_ray.train.metrics import last_per_step, read_log

    return last_per_step(read_log(os.path.join(out, "train_log.jsonl")), run)


def load_weights(folder: str) -> dict:
    from safetensors.torch import load_file

    return load_file(os.path.join(folder, "model.safetensors"))


# ----------------------------------------------------------------------------------------------


@pytest.mark.timeout(600)
def test_memorize_export_reload_and_rerun(ray_local, demo_model, tmp_path, monkeypatch, capfd):
    """Loss goes down, every parameter changes, the exported folder reloads and greedy generation
    reproduces the trained answers; trims and rejects are counted; a rerun is skipped. The console is taken
    for a terminal (SDRRL_PROGRESS=1): the driver redraws one progress line from rank 0's log records."""
    from sdrrl_ray.engines.base import SamplingSettings
    from sdrrl_ray.engines.hf import HFEngine
    from sdrrl_ray.prompts import render_prompt
    from sdrrl_ray.train.run import run_train

    out = str(tmp_path / "memo")
    extra = [
        dict(id="long:q", item_id="long", subset="LL", question="word " * 80, answer="short", question_lang="en",
             answer_lang="en"),
        dict(id="long:a", item_id="long2", subset="LL", question="Say many words.", answer="many " * 80,
             question_lang="en", answer_lang="en"),
    ]
    memo = make_rows(6)
    rows = copies(memo, 4) + extra
    write_transfer_set(out, rows)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 opens its file store only when asked
    cfg = config(out, epochs=16, micro_batch_size=4, learning_rate=2e-3, report_to=["tensorboard", "mlflow", "wandb"])
    monkeypatch.setenv("SDRRL_PROGRESS", "1")
    summary = run_train(cfg)
    console = capfd.readouterr().err
    total = summary["targets"]["ja"]["train"]["steps_per_epoch"]
    redraws = [part for part in console.split("\r") if part.startswith("train ja ")]
    assert len(redraws) >= 2 and all(f"/{sum(total)} loss " in part for part in redraws), console[-2000:]

    model_dir = os.path.join(out, "model")
    assert summary["model_dirs"] == {"ja": model_dir}
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                 "chat_template.jinja", "train_summary.json"):
        assert os.path.isfile(os.path.join(model_dir, name)), name
    assert os.path.isfile(os.path.join(out, "plots", "loss.png"))
    manifest = json.load(open(os.path.join(out, "train_manifest.json")))
    tgt = manifest["targets"]["ja"]
    assert tgt["tokenize"]["rejected"] == 1 and tgt["tokenize"]["reject_reasons"] == {"prompt_too_long": 1}
    assert tgt["tokenize"]["trimmed"] == 1 and tgt["tokenize"]["ok"] == len(rows) - 2
    assert tgt["train"]["rows"] == len(rows) - 1
    assert tgt["result"]["steps"] == sum(tgt["train"]["steps_per_epoch"])

    steps = step_records(out, tgt["run"])
    assert len(steps) == tgt["result"]["steps"]
    per_epoch = [[r["loss"] for r in steps if r["epoch"] == e] for e in range(8)]
    first, last = sum(per_epoch[0]) / len(per_epoch[0]), sum(per_epoch[-1]) / len(per_epoch[-1])
    assert last < 0.1 * first, (first, last)
    assert all(r["tokens_per_s"] > 0 and r["lr"] == pytest.approx(2e-3) for r in steps)
    # train.report_to: every step's loss read back from each tracker's own files (rank 0 only: one run each)
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tests.unit.test_trackers import wandb_run_records

    ea = EventAccumulator(os.path.join(out, "tensorboard", tgt["run"]))
    ea.Reload()
    assert [e.value for e in ea.Scalars("train/loss")] == pytest.approx([r["loss"] for r in steps], rel=1e-6)
    assert {"train/lr", "train/tokens_per_s", "train/loss_LL", "train/loss_TL"} <= set(ea.Tags()["scalars"])
    client = MlflowClient("file://" + os.path.join(out, "mlruns"))
    (run,) = client.search_runs([client.get_experiment_by_name("sdrrl").experiment_id])
    assert run.info.run_name == tgt["run"] and run.data.params["train.learning_rate"] == "0.002"
    hist = client.get_metric_history(run.info.run_id, "train/loss")
    assert [(m.step, m.value) for m in hist] == [(r["step"], pytest.approx(r["loss"])) for r in steps]
    (wandb_file,) = glob.glob(os.path.join(out, "wandb", "wandb", "offline-run-*", "run-*.wandb"))
    logged = [rec.history for rec in wandb_run_records(wandb_file) if rec.HasField("history")]
    assert len(logged) == len(steps)

    base, trained = load_weights(demo_model), load_weights(model_dir)
    assert set(base) <= set(trained)
    for name, tensor in base.items():
        assert not torch.equal(tensor, trained[name]), f"{name} did not change"
    assert trained["model.embed_tokens.weight"].dtype == torch.float32

    engine = HFEngine(model_dir)
    prompts = [render_prompt(engine.tokenizer, r["question"]) for r in memo]
    results = engine.generate(prompts, SamplingSettings(max_new_tokens=24))
    wrong = [(r["question"], r["answer"], g.text) for r, g in zip(memo, results) if g.text != r["answer"]]
    # the rebuilt demo base has strong priors of its own: 16 epochs reproduce 3 of the 6 rows word for word
    # (measured 2026-12-06) while the loss falls below a tenth (above)
    assert len(wrong) <= len(memo) // 2, wrong

    # after the export (train.keep_checkpoints=latest): the final checkpoint only, without optimizer state
    from sdrrl_ray.train.checkpoints import checkpoint_folders, filesystem

    (kept,) = checkpoint_folders(*filesystem(os.path.join(out, "checkpoints", tgt["run"])))
    assert tgt["pruned"]["kept"] == kept and len(tgt["pruned"]["folders_deleted"]) == 1
    left = [n for _, _, names in os.walk(kept) for n in names]
    assert "zero_pp_rank_0_mp_rank_00_model_states.pt" in left and not any("optim_states" in n for n in left)
    assert json.load(open(os.path.join(kept, "sdrrl-manifest.rank1.json")))["optimizer_state"] == "deleted"
    assert tgt["pruned"]["bytes_freed"] > 0 and len(tgt["pruned"]["files_deleted"]) == 2
    print(f"pruned: {tgt['pruned']}")
    card = open(os.path.join(model_dir, "README.md"), encoding="utf-8").read()
    assert card.startswith("---\nbase_model: ") and "## Training" in card

    again = run_train(cfg)  # a finished (pruned) run: said done, not resumed
    assert again["targets"]["ja"]["skipped"] is True


def eq6_reference(model_path: str, rows: list[dict], train_ids: set, batch: list[str]) -> tuple[float, float]:
    """(step loss, gradient norm) of one global batch, by hand in plain PyTorch on one process.

    Eq. 6: sum over subsets d of (1/|D_d|) sum_{x in D_d} CE(x), CE(x) the mean over x's answer tokens;
    a step's loss is (1/n_b) sum_{x in b} w_x CE(x) with w_x = N / (K |D_d|) over the N training rows.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sdrrl_ray.stages.tokenize import encode_example

    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    by_id = {r["id"]: r for r in rows}
    sizes = Counter(by_id[i]["subset"] for i in train_ids)
    n, k = len(train_ids), len(sizes)
    total = 0.0
    for rid in batch:
        enc = encode_example(tok, by_id[rid]["question"], by_id[rid]["answer"], 64)
        logits = model(input_ids=torch.tensor([enc["input_ids"]])).logits[0]
        ce = F.cross_entropy(logits[:-1], torch.tensor(enc["labels"])[1:], ignore_index=-100)
        total = total + n / (k * sizes[by_id[rid]["subset"]]) * ce
    loss = total / len(batch)
    loss.backward()
    norm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters() if p.grad is not None))
    return loss.item(), norm


@pytest.mark.timeout(900)
def test_grad_accum_invariance_eq6_reference_and_resume(ray_local, demo_model, tmp_path):
    """Three fits on one transfer set (answers of unequal length, Eq. 6 weights that differ by subset,
    a held-out split, step checkpoints every 2 steps, 2 epochs):

    - micro 4 x accum 1 ("plain", packed) and micro 1 x accum 4 (unpacked) give the same batches, losses
      and gradient norms at every step (world 2), and nearly the same weights;
    - plain's step-1 loss and gradient norm equal a by-hand plain-PyTorch Eq. 6 computation;
    - "killed" (as plain, a worker killed once at step 3, not a checkpoint step) restores step 2's
      checkpoint and continues with the step, LR and optimizer state plain had there: identical
      losses afterwards, each sample once per epoch, the same final weights;
    - "killed" also has train.export_every_epoch: OUT/epochs/ja/epoch-1 and epoch-2 are written once each
      (the best one is the model folder's weights), and the eval phase measures each one's off-target rate.
    """
    from sdrrl_ray.train.metrics import read_log
    from sdrrl_ray.train.run import run_train

    rows = make_rows(6, n_mt=10)
    settings = dict(epochs=2, checkpoint_every_steps=2, heldout_fraction=0.2, max_failures=1, learning_rate=2e-3,
                    lr_schedule="cosine", warmup_ratio=0.2, early_stopping_patience=0)
    marker = str(tmp_path / "killed.marker")
    out = str(tmp_path / "out")  # one OUT: the runs share the tokenized cache; each run has its own name
    write_transfer_set(out, rows)
    plans = {  # "plain" and "killed" also pack their micro-batches: packing must not change a number either
        "plain": (dict(micro_batch_size=4, grad_accum=1, packing=True), {"log_ids": True}),
        "accum": (dict(micro_batch_size=1, grad_accum=4), {"log_ids": True}),
        "killed": (dict(micro_batch_size=4, grad_accum=1, packing=True, export_every_epoch=True),
                   {"log_ids": True, "fail_at_step": 3, "fail_rank": 1, "fail_marker": marker, "fail_delay_s": 4.0}),
    }
    runs = {}
    for name, (batching, hooks) in plans.items():
        res = run_train(config(out, **settings, **batching), _test_hooks=hooks)
        summary = res["targets"]["ja"]
        records = [r for r in read_log(os.path.join(out, "train_log.jsonl")) if r["run"] == summary["run"]]
        runs[name] = (load_weights(os.path.join(out, "model")), summary, step_records(out, summary["run"]), records)
    assert len({s["run"] for _, s, _, _ in runs.values()}) == 3
    plain, accum, killed = (runs[k][2] for k in ("plain", "accum", "killed"))
    assert len(plain) >= 6 and runs["plain"][1]["train"]["steps_per_epoch"][0] >= 4

    # gradient-accumulation invariance
    assert len(accum) == len(plain)
    for rp, ra in zip(plain, accum):
        assert ra["ids"] == rp["ids"]
        assert ra["loss"] == pytest.approx(rp["loss"], rel=1e-5)
        assert ra["grad_norm"] == pytest.approx(rp["grad_norm"], rel=1e-4)
    evals = {k: [r["heldout_loss"] for r in runs[k][3] if r["event"] == "eval"] for k in ("plain", "accum")}
    assert len(evals["plain"]) == 2 and evals["accum"] == pytest.approx(evals["plain"], rel=1e-5)
    wp, wa = runs["plain"][0], runs["accum"][0]
    for name in wp:
        assert torch.allclose(wp[name], wa[name], atol=1e-4, rtol=0), name  # Adam: last-bit noise, not lr-sized

    # Eq. 6 and the gradient norm by hand
    train_ids = {i for r in plain if r["epoch"] == 0 for i in r["ids"]}
    assert len(train_ids) == runs["plain"][1]["train"]["rows"]
    loss, norm = eq6_reference(demo_model, rows, train_ids, plain[0]["ids"])
    assert plain[0]["loss"] == pytest.approx(loss, rel=1e-5)
    assert plain[0]["grad_norm"] == pytest.approx(norm, rel=1e-4)

    # resume after the kill
    assert os.path.exists(marker)
    starts = [r for r in runs["killed"][3] if r["event"] == "start"]
    assert [s["resumed"] for s in starts] == [False, True]
    assert starts[1]["step"] == 2 and starts[1]["step_in_epoch"] == 2 and starts[1]["epoch"] == 0
    assert starts[1]["lr"] == pytest.approx(plain[2]["lr"], rel=1e-9)  # the LR plain used at step 3
    assert [r["step"] for r in killed] == [r["step"] for r in plain]
    for rp, rk in zip(plain, killed):
        assert rk["ids"] == rp["ids"]
        assert rk["lr"] == pytest.approx(rp["lr"], rel=1e-9)
        assert rk["loss"] == pytest.approx(rp["loss"], rel=1e-6, abs=1e-7), rk["step"]
    for epoch in range(2):
        seen = Counter(i for r in killed if r["epoch"] == epoch for i in r["ids"])
        assert len(seen) == len(train_ids) and set(seen.values()) == {1}
    wk = runs["killed"][0]
    for name in wp:
        assert torch.allclose(wp[name], wk[name], atol=1e-6, rtol=0), name

    # the per-epoch exports of "killed" (train.export_every_epoch), then their off-target rates (paper Fig. 3)
    epochs_dir = os.path.join(out, "epochs", "ja")
    summary = runs["killed"][1]
    assert summary["epoch_exports"] == {str(k): os.path.join(epochs_dir, f"epoch-{k}") for k in (1, 2)}
    assert sorted(os.listdir(epochs_dir)) == ["epoch-1", "epoch-2"]
    exported = [(r["epoch"], r["path"]) for r in runs["killed"][3] if r["event"] == "epoch_export"]
    assert exported == [(0, summary["epoch_exports"]["1"]), (1, summary["epoch_exports"]["2"])]
    per_epoch = {k: load_weights(os.path.join(epochs_dir, f"epoch-{k}")) for k in (1, 2)}
    best = summary["result"]["best_epoch"]
    assert all(torch.equal(per_epoch[best + 1][n], wk[n]) for n in wk)  # one gather: the same weights
    assert not all(torch.equal(per_epoch[1][n], per_epoch[2][n]) for n in wk)
    assert os.path.isfile(os.path.join(epochs_dir, "epoch-1", "tokenizer.json"))

    from sdrrl_ray.config import load_config
    from sdrrl_ray.evaluation.run import run_eval

    started = time.perf_counter()
    rep = run_eval(load_config(None, [f"out_dir={out}", "languages.targets=[ja]", "generate.model=demo",
                                      "train.epochs=2", "train.export_every_epoch=true", "eval.tasks=[offtarget]",
                                      "eval.limit=2", "eval.max_new_tokens=8", "eval.models={base: demo}",
                                      "eval.contamination=false", "ray.num_cpus=4"]))
    print(f"eval of base + 2 per-epoch exports, off-target, 2 items: {time.perf_counter() - started:.1f}s")
    (row,) = rep["offtarget_epochs"]["rows"]
    assert [c["epoch"] for c in row["cells"]] == [0, 1, 2] and all(c["n"] is not None for c in row["cells"])
    assert [c["model"] for c in row["cells"]] == [demo_model, *(summary["epoch_exports"][k] for k in "12")]
    for k in (1, 2):
        assert os.path.isfile(os.path.join(out, "predictions", "epochs", f"epoch-{k}-ja.offtarget.jsonl"))
    assert os.path.isfile(os.path.join(out, "plots", "offtarget_epochs.png"))


@pytest.mark.timeout(420)
def test_resume_falls_back_when_the_latest_checkpoint_is_damaged(ray_local, demo_model, tmp_path, caplog):
    """A run killed at step 5 (checkpoints at steps 2 and 4; train.num_to_keep=1 still keeps both), its
    step-4 checkpoint then truncated: the rerun warns, restores step 2 and finishes with the same losses."""
    from sdrrl_ray.train.checkpoints import checkpoint_folders, filesystem
    from sdrrl_ray.train.metrics import read_log
    from sdrrl_ray.train.run import run_train

    out = str(tmp_path / "out")
    write_transfer_set(out, make_rows(6))  # 24 rows, global batch 4: 6 steps
    cfg = config(out, checkpoint_every_steps=2, num_to_keep=1, max_failures=0)
    hooks = {"log_ids": True, "fail_at_step": 5, "fail_rank": 1, "fail_marker": str(tmp_path / "killed.marker"),
             "fail_delay_s": 4.0}
    with pytest.raises(RuntimeError, match="rerun the same command to resume"):
        run_train(cfg, _test_hooks=hooks)
    first = [r for r in read_log(os.path.join(out, "train_log.jsonl")) if r["event"] == "step"]
    run = first[0]["run"]
    fs, run_dir = filesystem(os.path.join(out, "checkpoints", run))
    previous, latest = checkpoint_folders(fs, run_dir)  # the last two are kept
    optim = os.path.join(latest, "ds", "zero_pp_rank_1_mp_rank_00_optim_states.pt")
    with open(optim, "r+b") as fh:  # a partial write: the file cut short
        fh.truncate(os.path.getsize(optim) // 2)

    with caplog.at_level("WARNING", logger="sdrrl_ray"):
        summary = run_train(cfg, _test_hooks=hooks)["targets"]["ja"]
    assert summary["run"] == run and summary["result"]["steps"] == 6
    assert any(f"checkpoint {latest} is damaged" in r.getMessage() and "bytes" in r.getMessage()
               for r in caplog.records), caplog.text
    records = [r for r in read_log(os.path.join(out, "train_log.jsonl")) if r["run"] == run]
    damaged = [r for r in records if r["event"] == "damaged_checkpoint"]
    assert [r["path"] for r in damaged] == [latest] and "truncated" in damaged[0]["why"]
    starts = [r for r in records if r["event"] == "start"]
    assert [(s["resumed"], s["step"]) for s in starts] == [(False, 0), (True, 2)]
    assert starts[1]["restored_from"] == previous
    # steps 3 and 4 redone from the step-2 state: the same batches and losses as before the kill
    again = {r["step"]: r for r in records[records.index(starts[1]):] if r["event"] == "step"}
    assert sorted(again) == [3, 4, 5, 6]
    for r in first:
        if r["step"] in (3, 4):
            assert again[r["step"]]["ids"] == r["ids"]
            assert again[r["step"]]["loss"] == pytest.approx(r["loss"], rel=1e-6, abs=1e-7)
    assert os.path.isfile(os.path.join(out, "model", "model.safetensors"))
