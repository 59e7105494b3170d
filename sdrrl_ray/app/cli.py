"""``sdrrl`` command line (fire). Every command takes a YAML config and ``key=value`` overrides.

    sdrrl transfer-set CONFIG [k=v ...]   -> OUT/transfer_set/*.parquet, OUT/rejects/*.parquet, OUT/manifest.json
    sdrrl train CONFIG [k=v ...]          -> OUT/model/ (or OUT/model/<target>/), OUT/train_log.jsonl
    sdrrl eval CONFIG [k=v ...]           -> OUT/report.json, OUT/report.md, OUT/plots/*.png
    sdrrl demo [out_dir=DIR] [k=v ...]    -> all three on the embedded demo (local Ray, tiny built-in models);
                                             --out DIR is the same as out_dir=DIR (default out/demo)
    sdrrl compare CONFIG arms=[a,b] seeds=[0,1,2] [reference=a] [k=v ...]
                                          -> OUT/arms/<arm>/seed-<s>/, OUT/eval/, OUT/report.md (one row per arm)
    sdrrl export CONFIG --format alpaca|sharegpt [--target T] [--out DIR] [k=v ...]
                                          -> DIR (default OUT/export)/sdrrl_<target>_<format>.jsonl,
                                             dataset_info.json (LLaMA-Factory), OUT/README.md (dataset card)
    sdrrl config CONFIG [k=v ...]         -> print the resolved config as JSON
    sdrrl plan CONFIG [k=v ...] [--node_type=T] [--limit=N] [--json]
                                          -> tokens per language, GPU-hours per phase and cost (no run;
                                             limit=N calibrates on a real run of N items)
    sdrrl data fetch [DEST] [--sources=a,b] [--languages=ja,th] [--base-url=URL]
                                          -> the paper's public data in the layout the configs read
                                             (DEST, default ./data; sdrrl_ray/fetch/sources.py)

`sdrrl --help`, `sdrrl COMMAND --help` and `sdrrl --version` print plain text (sdrrl_ray/app/help.py).
A user error exits with status 2 and one line on stderr; success exits 0.
"""

from __future__ import annotations

import logging
import os
import sys

from sdrrl_ray.app.exits import run_mapped
from sdrrl_ray.app.help import intercept
from sdrrl_ray.app.phases import run_phases
from sdrrl_ray.config import load_config
from sdrrl_ray.errors import UserError
from sdrrl_ray.runtime import console_env

PROG = "sdrrl"
DEMO_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "jobs", "configs", "demo.yaml")


def _load(config: str, overrides: tuple):
    if config is None:
        raise UserError(f"this command needs a config file: {PROG} COMMAND CONFIG [key=value ...] "
                        f"(example: {PROG} transfer-set jobs/configs/demo.yaml out_dir=out/run)")
    return load_config(config, [str(v) for v in overrides])  # written to OUT/config.yaml when a phase runs


def _run(cfg, *phases: str) -> None:
    run_phases(cfg, phases, prog=PROG)  # each phase starts (or joins) Ray when it needs it


class DataCommands:
    """Public data for a real run."""

    def fetch(self, dest: str = "data", sources=None, languages=None, base_url: str | None = None) -> None:
        """Download the paper's public data into DEST (default ./data) in the layout the configs read:
        --sources=alpaca,opus100,muse,flores,belebele,xlsum,mkqa,dolly,bactrianx (default all),
        --languages=ja,th (targets, default ja; English always), --base-url=URL (a mirror for every
        source) or --base-url=hf=URL,fbai=URL,flores=URL (per host or source; HF_ENDPOINT also works).
        A rerun skips finished files and resumes interrupted downloads."""
        from sdrrl_ray.fetch.run import fetch

        fetch(str(dest), sources=sources, languages=languages, base_url=None if base_url is None else str(base_url))


class Commands:
    """SDRRL on Ray: build the transfer set, train one model per target, evaluate."""

    data = DataCommands()

    def transfer_set(self, config: str | None = None, *overrides: str) -> None:
        """Ingest -> answer choice -> generation -> translation + filters -> variants, code-switching,
        parallel tasks into OUT; writes OUT/manifest.json."""
        _run(_load(config, overrides), "transfer-set")

    def train(self, config: str | None = None, *overrides: str) -> None:
        """Fine-tune on OUT/transfer_set with Ray Train + DeepSpeed; writes OUT/model/ and OUT/train_log.jsonl."""
        _run(_load(config, overrides), "train")

    def eval(self, config: str | None = None, *overrides: str) -> None:
        """Evaluate base and trained models; writes OUT/report.json, OUT/report.md, OUT/plots/."""
        _run(_load(config, overrides), "eval")

    def demo(self, *overrides: str, out: str = "out/demo", verbose: bool = False) -> None:
        """The whole flow on the embedded demo: local Ray, tiny models built offline, demo data. Output goes to
        out_dir=DIR or --out DIR (default out/demo); other key=value overrides apply to jobs/configs/demo.yaml."""
        if not os.path.exists(DEMO_CONFIG):
            raise UserError(f"demo config {DEMO_CONFIG} is missing; run from a source checkout of sdrrl-ray")
        for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):  # the demo's models are its own: no hub
            os.environ.setdefault(key, "1")
        if verbose:  # library logs on the console too (as SDRRL_VERBOSE=1); else they go to OUT/logs/sdrrl.log
            os.environ["SDRRL_VERBOSE"] = "1"
            console_env()
        _run(_load(DEMO_CONFIG, (f"out_dir={out}", *overrides)), "transfer-set", "train", "eval")

    def compare(self, config: str | None = None, *overrides: str) -> None:
        """Several arms (methods) x seeds on the same data through the real phases, one comparison report:
        arms=[sft-en,translate-then-sft,sdrrl] seeds=[0,1,2] reference=sdrrl (also compare.arms=...).
        Writes OUT/compare.json, OUT/arms/<arm>/seed-<s>/, OUT/eval/, OUT/report.md."""
        from sdrrl_ray.app.compare import run_compare

        short = ("arms", "seeds", "reference")
        overrides = tuple(f"compare.{o.lstrip('-')}" if o.lstrip("-").partition("=")[0] in short else o
                          for o in map(str, overrides))
        run_compare(_load(config, overrides), prog=PROG)

    def export(self, config: str | None = None, *overrides: str, format: str = "alpaca", target: str | None = None,
               out: str | None = None) -> None:
        """Write the committed transfer set as LLaMA-Factory reads it: --format alpaca|sharegpt, one JSON-lines
        file per target (--target T for one) with the Eq. 6 training weight per row, and dataset_info.json,
        into --out DIR (default OUT/export); also writes the dataset card OUT/README.md. The options may also
        be given as key=value (format=sharegpt target=ja out=DIR) beside the config's overrides."""
        from sdrrl_ray.app.export import export_transfer_set, lines

        given = dict(format=format, target=target, out=out)
        rest = []
        for item in (str(v) for v in overrides):
            key, eq, value = item.partition("=")
            if eq and key.lstrip("-") in given:
                given[key.lstrip("-")] = value
            else:
                rest.append(item)
        format, target, out = given["format"], given["target"], given["out"]
        cfg = _load(config, tuple(rest))
        print("\n".join(lines(export_transfer_set(cfg, str(format), None if target is None else str(target), out))))

    def config(self, config: str | None = None, *overrides: str) -> None:
        """Print the resolved config (YAML + overrides + defaults) as JSON."""
        print(_load(config, overrides).to_json())

    def plan(self, config: str | None = None, *overrides: str, node_type: str | None = None, limit: int | None = None,
             price_per_hour: float | None = None, results_dir: str | None = None, tokenizer: str | None = None,
             params: float | None = None, answer_tokens: float | None = None, json: bool = False) -> None:
        """Estimate tokens per language, device-hours per phase and cost on a node type, from the real
        tokenizer and the committed benchmark results. Planner options may also be given as key=value
        (node_type=p5.48xlarge limit=8 price_per_hour=40 results_dir=DIR tokenizer=DIR params=7e9
        answer_tokens=200); limit=N runs the transfer-set phase on N items to calibrate."""
        from sdrrl_ray.planner.planner import Options, load_plan_config
        from sdrrl_ray.planner.planner import plan as make_plan
        from sdrrl_ray.planner.report import render, to_json

        given = dict(node_type=node_type, limit=limit, price_per_hour=price_per_hour, results_dir=results_dir,
                     tokenizer=tokenizer, params=params, answer_tokens=answer_tokens)
        given = {k: None if v is None else _plan_value(k, str(v)) for k, v in given.items()}
        rest = []
        for item in (str(v) for v in overrides):
            key, _, value = item.partition("=")
            if key.lstrip("-") in given and "=" in item:
                given[key.lstrip("-")] = _plan_value(key.lstrip("-"), value)
            else:
                rest.append(item)
        if config is None:
            _load(config, ())
        result = make_plan(load_plan_config(config, rest), Options(**given))
        if not json:
            print(render(result))
        print(to_json(result))


def _plan_value(key: str, raw: str):
    """A planner option given as key=value: numbers parsed, strings kept."""
    if key in ("node_type", "results_dir", "tokenizer"):
        return raw
    try:
        value = float(raw)
    except ValueError:
        raise UserError(f"{key}={raw!r} is not a number") from None
    if key == "limit":
        if not value.is_integer() or value <= 0:
            raise UserError(f"limit={raw} must be a positive integer (items to calibrate on)")
        return int(value)
    return value


def main(argv: list[str] | None = None) -> int:
    console_env()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = [str(a) for a in (sys.argv[1:] if argv is None else argv)]

    def run() -> None:
        import fire

        text = intercept(Commands, args, PROG)  # --help, -h, no arguments, --version: plain text, no pager
        if text is not None:
            try:
                print(text, flush=True)
            except BrokenPipeError:  # `sdrrl --help | head`: the reader has what it wanted
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        fire.Fire(Commands, command=args, name=PROG)

    return run_mapped(run, PROG)


if __name__ == "__main__":
    sys.exit(main())
