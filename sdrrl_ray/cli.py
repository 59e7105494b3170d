"""``sdrrl`` command line (fire). Every command takes a YAML config and ``key=value`` overrides.

    sdrrl transfer-set CONFIG [k=v ...]   -> OUT/transfer_set/*.parquet, OUT/rejects/*.parquet, OUT/manifest.json
    sdrrl train CONFIG [k=v ...]          -> OUT/model/ (or OUT/model/<target>/), OUT/train_log.jsonl
    sdrrl eval CONFIG [k=v ...]           -> OUT/report.json, OUT/report.md, OUT/plots/*.png
    sdrrl demo [--out DIR] [k=v ...]      -> all three on the embedded demo (local Ray, tiny built-in models)
    sdrrl config CONFIG [k=v ...]         -> print the resolved config as JSON

A user error exits with status 2 and one line on stderr; success exits 0.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from sdrrl_ray.config import load_config
from sdrrl_ray.errors import UserError

DEMO_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "jobs", "configs", "demo.yaml")


def _overrides(values: tuple) -> list[str]:
    return [str(v) for v in values]


def _load(config: str, overrides: tuple):
    cfg = load_config(config, _overrides(overrides))
    print(cfg.to_json(), file=sys.stderr)  # the resolved config comes first
    return cfg


def run_phases(cfg, phases=("transfer-set", "train", "eval")) -> None:
    """The phases in order, printing each one's summary (shared by `sdrrl demo` and jobs/full.py)."""
    if "transfer-set" in phases:
        from sdrrl_ray.transfer_set import run_transfer_set, summary

        print(summary(run_transfer_set(cfg)))
        print(f"manifest: {cfg.out_dir}/manifest.json")
    if "train" in phases:
        from sdrrl_ray.train.run import run_train

        result = run_train(cfg)
        print(json.dumps({k: v for k, v in result.items() if k in ("models", "summary", "tokens_per_s")}, default=str))
    if "eval" in phases:
        from sdrrl_ray.evaluation.run import run_eval

        run_eval(cfg)
        print(f"report: {cfg.out_dir}/report.md")


class Commands:
    """SDRRL on Ray: build the transfer set, train one model per target, evaluate."""

    def transfer_set(self, config: str, *overrides: str) -> None:
        """Ingest -> answer choice -> generation -> translation + filters -> variants, code-switching,
        parallel tasks into OUT; writes OUT/manifest.json."""
        run_phases(_load(config, overrides), ("transfer-set",))

    def train(self, config: str, *overrides: str) -> None:
        """Fine-tune on OUT/transfer_set with Ray Train + DeepSpeed; writes OUT/model/ and OUT/train_log.jsonl."""
        run_phases(_load(config, overrides), ("train",))

    def eval(self, config: str, *overrides: str) -> None:
        """Evaluate base and trained models; writes OUT/report.json, OUT/report.md, OUT/plots/."""
        run_phases(_load(config, overrides), ("eval",))

    def demo(self, *overrides: str, out: str = "out/demo") -> None:
        """The whole flow on the embedded demo: local Ray, tiny models built offline, demo data."""
        if not os.path.exists(DEMO_CONFIG):
            raise UserError(f"demo config {DEMO_CONFIG} is missing; run from a source checkout of sdrrl-ray")
        run_phases(_load(DEMO_CONFIG, (f"out_dir={out}", *overrides)))

    def config(self, config: str, *overrides: str) -> None:
        """Print the resolved config (YAML + overrides + defaults) as JSON."""
        print(load_config(config, _overrides(overrides)).to_json())


def _user_error(exc: BaseException) -> UserError | None:
    """The UserError behind ``exc``, also when Ray wrapped it in a task error."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, UserError):
            return exc
        exc = getattr(exc, "cause", None) or exc.__cause__
    return None


def main(argv: list[str] | None = None) -> int:
    import fire

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        fire.Fire(Commands, command=argv, name="sdrrl")
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - the one place that maps errors to exit codes
        err = _user_error(exc)
        if err is None:
            raise
        print(f"sdrrl: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
