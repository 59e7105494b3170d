"""ZeRO-3 bf16 training throughput and MFU of a random-init ~1B Llama on a lent GPU (H100 / H200).

What it measures: tokens/s and model FLOPs utilisation of the project's training step (the
DeepSpeed config from ``sdrrl_ray.train.ds_config.ds_config``, the collator and the answer-token
loss from ``sdrrl_ray.train.loss``) on random token sequences of a fixed length, after warm-up
steps. MFU = tokens/s x (6 N + 12 L d s) / peak, with N the parameters of the matrix products (all but
the input embedding table, which is a lookup; the output head counts), L layers, d hidden size, s
sequence length (PaLM's convention); peak = 989 TFLOP/s dense bf16 for
H100/H200 SXM unless ``--peak-tflops`` says otherwise. DESIGN target: >= 40% MFU on one H100.

Runs without Ray (one process; under ``torchrun --nproc-per-node N`` it uses N GPUs). The GPU host
needs deepspeed (bring the 2.1 MiB ``deepspeed-0.19.8-py3-none-any.whl``, STACK-NOTES section 6).

    python benchmarks/gpu_train.py                       # ~1.1B Llama, seq 2048, micro 8, 30 steps
    python benchmarks/gpu_train.py --micro 4 --activation-checkpointing
    python benchmarks/gpu_train.py --cpu --tiny          # smoke mode: seconds on a CPU (tested in CI)

Prints a table and a last-line JSON; writes ``benchmarks/results/train_gpu.json`` (not in ``--tiny`` mode).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHAPES = {
    # ~1.1B: Llama-3.2-1B's trunk (hidden 2048, 16 layers, GQA 32/8, MLP 8192) with a 32k vocabulary, untied
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=32000, tie_word_embeddings=False),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=512, tie_word_embeddings=False),
}
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="run on CPU (gloo, fp32)")
    ap.add_argument("--tiny", action="store_true", help="tiny model and few steps (smoke mode)")
    ap.add_argument("--seq", type=int, default=None, help="sequence length (default 2048; tiny 64)")
    ap.add_argument("--micro", type=int, default=None, help="micro-batch per GPU (default 8; tiny 2)")
    ap.add_argument("--accum", type=int, default=1)
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 30; tiny 3)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5; tiny 1)")
    ap.add_argument("--zero-stage", type=int, default=3)
    ap.add_argument("--activation-checkpointing", action="store_true")
    ap.add_argument("--loss-chunk-tokens", type=int, default=None,
                    help="answer loss per chunk of this many tokens (default: the project's train.loss_chunk_tokens; "
                         "0: full logits)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="peak dense bf16 TFLOP/s per GPU")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    tiny = args.tiny
    args.seq = args.seq or (64 if tiny else 2048)
    args.micro = args.micro or (2 if tiny else 8)
    args.steps = args.steps or (3 if tiny else 30)
    args.warmup = args.warmup if args.warmup is not None else (1 if tiny else 5)
    return args


def init_distributed(backend: str) -> tuple[int, int]:
    if "RANK" not in os.environ:  # plain `python`: a one-process group
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1", LOCAL_RANK="0",
                          LOCAL_WORLD_SIZE="1")
    import deepspeed

    deepspeed.init_distributed(dist_backend=backend)
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


def main(argv=None) -> dict:
    args = parse(argv)
    if args.cpu:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import numpy as np
    import torch

    on_gpu = not args.cpu and torch.cuda.is_available()
    if not args.cpu and not on_gpu:
        raise SystemExit("no CUDA device: run on a GPU host, or pass --cpu (add --tiny for a smoke run)")
    rank, world = init_distributed("nccl" if on_gpu else "gloo")
    import deepspeed
    from transformers import LlamaConfig, LlamaForCausalLM

    from sdrrl_ray.config import TrainConfig
    from sdrrl_ray.train import answer_loss
    from sdrrl_ray.train.ds_config import ds_config
    from sdrrl_ray.train.loss import Example, collate, forward_ce, micro_loss

    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if on_gpu else torch.device("cpu")
    if on_gpu:
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    shape = SHAPES["tiny" if args.tiny else "1b"]
    torch.manual_seed(0)
    config = LlamaConfig(max_position_embeddings=max(args.seq, 128), **shape)
    config._attn_implementation = "sdpa"
    with torch.device(device):  # random init in place: seconds on a GPU instead of a minute on its host's CPU
        model = LlamaForCausalLM(config)
    model.config.use_cache = False
    if args.activation_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    n_params = sum(p.numel() for p in model.parameters())
    chunk_tokens = TrainConfig().loss_chunk_tokens if args.loss_chunk_tokens is None else args.loss_chunk_tokens
    chunks = answer_loss.enable(model, args.micro, args.seq, chunk_tokens)
    # FLOPs count the matrix products: every parameter but the input embedding table (a lookup)
    n_matmul = n_params - model.get_input_embeddings().weight.numel()
    train = TrainConfig(micro_batch_size=args.micro, grad_accum=args.accum, zero_stage=args.zero_stage,
                        precision="bf16" if on_gpu else "fp32", use_gpu=on_gpu, num_workers=world)
    cfg = ds_config(train, world, on_gpu)
    if on_gpu:
        model.to(device=device, dtype=torch.bfloat16)  # fused AdamW checks that its params are on the GPU
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **({"fused": True} if on_gpu else {}))
    engine, *_ = deepspeed.initialize(model=model, optimizer=opt, config=cfg)

    rng = np.random.default_rng(rank)
    prompt = args.seq // 4  # a quarter of each sequence is "prompt" (no loss), as in SFT

    def micro_batch():
        exs = []
        for _ in range(args.micro):
            ids = rng.integers(0, config.vocab_size, size=args.seq)
            labels = ids.copy()
            labels[:prompt] = -100
            exs.append(Example(ids, labels, 1.0, 0))
        return collate(exs, pad_id=0)

    def step():
        for _ in range(args.accum):
            b = micro_batch()
            loss, _ = micro_loss(*forward_ce(engine, b, device, chunks), b, scale=1.0 / args.micro)
            engine.backward(loss)
            engine.step()
        return float(loss)

    sync = torch.cuda.synchronize if on_gpu else (lambda: None)
    for _ in range(args.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    losses = [step() for _ in range(args.steps)]
    sync()
    seconds = time.perf_counter() - t0
    tokens = args.steps * args.accum * args.micro * args.seq * world
    tps = tokens / seconds
    flops_per_token = 6 * n_matmul + 12 * config.num_hidden_layers * config.hidden_size * args.seq
    peak = args.peak_tflops
    name = torch.cuda.get_device_name(device) if on_gpu else None
    if peak is None and name:
        peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    mfu = (tps * flops_per_token / (peak * 1e12 * world)) if (peak and on_gpu) else None
    result = dict(
        device=name or "cpu", world_size=world, flops_per_token=flops_per_token, zero_stage=args.zero_stage,
        precision=train.precision if on_gpu else "fp32", params=n_params, seq=args.seq, micro=args.micro,
        accum=args.accum, steps=args.steps,
        activation_checkpointing=args.activation_checkpointing, loss_chunks=chunks, seconds=round(seconds, 3),
        tokens=tokens,
        tokens_per_s=round(tps, 1), tokens_per_s_per_gpu=round(tps / world, 1),
        tflops_per_gpu=round(tps * flops_per_token / world / 1e12, 2), mfu=None if mfu is None else round(mfu, 4),
        peak_tflops=peak, final_loss=round(losses[-1], 4),
        max_memory_gib=round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if on_gpu else None,
    )
    if rank == 0:
        from benchmarks.common import machine, save, table

        print(table([result], ["device", "params", "seq", "micro", "tokens_per_s_per_gpu", "tflops_per_gpu", "mfu",
                               "max_memory_gib"]))
        if not args.tiny and not args.no_save:
            save("train_gpu" if on_gpu else "train_gpu_script_cpu", {"machine": machine(), "result": result})
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
