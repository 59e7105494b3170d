"""The answer-token loss with full logits vs per chunk (``train.loss_chunk_tokens``): peak memory and step time.

One training step (forward, backward, AdamW) of the ~22M random-init Llama that ``bench_train.py`` uses
(vocabulary 8,192), fp32 on CPU, one process and ``--threads`` threads, random token sequences of ``--seq``
tokens of which the last ``--answer`` share carries the loss. Each arm runs in its own fresh process so that
its peak resident memory (``ru_maxrss``) is its own: reported as the process's peak minus its resident memory
between steps after the first step (model, optimizer state and batches allocated). Arms alternate,
``--repeats`` times each, so drift on a shared machine shows in both. Same weights, same batches: the script
also checks the two losses agree to 1e-5.

    python benchmarks/bench_loss.py                         # micro 8 x seq 1024, chunks of 4096 tokens
    python benchmarks/bench_loss.py --micro 2 --seq 128 --steps 2 --repeats 1 --no-save   # smoke (CI)

Prints a table and a last-line JSON; writes benchmarks/results/loss_chunked.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def one_arm(args) -> dict:
    """Runs in the child process: the timed steps of one arm."""
    import resource
    import time

    import numpy as np
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from benchmarks.bench_train import MODEL
    from sdrrl_ray.train import answer_loss
    from sdrrl_ray.train.loss import Example, collate, forward_ce, micro_loss

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = LlamaConfig(max_position_embeddings=max(256, args.seq), **MODEL)
    cfg._attn_implementation = "sdpa"
    model = LlamaForCausalLM(cfg)
    model.config.use_cache = False
    chunks = answer_loss.enable(model, args.micro, args.seq, args.chunk_tokens if args.arm == "chunked" else 0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    prompt = args.seq - int(args.seq * args.answer)

    def batch():
        exs = []
        for _ in range(args.micro):
            ids = rng.integers(0, MODEL["vocab_size"], size=args.seq)
            labels = ids.copy()
            labels[:prompt] = -100
            exs.append(Example(ids, labels, 1.0, 0))
        return collate(exs, pad_id=0)

    batches = [batch() for _ in range(args.warmup + args.steps)]
    losses, times = [], []

    def step(b):
        loss, _ = micro_loss(*forward_ce(model, b, torch.device("cpu"), chunks), b, 1.0 / args.micro)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)

    step(batches[0])  # first step: optimizer state allocated before the baseline is read
    with open("/proc/self/status") as fh:
        rss_kb = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    for b in batches[1:args.warmup]:
        step(b)
    for b in batches[args.warmup:]:
        t0 = time.perf_counter()
        losses.append(step(b))
        times.append(time.perf_counter() - t0)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return dict(arm=args.arm, chunks=chunks, step_s=float(np.median(times)), losses=losses,
                rss_before_mb=rss_kb / 1024, peak_mb=peak_kb / 1024,
                step_peak_mb=(peak_kb - rss_kb) / 1024,
                params=sum(p.numel() for p in model.parameters()))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--micro", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--answer", type=float, default=0.5, help="share of each sequence with loss")
    ap.add_argument("--chunk-tokens", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--arm", choices=["full", "chunked"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.arm:  # child
        print(json.dumps(one_arm(args)))
        return {}
    from benchmarks.common import RESULTS, bar_plot, machine, save, table

    passed = [a for a in (argv if argv is not None else sys.argv[1:])]
    runs = []
    for _ in range(args.repeats):
        for arm in ("full", "chunked"):
            out = subprocess.run([sys.executable, os.path.abspath(__file__), *passed, "--arm", arm],
                                 capture_output=True, text=True, check=True, cwd=ROOT)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    rows = []
    for arm in ("full", "chunked"):
        mine = [r for r in runs if r["arm"] == arm]
        rows.append(dict(arm=arm, chunks=mine[0]["chunks"], runs=len(mine),
                         step_s=round(min(r["step_s"] for r in mine), 4),
                         step_s_runs=[round(r["step_s"], 4) for r in mine],
                         step_peak_mb=round(min(r["step_peak_mb"] for r in mine), 1),
                         step_peak_mb_runs=[round(r["step_peak_mb"], 1) for r in mine]))
    full, chunked = (next(r for r in runs if r["arm"] == a) for a in ("full", "chunked"))
    max_diff = max(abs(a - b) for a, b in zip(full["losses"], chunked["losses"]))
    summary = dict(full_step_s=rows[0]["step_s"], chunked_step_s=rows[1]["step_s"],
                   full_step_peak_mb=rows[0]["step_peak_mb"], chunked_step_peak_mb=rows[1]["step_peak_mb"],
                   peak_ratio=round(rows[1]["step_peak_mb"] / rows[0]["step_peak_mb"], 3),
                   time_ratio=round(rows[1]["step_s"] / rows[0]["step_s"], 3), max_loss_diff=max_diff)
    print(table(rows, ["arm", "chunks", "runs", "step_s", "step_s_runs", "step_peak_mb", "step_peak_mb_runs"]))
    if max_diff > 1e-5:
        raise SystemExit(f"losses differ by {max_diff:.2e} (> 1e-5) between the arms")
    result = dict(machine=machine(), settings={k: v for k, v in vars(args).items() if k != "arm"},
                  params=full["params"], tokens_per_step=args.micro * args.seq,
                  logits_fp32_mb=args.micro * args.seq * 8192 * 4 / 2**20, results=rows, **summary)
    if not args.no_save:
        save("loss_chunked", result)
        bar_plot(os.path.join(RESULTS, "loss_chunked.png"), ["full logits", f"chunked ({rows[1]['chunks']})"],
                 [rows[0]["step_peak_mb"], rows[1]["step_peak_mb"]], "peak MB during a step (over the baseline)",
                 f"training step memory, {full['params'] / 1e6:.0f}M Llama, micro {args.micro} x seq {args.seq}, "
                 f"fp32 CPU; step {rows[0]['step_s']:.2f} s vs {rows[1]['step_s']:.2f} s")
    print(json.dumps(summary))
    return result


if __name__ == "__main__":
    main()
