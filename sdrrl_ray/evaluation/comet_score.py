"""FLORES COMET (paper: ``Unbabel/wmt22-comet-da``, reported 0-100) through the COMET scoring client.

unbabel-comet cannot share the main environment: ``eval.comet.python`` (or ``eval.comet.url``) names
the environment that scores, exactly as ``filter.qe`` does for CometKiwi, through the same client
(:mod:`sdrrl_ray.filters.qe`, which starts ``qe_worker.py`` there once). A segment's score is the
model's output for (source, hypothesis, reference); the system score is their mean x 100, the paper's
scale. One scorer per setting is started on first use and kept for the process (``sdrrl compare``
evaluates many models); :func:`close` stops them.
"""

from __future__ import annotations

import atexit
import dataclasses
from typing import Optional, Sequence

from sdrrl_ray.assets import resolve_comet_model
from sdrrl_ray.config import CometConfig
from sdrrl_ray.filters.qe import build_qe_scorer, check_qe_available

KEY = "eval.comet"
PAPER_MODEL = "Unbabel/wmt22-comet-da"
_SCORERS: dict = {}


def _resolved(c: CometConfig) -> CometConfig:
    return dataclasses.replace(c, model=resolve_comet_model(c.model, c.python, what=f"{KEY}.model"))


def check(c: CometConfig) -> None:
    """Start-up check (before any model runs): the environment imports comet and the model resolves."""
    if c.enabled:
        check_qe_available(c, key=KEY)
        _resolved(c)


def segment_scores(c: CometConfig, triples: Sequence[tuple[str, str, str]]) -> Optional[list[float]]:
    """One COMET score per (source, hypothesis, reference), or None when ``eval.comet`` is off."""
    if not c.enabled:
        return None
    key = (c.python, c.url, c.model, c.batch_size)
    if key not in _SCORERS:
        if not _SCORERS:
            atexit.register(close)
        _SCORERS[key] = build_qe_scorer(_resolved(c), key=KEY)
    return _SCORERS[key].score([tuple(str(x or "") for x in t) for t in triples])


def signature(c: CometConfig) -> str:
    """The report's line for the model that scored (``demo:`` checkpoints say that their scores mean nothing)."""
    what = c.model
    if c.model.startswith("demo:"):
        what += " (a tiny random-init checkpoint in COMET's format: the scores test the code path and mean nothing)"
    return f"{what}; system score = mean segment score x 100 (paper: {PAPER_MODEL})"


def close() -> None:
    for scorer in _SCORERS.values():
        getattr(scorer, "close", lambda: None)()
    _SCORERS.clear()
