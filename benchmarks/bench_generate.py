"""Generation throughput: the Ray Data generation stage vs the same engine in a plain loop.

Both sides run the same engine, model, precision, prompts and decoding (greedy, fixed
max_new_tokens); each is timed in steady state (the first batch, with model load and warm-up, is
excluded). Prints a table and a last-line JSON; writes benchmarks/results/generate_<engine>.{json,png}.

    python benchmarks/bench_generate.py --engine hf --rows 256 --batch-sizes 8,32 --actors 1,2
    .venv-vllm/bin/python benchmarks/bench_generate.py --engine vllm --rows 256 --batch-sizes 32
    python benchmarks/bench_generate.py --model random:30m --rows 256 --batch-sizes 8,32 --actors 1,2
    python benchmarks/bench_generate.py --model /path/to/model --engine hf   # any HF causal LM folder

``--model`` takes ``demo`` (the demo's 0.9M model), ``random:<shape>`` (a random-init Llama from
``benchmarks/models.py``: tiny, 30m, 100m, 1b) or a model folder. On a GPU host the hf engine runs
in bf16 and each pipeline actor takes one GPU (``--gpus-per-actor``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np


def load_prompts(n: int) -> list[str]:
    from sdrrl_ray.demo.assets import demo_instructions_path

    questions = []
    with open(demo_instructions_path(), encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            questions.append((rec["instruction"] + ("\n\n" + rec["input"] if rec.get("input") else "")).strip())
    return [questions[i % len(questions)] for i in range(n)]


def generation_config(engine: str, model: str, batch_size: int, max_new_tokens: int, threads: int,
                      dtype: str | None = None, actors: int = 1, gpus_per_actor: float = 0, temperature: float = 0.0,
                      engine_kwargs: dict | None = None, batches_in_flight: int = 1):
    """The config both sides are built from: the plan's engine options (``engine_options``), decoding
    (``sampling_settings``) and generation actor pool (``generate.pool``)."""
    from sdrrl_ray.config import ActorPoolConfig, Config, GenerateConfig

    dtype = dtype or ("float32" if engine == "hf" else "bfloat16")  # vllm: max_model_len None = the model's own
    pool = ActorPoolConfig(min_actors=actors, max_actors=actors, num_cpus=threads, num_gpus=gpus_per_actor,
                           batch_size=batch_size)
    return Config(seed=0, generate=GenerateConfig(engine=engine, model=model, max_new_tokens=max_new_tokens,
                                                  dtype=dtype, pool=pool, temperature=temperature,
                                                  engine_kwargs=dict(engine_kwargs or {}),
                                                  batches_in_flight=batches_in_flight))


def direct(engine: str, model: str, questions: list[str], batch_size: int, max_new_tokens: int, threads: int,
           dtype: str | None = None) -> dict:
    from sdrrl_ray import prompts
    from sdrrl_ray.engines.base import SamplingSettings
    from sdrrl_ray.engines.build import build_engine
    from sdrrl_ray.transfer.plan import engine_options, sampling_settings

    cfg = generation_config(engine, model, batch_size, max_new_tokens, threads, dtype)
    eng = build_engine(engine, model, engine_options(cfg))  # torch threads = generate.pool.num_cpus, as in the stage
    sampling = SamplingSettings(**sampling_settings(cfg))
    rendered = [prompts.render_prompt(eng.tokenizer, q) for q in questions]
    batches = [rendered[i : i + batch_size] for i in range(0, len(rendered), batch_size)]
    eng.generate(batches[0], sampling)  # warm-up
    t0, rows, tokens = time.perf_counter(), 0, 0
    for b in batches[1:]:
        res = eng.generate(b, sampling)
        rows += len(res)
        tokens += sum(r.n_output_tokens for r in res)
    wall = time.perf_counter() - t0
    del eng
    _free_gpu()
    return {"rows_per_s": rows / wall, "tokens_per_s": tokens / wall, "rows": rows, "seconds": wall}


def _free_gpu() -> None:
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def pipeline(engine: str, model: str, questions: list[str], batch_size: int, actors: int, max_new_tokens: int,
             threads: int, dtype: str | None = None, gpus_per_actor: float = 0, temperature: float = 0.0,
             steady: bool = True, engine_kwargs: dict | None = None, batches_in_flight: int = 1) -> dict:
    """The plan's own generation step (``plan_steps``: blocks of one batch, then the Generator actor
    pool from ``generate.pool``) on rows that all need the model's answer. ``steady``: time from the first
    output batch on (else every row and the whole time, start-up included)."""
    import pyarrow as pa
    import ray

    from sdrrl_ray.schema import check_plan_columns, to_arrow
    from sdrrl_ray.stages import generate
    from sdrrl_ray.transfer.plan import PlanInputs, plan_steps

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
    table = to_arrow({k: np.array(v, dtype=object) if k != "needs_generation" else np.array(v)
                      for k, v in items.items()})
    cfg = generation_config(engine, model, batch_size, max_new_tokens, threads, dtype, actors, gpus_per_actor,
                            temperature, engine_kwargs, batches_in_flight)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        inputs = PlanInputs(files=[], model_path=model, generation_cache_url=os.path.join(cache, "gen"))
        steps = [s for s in plan_steps(cfg, inputs) if s.name == generate.COLUMNS.name]
        check_plan_columns([s.columns for s in steps], initial=table.column_names)
        ds = ray.data.from_arrow(table)
        for step in steps:
            ds = step.apply(ds)
        t_first, rows, tokens, first_rows, stopped = None, 0, 0, 0, 0
        for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            now = time.perf_counter()
            if t_first is None:
                t_first, first_rows = (now if steady else t0), batch.num_rows  # steady: after the first batch
                if steady:
                    continue
            rows += batch.num_rows
            tokens += int(pa.compute.sum(batch.column("gen_output_tokens")).as_py() or 0)
            stopped += int(pa.compute.sum(pa.compute.equal(batch.column("gen_finish_reason"), "stop")).as_py() or 0)
        wall = time.perf_counter() - t_first
    return {"rows_per_s": rows / wall, "tokens_per_s": tokens / wall, "rows": rows, "seconds": wall,
            "tokens": tokens, "first_batch_rows": first_rows, "stopped_rows": stopped}


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", default="hf", choices=["hf", "vllm"])
    ap.add_argument("--model", default="demo", help="demo, random:<shape> (tiny, 30m, 100m, 1b) or a model folder")
    ap.add_argument("--dtype", default=None,
                    help="engine precision (default: hf float32 on CPU, bfloat16 on GPU; vllm bfloat16)")
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--batches", type=int, default=None,
                    help="timed batches per batch size (rows = (batches + 1) x batch size); overrides --rows")
    ap.add_argument("--direct-repeat", action="store_true",
                    help="run the direct loop again after the pipeline: its spread shows the noise; "
                         "ratios use the mean")
    ap.add_argument("--batch-sizes", default="16")
    ap.add_argument("--actors", default="1")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per engine (= CPUs per actor)")
    ap.add_argument("--gpus-per-actor", type=float, default=None,
                    help="GPUs per pipeline actor (default 1 on a GPU host, else 0)")
    ap.add_argument("--num-cpus", type=int, default=4, help="logical CPUs of the local Ray instance")
    ap.add_argument("--tag", default="")
    ap.add_argument("--no-save", action="store_true", help="print only; write no result files")
    return ap.parse_args(argv)


def model_folder(spec: str) -> str:
    if spec.startswith("random:"):
        from benchmarks.models import random_llama

        return random_llama(spec.split(":", 1)[1])
    from sdrrl_ray.assets import resolve_model

    return resolve_model(spec)


def run(args: argparse.Namespace) -> dict:
    """Direct loop and Ray Data stage for every batch size (and actor count); returns the result record."""
    import ray
    import torch

    from benchmarks.common import bar_plot, machine, save, table
    from benchmarks.models import describe

    on_gpu = torch.cuda.is_available()
    dtype = args.dtype or ("bfloat16" if (on_gpu or args.engine == "vllm") else "float32")
    gpus = args.gpus_per_actor if args.gpus_per_actor is not None else (1 if on_gpu else 0)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    model = model_folder(args.model)
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(address="local", num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False

    results = []
    for bs in [int(x) for x in args.batch_sizes.split(",")]:
        questions = load_prompts((args.batches + 1) * bs if args.batches else args.rows)
        d = direct(args.engine, model, questions, bs, args.max_new_tokens, args.threads, dtype)
        results.append({"side": "direct", "batch_size": bs, "actors": 0, **d})
        pipes = []
        for actors in [int(x) for x in args.actors.split(",")]:
            p = pipeline(args.engine, model, questions, bs, actors, args.max_new_tokens, args.threads, dtype, gpus)
            pipes.append({"side": "pipeline", "batch_size": bs, "actors": actors, **p})
        direct_rate = d["rows_per_s"]
        if args.direct_repeat:
            d2 = direct(args.engine, model, questions, bs, args.max_new_tokens, args.threads, dtype)
            pipes.append({"side": "direct (again)", "batch_size": bs, "actors": 0, **d2})
            direct_rate = (d["rows_per_s"] + d2["rows_per_s"]) / 2
        for p in pipes:
            if p["side"] == "pipeline":
                p["ratio_vs_direct"] = p["rows_per_s"] / direct_rate
        results += pipes
    for r in results:
        for k in ("rows_per_s", "tokens_per_s", "seconds", "ratio_vs_direct"):
            if k in r:
                r[k] = round(r[k], 3)
    print(table(results, ["side", "batch_size", "actors", "rows", "seconds", "rows_per_s", "tokens_per_s",
                          "ratio_vs_direct"]))
    out = {
        "benchmark": "generate",
        "engine": args.engine,
        "model": {"spec": args.model, **describe(model)},
        "precision": dtype,
        "device": torch.cuda.get_device_name(0) if on_gpu else "cpu",
        "decoding": {"greedy": True, "max_new_tokens": args.max_new_tokens},
        "rows": args.rows if not args.batches else None,
        "timed_batches": args.batches,
        "threads_per_engine": args.threads,
        "gpus_per_actor": gpus,
        "machine": machine(),
        "results": results,
    }
    name = f"generate_{args.engine}{('_' + args.tag) if args.tag else ''}"
    if not args.no_save:
        bar_plot(
            os.path.join(os.path.dirname(save(name, out)), f"{name}.png"),
            [f"{r['side']} bs{r['batch_size']}" + (f" x{r['actors']}" if r["actors"] else "") for r in results],
            [r["rows_per_s"] for r in results],
            "rows/s",
            f"generation ({args.engine}, {out['model']['params'] / 1e6:.1f}M params, {dtype}, {out['device']}), "
            + (f"{args.batches} timed batches" if args.batches else f"{args.rows} prompts")
            + f", {args.max_new_tokens} new tokens",
        )
    if started_ray:
        ray.shutdown()
    return {"benchmark": name, **out}


def main(argv=None) -> None:
    out = run(parse(argv))
    print(json.dumps({"benchmark": out["benchmark"], "results": out["results"]}))


if __name__ == "__main__":
    main()
