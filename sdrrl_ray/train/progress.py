"""The training progress line rank 0 prints: ``train ja 123/533 loss 2.10 3.1k tok/s ETA 0:45``, one about
every 10% of the run's steps (and at its last step), so a run of any length prints about ten lines."""

from __future__ import annotations

import logging
import os
from typing import Optional

# the console noise a ZeRO-3 step makes in every worker: torch's deprecation of the collectives DeepSpeed calls
TORCH_DEPRECATION = r"`torch\.distributed\.\w+` is (deprecated|a private function)"


class _LibraryInfo(logging.Filter):
    """Drops INFO records of Ray Train and Ray Data from a console handler. Ray Train's console handler
    applies ``RunConfig.logging_config``'s level to loggers named ``ray.train.*`` only, and the one that says
    "Reporting training result ..." at each ``ray.train.report`` of every rank is named by its file path
    (``logging.getLogger(__file__)`` in ray/train/v2/_internal/execution/context.py), so it reached the root
    logger's console handler; the libraries' log files keep every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name.replace("\\", "/")
        return record.levelno >= logging.WARNING or not (name.startswith(("ray.train", "ray.data"))
                                                          or "/ray/train/" in name or "/ray/data/" in name)


def quiet_worker() -> None:
    """At the start of the train loop, in each worker: drop torch's FutureWarnings about
    ``all_gather_into_tensor`` / ``_all_gather_base`` (DeepSpeed's ZeRO-3 calls them each step; every other
    warning is left as it is) and, unless ``SDRRL_VERBOSE`` is set, Ray Train's and Ray Data's INFO lines from
    the console (:class:`_LibraryInfo`)."""
    import warnings

    warnings.filterwarnings("ignore", message=TORCH_DEPRECATION, category=FutureWarning)
    if os.environ.get("SDRRL_VERBOSE", "").strip().lower() not in ("", "0", "false", "no"):
        return
    for name in ("", "ray", "ray.data"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler) \
                    and not any(isinstance(f, _LibraryInfo) for f in handler.filters):
                handler.addFilter(_LibraryInfo())


def show(line: str) -> None:
    """A progress line on the console, once (a ``print`` in a Ray Train worker is both printed and logged)."""
    logging.getLogger("sdrrl_ray.train.progress").warning(line)


def report_every(total_steps: int, parts: int = 10) -> int:
    """Steps between two progress lines: about ``parts`` lines per run."""
    return max(1, -(-int(total_steps) // parts))


def due(step: int, total_steps: int, parts: int = 10) -> bool:
    return step >= total_steps or step % report_every(total_steps, parts) == 0


def _tokens(rate: Optional[float]) -> str:
    if rate is None:
        return "-"
    if rate >= 1e6:
        return f"{rate / 1e6:.1f}M"
    if rate >= 1e3:
        return f"{rate / 1e3:.1f}k"
    return f"{rate:.0f}"


def _clock(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(max(0.0, seconds)))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def progress_line(target: str, step: int, total_steps: int, loss: float, tokens_per_s: Optional[float],
                  seconds_per_step: Optional[float]) -> str:
    """``train ja 123/533 loss 2.10 3.1k tok/s ETA 0:45`` (ETA from the mean step time so far)."""
    eta = None if seconds_per_step is None else seconds_per_step * max(0, total_steps - step)
    return (f"train {target} {step}/{total_steps} loss {loss:.2f} {_tokens(tokens_per_s)} tok/s "
            f"ETA {_clock(eta)}")
