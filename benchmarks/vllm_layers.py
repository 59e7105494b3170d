"""Two more sides of ``bench_vllm_compare.py``, on request (``--sides ray_actor,ray_data_udf``): the stage's engine
(``VLLMEngine`` and its engine loop, built as the plan builds it) behind Ray core alone and behind Ray Data alone.
Between the engine loop without Ray and the stage, they place where the stage's loss arises: in a Ray actor that
gets ``--in-flight`` batches at once (no Ray Data), or in Ray Data's execution of an actor-pool UDF that does
nothing but call the engine (no prompt rendering, length check, saved generations or reject columns)."""

from __future__ import annotations

import time


class EngineCalls:
    """The stage's engine alone, called with batches of ``item_id`` and rendered ``prompt`` (the stage's per-row
    seeds): the body of the ``ray_actor`` side (a Ray actor's method) and of ``ray_data_udf`` (a Ray Data UDF)."""

    def __init__(self, args, model: str):
        from benchmarks.bench_vllm_compare import stage_engine

        self.engine, self.sampling, self.seed = stage_engine(args, model)

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        from sdrrl_ray.seeding import row_seed

        seeds = [row_seed(self.seed, str(i), "generate") for i in batch["item_id"]]
        res = self.engine.generate([str(p) for p in batch["prompt"]], self.sampling, seeds)
        return {"tokens": np.array([r.n_output_tokens + (r.finish_reason == "stop") for r in res], dtype=np.int64)}

    call = __call__  # a Ray actor's method by name

    def ready(self) -> bool:
        return True


def prompt_batches(model: str, n: int, size: int) -> list:
    import numpy as np

    from benchmarks.bench_vllm_compare import prompts

    rendered = prompts(model, n)
    return [dict(item_id=np.array([f"b{i}" for i in range(lo, min(n, lo + size))], dtype=object),
                 prompt=np.array(rendered[lo:lo + size], dtype=object)) for lo in range(0, n, size)]


def side_ray_actor(args, model: str, stop: list, n: int) -> dict:
    """The stage's engine in a Ray actor (Ray core, no Ray Data): the driver keeps ``--in-flight`` calls of one batch
    each on it, as Ray Data keeps batches on the stage's actor."""
    import ray

    from benchmarks.bench_vllm_compare import start_ray

    start_ray(args)
    try:
        t0 = time.perf_counter()
        host = ray.remote(num_cpus=args.threads, max_concurrency=args.in_flight)(EngineCalls).remote(args, model)
        ray.get(host.ready.remote())
        t_start = time.perf_counter() - t0
        batches = prompt_batches(model, n, args.batch_size)
        t0 = time.perf_counter()
        pending, tokens, rows, nxt = [], 0, 0, 0
        while nxt < len(batches) or pending:
            while nxt < len(batches) and len(pending) < args.in_flight:
                pending.append(host.call.remote(batches[nxt]))
                nxt += 1
            done, pending = ray.wait(pending, num_returns=1)
            out = ray.get(done[0])["tokens"]
            tokens, rows = tokens + int(out.sum()), rows + len(out)
        return dict(seconds=time.perf_counter() - t0, start_s=t_start, tokens=tokens, rows=rows)
    finally:
        ray.shutdown()


def side_ray_data_udf(args, model: str, stop: list, n: int) -> dict:
    """The stage's engine alone as a Ray Data actor-pool UDF with the stage's pool arguments (blocks of one batch,
    ``--in-flight`` batches on the actor), without the stage's own work (prompt rendering, length check, saved
    generations, reject columns)."""
    import pyarrow as pa
    import ray
    import ray.data

    from benchmarks.bench_vllm_compare import prompts, stage_config, start_ray
    from sdrrl_ray.runtime import actor_pool_args, batch_blocks

    start_ray(args)
    try:
        pool = stage_config(args, model).generate.pool
        table = pa.table({"item_id": [f"b{i}" for i in range(n)], "prompt": prompts(model, n)})
        t0 = time.perf_counter()
        ds = batch_blocks(ray.data.from_arrow(table), pool).map_batches(
            EngineCalls, fn_constructor_args=(args, model), **actor_pool_args(pool, concurrent_calls=args.in_flight))
        tokens = rows = 0
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            tokens, rows = tokens + int(batch["tokens"].sum()), rows + len(batch["tokens"])
        return dict(seconds=time.perf_counter() - t0, tokens=tokens, rows=rows)
    finally:
        ray.shutdown()
