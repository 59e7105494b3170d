"""Statistics behind every number of the evaluation report: intervals, paired tests, detectable differences.

A :class:`Sample` is the per-item evidence of one reported number (one model, task, unit and metric):
the item ids and, per item, either a 0/1 outcome (``binary``: accuracy, exact match, off-target),
a score whose mean is the metric (``mean``: ROUGE, MKQA token F1, alignment cosine) or a row of
sufficient statistics that the task's own scorer turns into the corpus metric once summed
(``corpus``: sacreBLEU's BLEU / chrF++ segment statistics, NER entity counts). ``Sample.score()`` on
all items gives back the reported value.

- 95% interval: Wilson score interval for ``binary``; otherwise a percentile bootstrap over items
  (``RESAMPLES`` resamples, the metric recomputed on each resample with the same scorer). An average
  over languages: the Wilson interval at the effective sample size for ``binary``, otherwise a
  stratified bootstrap (each language's items resampled on their own).
- Paired test of a difference between two models on the items both answered: exact McNemar (two-sided
  binomial test on the discordant items) for ``binary``; otherwise a paired bootstrap (both models
  resampled with the same items; two-sided, shifted to the null: ``|d* - d| >= |d|``; never below
  ``2 / 2**m`` for ``m`` paired items, the least an exact test on them can give).
- Smallest detectable difference (alpha 0.05 two-sided, power 0.8): ``(z_0.975 + z_0.8) * sqrt(2) * SE``,
  the two-sample normal approximation, with ``SE = sqrt(p (1 - p) / n)`` at the baseline's observed rate
  for ``binary`` (p = 0.5 when that rate is 0 or 1) and the bootstrap standard deviation otherwise.
  It ignores the pairing (which can only make the real test more sensitive).

Resampling is deterministic: the draws of a stratum depend only on the seed, the stratum's key and its
number of items, so every interval and test of a report can be recomputed exactly.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

Z95 = 1.959963984540054  # two-sided alpha 0.05
Z80 = 0.8416212335729143  # power 0.8
RESAMPLES = 1000
SEED = 20240
BINARY, MEAN, CORPUS = "binary", "mean", "corpus"
_CHUNK = 100


@dataclass(eq=False)
class Sample:
    """Per-item evidence of one reported number (module docstring)."""

    kind: str
    ids: tuple
    values: np.ndarray  # (n,) for binary / mean, (n, k) for corpus
    scale: float = 100.0  # binary / mean: the report's scale (100: percent)
    scorer: Optional[Callable[[np.ndarray], float]] = None  # corpus: summed statistics -> the metric
    _pos: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        seen: dict = {}
        ids = []
        for i in (str(i) for i in self.ids):  # a repeated id (two files of one unit) gets a counted suffix
            seen[i] = seen.get(i, 0) + 1
            ids.append(i if seen[i] == 1 else f"{i}~{seen[i]}")
        self.ids = tuple(ids)
        self.values = np.asarray(self.values, dtype=np.float64)
        if len(self.values) != len(self.ids):
            raise ValueError(f"[Internal] {len(self.ids)} ids but {len(self.values)} values")
        self._pos = {i: k for k, i in enumerate(self.ids)}

    @property
    def n(self) -> int:
        return len(self.ids)

    def positions(self, ids: Sequence[str]) -> np.ndarray:
        return np.asarray([self._pos[i] for i in ids], dtype=np.int64)

    def values_of(self, ids: Optional[Sequence[str]] = None) -> np.ndarray:
        return self.values if ids is None else self.values[self.positions(ids)]

    def from_sums(self, sums: np.ndarray, m: int) -> np.ndarray:
        """The metric of resamples, from the per-resample sums of the item values (``m`` items each)."""
        if self.kind == CORPUS:
            return np.asarray([float(self.scorer(s)) for s in sums], dtype=np.float64)
        return self.scale * np.asarray(sums, dtype=np.float64) / m

    def score(self, ids: Optional[Sequence[str]] = None) -> Optional[float]:
        vals = self.values_of(ids)
        if len(vals) == 0:
            return None
        return float(self.from_sums(vals.sum(axis=0)[None], len(vals))[0])


def binary(ids: Iterable, outcomes: Iterable, scale: float = 100.0) -> Sample:
    return Sample(BINARY, tuple(ids), np.asarray([float(bool(v)) for v in outcomes]), scale)


def means(ids: Iterable, scores: Iterable, scale: float = 100.0) -> Sample:
    return Sample(MEAN, tuple(ids), np.asarray(list(scores), dtype=np.float64), scale)


def corpus(ids: Iterable, rows: Iterable, scorer: Callable[[np.ndarray], float]) -> Sample:
    rows = [list(r) for r in rows]
    arr = np.asarray(rows, dtype=np.float64) if rows else np.zeros((0, 1))
    return Sample(CORPUS, tuple(ids), arr, 1.0, scorer)


def pool_seeds(samples: Sequence[Sample]) -> Sample:
    """One sample for the mean over seeds of the same model recipe, on the items every seed has.

    Binary and mean samples: the per-item mean over seeds (a mean sample; one seed stays as it is).
    Corpus samples: the seeds' statistics side by side, scored as the mean of the seeds' corpus scores,
    so that a bootstrap resamples the same items for every seed."""
    if len(samples) == 1:
        return samples[0]
    ids = common_ids(samples)
    if samples[0].kind != CORPUS:
        vals = np.mean([s.values_of(ids) for s in samples], axis=0) if ids else np.zeros(0)
        return Sample(MEAN, tuple(ids), vals, samples[0].scale)
    widths = [s.values.shape[1] for s in samples]
    bounds = np.cumsum([0, *widths])
    scorers = [s.scorer for s in samples]

    def scorer(sums: np.ndarray) -> float:
        return float(np.mean([f(sums[bounds[k]:bounds[k + 1]]) for k, f in enumerate(scorers)]))

    vals = np.hstack([s.values_of(ids) for s in samples]) if ids else np.zeros((0, int(bounds[-1])))
    return Sample(CORPUS, tuple(ids), vals, 1.0, scorer)


def common_ids(samples: Sequence[Sample]) -> list[str]:
    """Item ids every sample has, in the first sample's order."""
    if not samples:
        return []
    others = [set(s.ids) for s in samples[1:]]
    return [i for i in samples[0].ids if all(i in o for o in others)]


# ------------------------------------------------------------------------- closed forms


def wilson(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n, as fractions (0-1)."""
    if n <= 0:
        raise ValueError("wilson: n must be positive")
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo, hi = max(0.0, center - half), min(1.0, center + half)
    return (0.0 if k <= 0 else lo), (1.0 if k >= n else hi)


def weighted_wilson(parts: Sequence[tuple[float, Sample]]) -> Optional[tuple[float, float]]:
    """Wilson interval (report scale) of a weighted mean of binary samples' rates, at the effective sample size
    ``1 / sum(W_s^2 / n_s)`` (W_s: a sample's total weight; equal weights and n give the pooled n)."""
    total: dict = {}
    for w, s in parts:
        if s.kind != BINARY or s.n == 0:
            return None
        total[id(s)] = (total.get(id(s), (0.0, s))[0] + w, s)
    p = sum(w * float(s.values.mean()) for w, s in total.values())
    n_eff = 1.0 / sum(w * w / s.n for w, s in total.values())
    lo, hi = wilson(min(max(p, 0.0), 1.0) * n_eff, n_eff)
    scale = next(iter(total.values()))[1].scale
    return scale * lo, scale * hi


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided binomial test of k successes in n trials at p = 1/2 (doubling the smaller tail)."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2 ** n)


def mcnemar_exact(b: int, c: int) -> float:
    """Exact McNemar p-value from the discordant counts (b: only the first right, c: only the second)."""
    return binomial_two_sided(int(b), int(b) + int(c))


def mcnemar(a: Sample, b: Sample) -> Optional[float]:
    """Exact McNemar test of two binary samples on the items both have."""
    ids = common_ids([a, b])
    if not ids:
        return None
    x, y = a.values_of(ids) > 0.5, b.values_of(ids) > 0.5
    return mcnemar_exact(int(np.sum(x & ~y)), int(np.sum(~x & y)))


def mde_rate(p: float, n: int) -> Optional[float]:
    """Smallest detectable difference of a proportion (fraction) at rate ``p`` with ``n`` items per model."""
    if n <= 0:
        return None
    if p is None or p <= 0 or p >= 1:
        p = 0.5
    return (Z95 + Z80) * math.sqrt(2 * p * (1 - p) / n)


def mde_from_se(se: float) -> float:
    return (Z95 + Z80) * math.sqrt(2) * se


# ------------------------------------------------------------------------- bootstrap


def p_shifted(d: np.ndarray, observed: float, m: int) -> float:
    """Two-sided bootstrap p-value: resampled differences shifted to the null, as far out as the observed one.

    Never below ``2 / 2**m``, the smallest p-value any two-sided test on ``m`` paired items can give (an exact
    sign-flip test's): with a handful of items whose differences are all alike, the bootstrap distribution has
    no spread and would call any difference significant."""
    tol = 1e-9 * max(1.0, abs(observed))
    extreme = int(np.sum(np.abs(d - observed) >= abs(observed) - tol))
    return min(1.0, max((1 + extreme) / (1 + len(d)), 2.0 ** (1 - m)))


class Bootstrap:
    """Deterministic percentile / paired / stratified bootstrap over items (module docstring)."""

    def __init__(self, resamples: int = RESAMPLES, seed: int = SEED):
        self.resamples, self.seed = int(resamples), int(seed)
        self._cache: dict = {}

    def _counts(self, key, m: int):
        """Per-resample item counts (chunks of (rows, m)), the same for the same key and m."""
        rng = np.random.default_rng([self.seed, zlib.crc32(repr((key, m)).encode())])
        done = 0
        while done < self.resamples:
            rows = min(_CHUNK, self.resamples - done)
            idx = rng.integers(0, m, size=(rows, m)) + (np.arange(rows) * m)[:, None]  # m items drawn with replacement
            yield np.bincount(idx.ravel(), minlength=rows * m).reshape(rows, m)
            done += rows

    def distribution(self, sample: Sample, key, ids: Optional[Sequence[str]] = None) -> np.ndarray:
        """The metric of ``sample`` on each resample of ``ids`` (default: all its items)."""
        ids = tuple(sample.ids if ids is None else ids)
        cache_key = (id(sample), key, ids)
        if cache_key in self._cache:
            return self._cache[cache_key][1]
        vals = sample.values_of(ids)
        m = len(ids)
        if m == 0:
            dist = np.zeros(0)
        else:
            dist = np.concatenate([sample.from_sums(w @ vals, m) for w in self._counts(key, m)])
        self._cache[cache_key] = (sample, dist)
        return dist

    def ci(self, sample: Sample, key=None, ids: Optional[Sequence[str]] = None) -> tuple[float, float]:
        dist = self.distribution(sample, key, ids)
        lo, hi = np.percentile(dist, [2.5, 97.5])
        return float(lo), float(hi)

    def sd(self, sample: Sample, key=None) -> float:
        dist = self.distribution(sample, key)
        return float(np.std(dist, ddof=1)) if len(dist) > 1 else 0.0

    def paired_p(self, a: Sample, b: Sample, key=None) -> Optional[float]:
        """Paired bootstrap p-value of metric(a) - metric(b) on the items both have."""
        ids = common_ids([a, b])
        if not ids:
            return None
        observed = a.score(ids) - b.score(ids)
        return p_shifted(self.distribution(a, key, ids) - self.distribution(b, key, ids), observed, len(ids))

    def weighted_p(self, parts: Sequence[tuple]) -> Optional[float]:
        """Paired bootstrap p-value of sum(w * (metric(a) - metric(b))) over ``parts`` (:meth:`weighted`)."""
        res = self.weighted(parts)
        if res is None:
            return None
        return p_shifted(res[1], res[0], sum(len(v) for v in res[2].values()))

    def weighted(self, parts: Sequence[tuple]) -> Optional[tuple[float, np.ndarray, dict]]:
        """(observed, resampled, stratum -> item ids) of sum(w * (metric(a) - metric(b))) over ``parts`` =
        (stratum, w, a, b or None).

        Each stratum (a task's unit: the same items) is resampled once for all the parts that use it; a
        part's samples are restricted to the items every sample of its stratum has."""
        strata: dict = {}
        for stratum, _, a, b in parts:
            strata.setdefault(stratum, []).extend([s for s in (a, b) if s is not None])
        ids = {k: tuple(common_ids(v)) for k, v in strata.items()}
        if not parts or any(not v for v in ids.values()):
            return None
        observed, dist = 0.0, np.zeros(self.resamples)
        for stratum, w, a, b in parts:
            observed += w * (a.score(ids[stratum]) - (b.score(ids[stratum]) if b is not None else 0.0))
            dist = dist + w * self.distribution(a, stratum, ids[stratum])
            if b is not None:
                dist = dist - w * self.distribution(b, stratum, ids[stratum])
        return observed, dist, ids


def interval(sample: Sample, boot: Bootstrap, key=None) -> tuple[Optional[float], Optional[float], str]:
    """(low, high, method) of the 95% interval of ``sample``'s metric, on the report's scale."""
    if sample.n == 0:
        return None, None, ""
    if sample.kind == BINARY:
        lo, hi = wilson(float(sample.values.sum()), sample.n)
        return sample.scale * lo, sample.scale * hi, "wilson"
    lo, hi = boot.ci(sample, key)
    return lo, hi, "bootstrap"


def paired_test(a: Sample, b: Sample, boot: Bootstrap, key=None) -> tuple[Optional[float], str]:
    """(p-value, test) of the difference between two models' samples of the same unit and metric."""
    if a.kind == BINARY and b.kind == BINARY:
        return mcnemar(a, b), "mcnemar"
    return boot.paired_p(a, b, key), "paired bootstrap"


def mde(base: Sample, boot: Bootstrap, key=None) -> Optional[float]:
    """Smallest detectable difference (report scale) for a comparison against ``base`` on its n items."""
    if base.n == 0:
        return None
    if base.kind == BINARY:
        return base.scale * mde_rate(float(base.values.mean()), base.n)
    se = boot.sd(base, key)
    return mde_from_se(se) if se > 0 else None
