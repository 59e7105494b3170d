"""Generation throughput: the Ray Data generation stage vs the same engine in a plain loop.

Both sides run the same engine, model, precision, prompts and decoding (greedy, fixed
max_new_tokens); each is timed in steady state (the first batch, with model load and warm-up, is
excluded). Prints a table and a last-line JSON; writes benchmarks/results/generate_<engine>.{json,png}.

    python benchmarks/bench_generate.py --engine hf --rows 256 --batch-sizes 8,32 --actors 1,2
    .venv-vllm/bin/python benchmarks/bench_generate.py --engine vllm --rows 256 --batch-sizes 32
    python benchmarks/bench_generate.py --model /path/to/model --engine hf   # any HF causal LM folder
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np


def load_prompts(n: int) -> list[str]:
    from sdrrl_ray.demo.assets import demo_instructions_path

    questions = []
    with open(demo_instructions_path(), encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            questions.append((rec["instruction"] + ("\n\n" + rec["input"] if rec.get("input") else "")).strip())
    return [questions[i % len(questions)] for i in range(n)]


def engine_options(engine: str, threads: int) -> dict:
    if engine == "hf":
        return dict(dtype="float32", num_threads=threads)
    return dict(dtype="bfloat16", max_model_len=None, engine_kwargs={})  # max_model_len: the model's own


def direct(engine: str, model: str, questions: list[str], batch_size: int, max_new_tokens: int, threads: int) -> dict:
    from sdrrl_ray import prompts
    from sdrrl_ray.engines import SamplingSettings, build_engine

    eng = build_engine(engine, model, **engine_options(engine, threads))
    sampling = SamplingSettings(max_new_tokens=max_new_tokens)
    rendered = [prompts.render_prompt(eng.tokenizer, q) for q in questions]
    batches = [rendered[i : i + batch_size] for i in range(0, len(rendered), batch_size)]
    eng.generate(batches[0], sampling)  # warm-up
    t0, rows, tokens = time.perf_counter(), 0, 0
    for b in batches[1:]:
        res = eng.generate(b, sampling)
        rows += len(res)
        tokens += sum(r.n_output_tokens for r in res)
    wall = time.perf_counter() - t0
    return {"rows_per_s": rows / wall, "tokens_per_s": tokens / wall, "rows": rows, "seconds": wall}


def pipeline(engine: str, model: str, questions: list[str], batch_size: int, actors: int, max_new_tokens: int, threads: int) -> dict:
    import ray

    from sdrrl_ray.generate import Generator

    n = len(questions)
    items = {
        "item_id": [f"b{i}" for i in range(n)],
        "question": questions,
        "gold_answer": [""] * n,
        "status": ["ok"] * n,
        "stage": [None] * n,
        "reason": [None] * n,
        "detail": [None] * n,
        "answer_source": ["self"] * n,
        "needs_generation": [True] * n,
    }
    import pyarrow as pa

    from sdrrl_ray.columns import to_arrow

    table = to_arrow({k: np.array(v, dtype=object) if k != "needs_generation" else np.array(v) for k, v in items.items()})
    ds = ray.data.from_arrow(table).repartition(max(1, n // batch_size))
    with tempfile.TemporaryDirectory() as cache:
        ds = ds.map_batches(
            Generator,
            fn_constructor_kwargs=dict(
                engine=engine,
                model_path=model,
                sampling=dict(max_new_tokens=max_new_tokens),
                seed=0,
                cache_url=os.path.join(cache, "gen"),
                engine_options=engine_options(engine, threads),
            ),
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=threads,
        )
        t_first, rows, tokens, first_rows = None, 0, 0, 0
        for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            now = time.perf_counter()
            if t_first is None:
                t_first, first_rows = now, batch.num_rows  # steady state starts after the first batch
                continue
            rows += batch.num_rows
            tokens += int(pa.compute.sum(batch.column("gen_output_tokens")).as_py() or 0)
        wall = time.perf_counter() - t_first
    return {"rows_per_s": rows / wall, "tokens_per_s": tokens / wall, "rows": rows, "seconds": wall, "first_batch_rows": first_rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", default="hf", choices=["hf", "vllm"])
    ap.add_argument("--model", default="demo")
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--batch-sizes", default="16")
    ap.add_argument("--actors", default="1")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per engine (= CPUs per actor)")
    ap.add_argument("--num-cpus", type=int, default=4, help="logical CPUs of the local Ray instance")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()

    import ray

    from benchmarks.common import bar_plot, machine, save, table
    from sdrrl_ray.models import resolve_model

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    model = resolve_model(args.model)
    questions = load_prompts(args.rows)
    ray.init(address="local", num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False

    results = []
    for bs in [int(x) for x in args.batch_sizes.split(",")]:
        d = direct(args.engine, model, questions, bs, args.max_new_tokens, args.threads)
        results.append({"side": "direct", "batch_size": bs, "actors": 0, **d})
        for actors in [int(x) for x in args.actors.split(",")]:
            p = pipeline(args.engine, model, questions, bs, actors, args.max_new_tokens, args.threads)
            results.append({"side": "pipeline", "batch_size": bs, "actors": actors, **p, "ratio_vs_direct": p["rows_per_s"] / d["rows_per_s"]})
    for r in results:
        for k in ("rows_per_s", "tokens_per_s", "seconds", "ratio_vs_direct"):
            if k in r:
                r[k] = round(r[k], 3)
    print(table(results, ["side", "batch_size", "actors", "rows", "seconds", "rows_per_s", "tokens_per_s", "ratio_vs_direct"]))

    from transformers import AutoConfig

    mc = AutoConfig.from_pretrained(model)
    n_params = None
    try:
        import safetensors

        with safetensors.safe_open(os.path.join(model, "model.safetensors"), "pt") as f:
            n_params = sum(np.prod(f.get_slice(k).get_shape()) for k in f.keys())
    except Exception:
        pass
    out = {
        "benchmark": "generate",
        "engine": args.engine,
        "model": {"path": args.model, "params": int(n_params) if n_params else None, "hidden": mc.hidden_size, "layers": mc.num_hidden_layers},
        "precision": engine_options(args.engine, args.threads).get("dtype"),
        "decoding": {"greedy": True, "max_new_tokens": args.max_new_tokens},
        "threads_per_engine": args.threads,
        "machine": machine(),
        "results": results,
    }
    name = f"generate_{args.engine}{('_' + args.tag) if args.tag else ''}"
    bar_plot(
        os.path.join(os.path.dirname(save(name, out)), f"{name}.png"),
        [f"{r['side']} bs{r['batch_size']}" + (f" x{r['actors']}" if r["actors"] else "") for r in results],
        [r["rows_per_s"] for r in results],
        "rows/s",
        f"generation ({args.engine}), {args.rows} prompts, {args.max_new_tokens} new tokens",
    )
    ray.shutdown()
    print(json.dumps({"benchmark": name, "results": results}))


if __name__ == "__main__":
    main()
