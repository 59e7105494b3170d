"""COMET scoring in a separate environment: reference-free quality estimation for the translation
filter (``filter.qe``: CometKiwi, paper: reject below tau = 0.8) and reference-based COMET for FLORES
(``eval.comet``: wmt22-comet-da). Both are optional and share this client.

``unbabel-comet`` cannot share the main environment, so scoring runs elsewhere:

- ``python``: the python of an environment with unbabel-comet; each filter actor (or the evaluation)
  starts :mod:`sdrrl_ray.filters.qe_worker` there once and talks JSON lines over its stdin/stdout
  (:class:`SubprocessQEScorer`);
- ``url``: an HTTP scoring service (``qe_worker.py --serve PORT`` in that environment,
  or anything that answers ``POST {"data": [{"src", "mt"[, "ref"]}]}`` with ``{"scores": [...]}``;
  :class:`HTTPQEScorer`). When both are set the URL is used. Each request has a timeout; connection
  errors, timeouts and 429/5xx answers are retried a bounded number of times with exponential backoff,
  then :class:`QEServiceError` names the URL and what to check.

:func:`check_qe_available` is the start-up check: scoring enabled without either, or with one that does
not work, is a :class:`~sdrrl_ray.errors.UserError` before any data is read. A scorer takes
(source, translation) pairs, or (source, translation, reference) triples for reference-based COMET.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import select
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Optional, Protocol, Sequence

from sdrrl_ray.errors import UserError

logger = logging.getLogger(__name__)

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qe_worker.py")
INSTALL_HINT = "install it there with: <python> -m pip install unbabel-comet"


class QEScorer(Protocol):
    def score(self, pairs: Sequence[tuple[str, ...]]) -> list[float]:
        """One score per (source, translation) pair or (source, translation, reference) triple."""
        ...


def _rows(pairs: Sequence[tuple[str, ...]]) -> list[dict]:
    return [dict(zip(("src", "mt", "ref"), p)) for p in pairs]


def _qe_config(cfg: Any):
    """Accept the root Config, a FilterConfig, a QEConfig (or a CometConfig) or a dict of QEConfig fields."""
    from sdrrl_ray.config import QEConfig

    if isinstance(cfg, dict):
        return QEConfig(**cfg)
    if hasattr(cfg, "filter"):
        return cfg.filter.qe
    if hasattr(cfg, "qe"):
        return cfg.qe
    return cfg


def check_qe_available(cfg: Any, timeout_s: float = 120.0, key: str = "filter.qe") -> None:
    """Start-up check of ``filter.qe`` (or the section ``key`` names, e.g. ``eval.comet``); raises
    :class:`UserError` with the fix. No-op when disabled."""
    qe = _qe_config(cfg)
    if not qe.enabled:
        return
    if not qe.url and not qe.python:
        raise UserError(
            f"{key}.enabled=true needs a COMET scorer ({qe.model}), and unbabel-comet cannot be installed in the "
            f"pipeline's environment: set {key}.python to the python of an environment that has it "
            f"(e.g. {key}.python=/opt/comet/bin/python; `make comet-env` builds .venv-comet) or {key}.url to a "
            f"scoring service (run {WORKER} --serve PORT there), or set {key}.enabled=false"
        )
    if qe.url:
        try:
            HTTPQEScorer(qe.url, timeout_s=min(timeout_s, 30.0), attempts=2, backoff_s=0.5).score([])
        except Exception as exc:
            raise UserError(
                f"{key}.url={qe.url} does not answer a scoring request ({exc}); start the service "
                f"({WORKER} --serve PORT in the unbabel-comet environment) or fix the URL"
            ) from None
        return
    python = os.path.expanduser(qe.python)
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise UserError(f"{key}.python={qe.python} is not an executable file; "
                        "point it at the python of an environment with unbabel-comet")
    try:
        proc = subprocess.run([python, "-c", "import comet"], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise UserError(f"{key}.python={qe.python}: 'import comet' did not finish in {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise UserError(
            f"{key}.python={qe.python} cannot import comet ({tail}); {INSTALL_HINT.replace('<python>', qe.python)}"
        )


def build_qe_scorer(cfg: Any, key: str = "filter.qe") -> Optional[QEScorer]:
    """The scorer ``filter.qe`` (or the section ``key`` names) describes, or None when it is disabled."""
    qe = _qe_config(cfg)
    if not qe.enabled:
        return None
    if qe.url:
        return HTTPQEScorer(qe.url, batch_size=qe.batch_size, key=key)
    if qe.python:
        return SubprocessQEScorer(qe.python, model=qe.model, batch_size=qe.batch_size)
    check_qe_available(qe, key=key)  # raises the start-up error
    return None


class QEServiceError(RuntimeError):
    """The QE service did not answer after every attempt; ``attempts`` says how many were made."""

    def __init__(self, message: str, attempts: int):
        super().__init__(message)
        self.attempts = attempts


# failures worth another try: the service is restarting, overloaded, or the network dropped a request
_TRANSIENT = (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException)
_TRANSIENT_HTTP = (429, 500, 502, 503, 504)


class HTTPQEScorer:
    """Client of the HTTP scoring service: each request gets ``timeout_s``; a connection error, a timeout
    or a 429/5xx answer is retried, ``attempts`` tries in all, waiting ``backoff_s``, then twice that, ...
    (at most ``max_backoff_s``) in between; then :class:`QEServiceError` names the URL and what to check."""

    def __init__(self, url: str, batch_size: int = 32, timeout_s: float = 600.0, attempts: int = 4,
                 backoff_s: float = 2.0, max_backoff_s: float = 60.0, key: str = "filter.qe"):
        if attempts < 1:
            raise ValueError(f"attempts={attempts} must be >= 1")
        self.url = url
        self.key = key  # the config section that names the service (its errors say what to fix)
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s

    def score(self, pairs: Sequence[tuple[str, ...]]) -> list[float]:
        if not pairs:
            return self._post([])
        out: list[float] = []
        for k in range(0, len(pairs), self.batch_size):
            out += self._post(pairs[k:k + self.batch_size])
        return out

    def _post(self, pairs: Sequence[tuple[str, ...]]) -> list[float]:
        body = json.dumps({"data": _rows(pairs)}).encode()
        start = time.monotonic()
        for attempt in range(1, self.attempts + 1):
            try:
                reply = self._request(body)
                break
            except _TRANSIENT as exc:
                if isinstance(exc, urllib.error.HTTPError) and exc.code not in _TRANSIENT_HTTP:
                    raise RuntimeError(
                        f"QE service {self.url} answered HTTP {exc.code}: {exc.read()[:300]!r}") from None
                why = _describe(exc)
                if attempt == self.attempts:
                    raise QEServiceError(
                        f"QE service {self.url} did not answer after {attempt} attempt(s) in "
                        f"{time.monotonic() - start:.0f} s (last error: {why}); check that the scoring service is "
                        f"running ({WORKER} --serve PORT in the unbabel-comet environment), that {self.key}.url "
                        f"points at it and is reachable from this node, and that it answers within "
                        f"{self.timeout_s:.0f} s", attempts=attempt) from exc
                wait = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
                logger.warning("QE service %s: attempt %d of %d failed (%s); retrying in %.1f s",
                               self.url, attempt, self.attempts, why, wait)
                time.sleep(wait)
        scores = reply.get("scores")
        if not isinstance(scores, list) or len(scores) != len(pairs):
            raise RuntimeError(f"QE service {self.url} returned {reply!r:.300} for {len(pairs)} pairs")
        return [float(s) for s in scores]

    def _request(self, body: bytes) -> dict:
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            return json.loads(resp.read() or b"{}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, TimeoutError):
        return f"timed out ({exc})" if str(exc) else "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class SubprocessQEScorer:
    """Starts ``qe_worker.py`` with ``python`` once; requests and replies are JSON lines."""

    def __init__(self, python: str, model: str = "Unbabel/wmt22-cometkiwi-da", batch_size: int = 32,
                 start_timeout_s: float = 900.0, request_timeout_s: float = 1800.0, env: Optional[dict] = None):
        self.stderr = tempfile.TemporaryFile(mode="w+b")
        self.proc = subprocess.Popen(
            [os.path.expanduser(python), WORKER, "--model", model, "--batch-size", str(batch_size)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env,
        )
        self.request_timeout_s = request_timeout_s
        self.batch_size = batch_size
        self._next_id = 0
        self._lock = threading.Lock()
        ready = self._read(start_timeout_s, "start")
        if not ready.get("ready"):
            self.close()
            raise RuntimeError(f"the QE worker could not load {model}: {ready.get('error')}; "
                               f"stderr: {self._stderr_tail()}")

    def score(self, pairs: Sequence[tuple[str, ...]]) -> list[float]:
        if not pairs:
            return []
        with self._lock:
            self._next_id += 1
            req = {"id": self._next_id, "data": _rows(pairs)}
            try:
                self.proc.stdin.write((json.dumps(req) + "\n").encode())
                self.proc.stdin.flush()
            except BrokenPipeError:
                raise RuntimeError(
                    f"the QE worker exited ({self.proc.poll()}); stderr: {self._stderr_tail()}") from None
            reply = self._read(self.request_timeout_s, "score")
        if "error" in reply:
            raise RuntimeError(f"the QE worker failed: {reply['error']}")
        scores = reply.get("scores")
        if reply.get("id") != req["id"] or not isinstance(scores, list) or len(scores) != len(pairs):
            raise RuntimeError(f"[Internal] the QE worker answered {reply!r:.300} to request {req['id']} "
                               f"of {len(pairs)} pairs")
        return [float(s) for s in scores]

    def _read(self, timeout_s: float, what: str) -> dict:
        deadline = time.monotonic() + timeout_s
        out = self.proc.stdout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise RuntimeError(f"the QE worker did not answer ({what}) within {timeout_s:.0f} s; "
                                   f"stderr: {self._stderr_tail()}")
            ready, _, _ = select.select([out], [], [], min(left, 1.0))
            if ready:
                line = out.readline()
                if not line:
                    code = self.proc.wait(timeout=5)
                    raise RuntimeError(f"the QE worker exited with status {code}; stderr: {self._stderr_tail()}")
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    logger.warning("QE worker printed a non-protocol line: %r", line[:200])

    def _stderr_tail(self, n: int = 1500) -> str:
        try:
            self.stderr.seek(0)
            return self.stderr.read().decode("utf-8", "replace")[-n:].strip() or "(empty)"
        except Exception:
            return "(unavailable)"

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
