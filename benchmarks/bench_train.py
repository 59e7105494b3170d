"""Training throughput on CPU: DeepSpeed ZeRO-3 vs ZeRO-2 vs plain PyTorch DDP, same model, same batches.

Each mode is one Ray Train ``TorchTrainer`` run (gloo, ``--workers`` workers of one thread each) of
the project's training step (``sdrrl_ray.train.loss``: collation, answer-token loss with Eq. 6-style
per-example weights) on a random-init Llama of about 22M parameters, fp32, random token sequences of
a fixed length (a quarter of each is prompt, without loss). ZeRO modes take their DeepSpeed config
from ``sdrrl_ray.train.ds_config.ds_config``; DDP is ``ray.train.torch.prepare_model`` + torch AdamW.
Timed in steady state: ``--warmup`` steps first, then ``--steps`` timed steps (rank 0's wall clock
between barriers). tokens/s counts every token of every worker.

    python benchmarks/bench_train.py                          # 2 workers, micro 4 x seq 128, 8 timed steps
    python benchmarks/bench_train.py --modes zero3,ddp --steps 20 --seq 256

Prints a table and a last-line JSON; writes benchmarks/results/train_cpu.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MODEL = dict(hidden_size=512, intermediate_size=1408, num_hidden_layers=6, num_attention_heads=8,
             num_key_value_heads=4, vocab_size=8192, tie_word_embeddings=True)


def loop(config: dict) -> dict:
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import numpy as np
    import ray.train
    import torch
    import torch.distributed as dist
    from transformers import LlamaConfig, LlamaForCausalLM

    from sdrrl_ray.config import TrainConfig
    from sdrrl_ray.train import answer_loss
    from sdrrl_ray.train.ds_config import ds_config
    from sdrrl_ray.train.loss import Example, collate, forward_ce, micro_loss

    torch.set_num_threads(config["threads"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(0)
    model_cfg = LlamaConfig(max_position_embeddings=max(256, config["seq"]), **MODEL)
    model_cfg._attn_implementation = "sdpa"
    model = LlamaForCausalLM(model_cfg)
    model.config.use_cache = False
    n_params = sum(p.numel() for p in model.parameters())
    # the project's answer loss per chunk (train.loss_chunk_tokens)
    chunks = answer_loss.enable(model, config["micro"], config["seq"], config["chunk_tokens"])
    mode, micro = config["mode"], config["micro"]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    if mode == "ddp":
        engine = ray.train.torch.prepare_model(model)

        def train_step(b):
            loss, _ = micro_loss(*forward_ce(engine, b, torch.device("cpu"), chunks), b, 1.0 / micro)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(engine.parameters(), 1.0)
            opt.step()
    else:
        import deepspeed

        stage = {"zero3": 3, "zero2": 2}[mode]
        tc = TrainConfig(micro_batch_size=micro, grad_accum=1, zero_stage=stage, num_workers=world)
        engine, *_ = deepspeed.initialize(model=model, optimizer=opt, config=ds_config(tc, world, on_gpu=False))

        def train_step(b):
            loss, _ = micro_loss(*forward_ce(engine, b, torch.device("cpu"), chunks), b, 1.0 / micro)
            engine.backward(loss)
            engine.step()

    rng = np.random.default_rng(rank)
    seq, prompt = config["seq"], config["seq"] // 4

    def batch():
        exs = []
        for _ in range(micro):
            ids = rng.integers(0, MODEL["vocab_size"], size=seq)
            labels = ids.copy()
            labels[:prompt] = -100
            exs.append(Example(ids, labels, 1.0, 0))
        return collate(exs, pad_id=0)

    batches = [batch() for _ in range(config["warmup"] + config["steps"])]
    for b in batches[:config["warmup"]]:
        train_step(b)
    dist.barrier()
    t0 = time.perf_counter()
    step_times = []
    for b in batches[config["warmup"]:]:
        s0 = time.perf_counter()
        train_step(b)
        step_times.append(time.perf_counter() - s0)
    dist.barrier()
    seconds = time.perf_counter() - t0
    tokens = config["steps"] * micro * seq * world
    return dict(mode=mode, params=n_params, workers=world, seconds=seconds, tokens=tokens,
                tokens_per_s=tokens / seconds, step_s=float(np.median(step_times)))


def run_mode(mode: str, args) -> dict:
    import tempfile

    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    trainer = TorchTrainer(
        loop,
        train_loop_config=dict(mode=mode, micro=args.micro, seq=args.seq, steps=args.steps, warmup=args.warmup,
                               threads=args.threads, chunk_tokens=args.loss_chunk_tokens),
        scaling_config=ScalingConfig(num_workers=args.workers, use_gpu=False, resources_per_worker={"CPU": 1}),
        torch_config=TorchConfig(backend="gloo"),
        run_config=RunConfig(storage_path=tempfile.mkdtemp(prefix="bench_train_"), name=f"bench-{mode}"),
    )
    t0 = time.perf_counter()
    result = trainer.fit()
    out = dict(result.return_value)
    out["fit_s"] = time.perf_counter() - t0
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", default="zero3,zero2,ddp")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    ap.add_argument("--micro", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--loss-chunk-tokens", type=int, default=None,
                    help="default: train.loss_chunk_tokens; 0: full logits")
    args = ap.parse_args(argv)
    if args.loss_chunk_tokens is None:
        from sdrrl_ray.config import TrainConfig

        args.loss_chunk_tokens = TrainConfig().loss_chunk_tokens
    for key, value in {"RAY_AUTH_MODE": "disabled", "DS_ACCELERATOR": "cpu",
                       "TORCH_EXTENSIONS_DIR": os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                            ".cache", "torch_extensions")}.items():
        os.environ.setdefault(key, value)
    import ray

    from benchmarks.common import RESULTS, bar_plot, machine, save, table

    ray.init(address="local", num_cpus=max(4, args.workers + 1), include_dashboard=False, log_to_driver=False)
    rows = []
    for mode in args.modes.split(","):
        r = run_mode(mode, args)
        rows.append({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()})
    ray.shutdown()
    base = next((r["tokens_per_s"] for r in rows if r["mode"] == "ddp"), None)
    for r in rows:
        r["vs_ddp"] = round(r["tokens_per_s"] / base, 3) if base else None
    print(table(rows, ["mode", "params", "workers", "tokens_per_s", "step_s", "vs_ddp", "fit_s"]))
    result = dict(machine=machine(), settings=vars(args), model=MODEL, results=rows)
    save("train_cpu", result)
    bar_plot(os.path.join(RESULTS, "train_cpu.png"), [r["mode"] for r in rows], [r["tokens_per_s"] for r in rows],
             "tokens/s (all workers)",
             f"training, {rows[0]['params'] / 1e6:.0f}M Llama, {args.workers} CPU workers, "
             f"micro {args.micro} x seq {args.seq}")
    summary = {r["mode"]: r["tokens_per_s"] for r in rows}
    print(json.dumps({"tokens_per_s": summary, "params": rows[0]["params"], "workers": args.workers}))
    return result


if __name__ == "__main__":
    main()
