"""Numbers for the paper's representation figure (Sec. 4.4, Fig. 2): how close parallel sentences lie.

Input: row i of ``x`` (target language) and row i of ``y`` (English) are sentence vectors of the same
sentence (last-token, final-layer hidden states). Reported:

- ``cosine``: mean cosine similarity of the parallel pairs;
- ``cosine_random``: mean cosine similarity of the non-parallel pairs (the baseline the first must beat);
- ``top1``: top-1 retrieval accuracy by cosine, the mean of target->English and English->target;
- ``top1_x2en`` / ``top1_en2x``: the two directions.

The 2-D picture is a PCA of both sets together (numpy SVD), in place of the paper's t-SNE.
"""

from __future__ import annotations

import numpy as np


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1.0, norms)


def alignment_scores(x: np.ndarray, y: np.ndarray) -> dict:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2 or len(x) == 0:
        raise ValueError(f"[Internal] expected two equal (n, d) arrays, got {x.shape} and {y.shape}")
    sim = _unit(x) @ _unit(y).T
    n = len(x)
    diag = np.diag(sim)
    off = (sim.sum() - diag.sum()) / (n * n - n) if n > 1 else float("nan")
    idx = np.arange(n)
    x2y = float(np.mean(sim.argmax(axis=1) == idx))
    y2x = float(np.mean(sim.argmax(axis=0) == idx))
    return {
        "cosine": float(diag.mean()),
        "cosine_random": float(off),
        "top1": (x2y + y2x) / 2,
        "top1_x2en": x2y,
        "top1_en2x": y2x,
        "n": n,
    }


def per_item(x: np.ndarray, y: np.ndarray) -> dict:
    """Per pair i: ``cosine`` of the pair, ``x2en`` / ``en2x`` (1 when the pair is the other's nearest
    neighbour, among this set of sentences); their means are :func:`alignment_scores`' numbers."""
    sim = _unit(np.asarray(x, dtype=np.float64)) @ _unit(np.asarray(y, dtype=np.float64)).T
    idx = np.arange(len(sim))
    return {"cosine": np.diag(sim), "x2en": (sim.argmax(axis=1) == idx).astype(float),
            "en2x": (sim.argmax(axis=0) == idx).astype(float)}


def pca_2d(*sets: np.ndarray) -> list[np.ndarray]:
    """Project the sets together onto their first two principal components."""
    stacked = np.concatenate([np.asarray(s, dtype=np.float64) for s in sets], axis=0)
    centered = stacked - stacked.mean(axis=0, keepdims=True)
    if centered.shape[0] < 2 or not np.any(centered):
        proj = np.zeros((centered.shape[0], 2))
    else:
        _, _, vt = np.linalg.svd(centered, full_matrices=False)
        comps = vt[:2]
        proj = centered @ comps.T
        if proj.shape[1] < 2:
            proj = np.pad(proj, ((0, 0), (0, 2 - proj.shape[1])))
    out, start = [], 0
    for s in sets:
        out.append(proj[start:start + len(s)])
        start += len(s)
    return out
