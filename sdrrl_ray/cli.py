"""``sdrrl`` command line (fire). Every command takes a YAML config and ``key=value`` overrides.

    sdrrl transfer-set CONFIG [k=v ...]   -> OUT/transfer_set/*.parquet, OUT/rejects/*.parquet, OUT/manifest.json
    sdrrl demo [--out DIR] [k=v ...]      -> the same on the embedded demo (local Ray, tiny built-in models)
    sdrrl config CONFIG [k=v ...]         -> print the resolved config as JSON

A user error exits with status 2 and one line on stderr; success exits 0.
"""

from __future__ import annotations

import logging
import os
import sys

from sdrrl_ray.config import load_config
from sdrrl_ray.errors import UserError

DEMO_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "jobs", "configs", "demo.yaml")


def _overrides(values: tuple) -> list[str]:
    return [str(v) for v in values]


class Commands:
    """SDRRL on Ray: build the transfer set (train and eval follow the same contract)."""

    def transfer_set(self, config: str, *overrides: str) -> None:
        """Run ingest -> answer choice -> generation (-> ...) into OUT and write OUT/manifest.json."""
        from sdrrl_ray.transfer_set import run_transfer_set, summary

        cfg = load_config(config, _overrides(overrides))
        print(cfg.to_json(), file=sys.stderr)
        manifest = run_transfer_set(cfg)
        print(summary(manifest))
        print(f"manifest: {cfg.out_dir}/manifest.json")

    def demo(self, *overrides: str, out: str = "out/demo") -> None:
        """The whole flow on the embedded demo: local Ray, tiny models built offline, demo data."""
        if not os.path.exists(DEMO_CONFIG):
            raise UserError(f"demo config {DEMO_CONFIG} is missing; run from a source checkout of sdrrl-ray")
        self.transfer_set(DEMO_CONFIG, f"out_dir={out}", *overrides)

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
