"""Mode-specific normalisation of one continuous column (the CTGAN / TVAE float encoding).

A variational (Dirichlet-process) Gaussian mixture is fitted to a seeded sample of the column;
modes with weight above ``MIN_MODE_WEIGHT`` are kept. A value x is encoded as the one-hot of a
mode k and the scalar ``z = (x - mu_k) / (4 sigma_k)`` in [-1, 1].

Unlike the classic encoding, the mode is chosen only among the modes whose [-4 sigma, +4 sigma]
window contains x, so z never needs clipping and the encoding is reversible: fitting checks
that the kept windows cover every training value and, when a value falls in a gap, adds one
fallback mode spanning the whole (capped) range. Sigmas are kept between ``1e-6`` of the
range and the range itself, which bounds the error of a float32 z:

    |decoded - x| <= 4 sigma_k * 2**-24 <= (hi - lo) * 2**-22  (< 2.4e-7 of the range)

before the column's own rounding (integers, decimals). Mode choice is the posterior argmax by
default (deterministic) or a draw from the posterior (CTGAN's choice) via the Gumbel-max trick.

A capped iteration count means the mixture often stops before sklearn's convergence test; the
caller (``DataTransformer.fit``) silences that ConvergenceWarning once for the whole fit,
since ``warnings.catch_warnings`` is not safe to enter from the worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_MODE_WEIGHT = 0.005
_FALLBACK_WEIGHT = 1e-3
_CHUNK = 131_072
_EPS = 1e-9


@dataclass
class ModeNormalizer:
    """Fitted modes of one column: means, standard deviations and mixture weights."""

    means: np.ndarray
    stds: np.ndarray
    weights: np.ndarray

    @property
    def n_modes(self) -> int:
        return len(self.means)

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        *,
        lo: float,
        hi: float,
        n_modes: int,
        sample_rows: int,
        max_iter: int,
        rng: np.random.Generator,
    ) -> ModeNormalizer:
        """Fit on the finite, already capped values ``x`` (all within [lo, hi])."""
        span = hi - lo
        if span <= 0 or len(x) == 0:
            return cls(np.array([lo], dtype=np.float64), np.array([1.0]), np.array([1.0]))
        sample = x if len(x) <= sample_rows else x[rng.choice(len(x), size=sample_rows, replace=False)]
        distinct = np.unique(sample)
        if len(distinct) == 1:
            means, stds, weights = distinct.astype(np.float64), np.array([span / 8]), np.array([1.0])
        else:
            means, stds, weights = _fit_mixture(sample, min(n_modes, len(distinct)), max_iter, rng)
        stds = np.clip(stds, span * 1e-6, span)
        model = cls(means, stds, weights / weights.sum())
        if _has_uncovered_values(x, model.means, model.stds):
            model = cls(
                np.append(model.means, (lo + hi) / 2),
                np.append(model.stds, span / 8),
                np.append(model.weights * (1 - _FALLBACK_WEIGHT), _FALLBACK_WEIGHT),
            )
        return model

    def encode(self, x: np.ndarray, *, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
        """Mode index (int64) and scalar z (float64 in [-1, 1]) of every value of ``x``.

        ``rng`` given: the mode is drawn from the posterior over the admissible modes;
        otherwise it is the posterior argmax.
        """
        modes = np.empty(len(x), dtype=np.int64)
        z_out = np.empty(len(x), dtype=np.float64)
        log_prior = np.log(self.weights) - np.log(self.stds)
        scale = 4.0 * self.stds
        for start in range(0, len(x), _CHUNK):
            chunk = x[start : start + _CHUNK]
            z = (chunk[:, None] - self.means) / scale
            score = log_prior - 8.0 * z * z
            score[np.abs(z) > 1.0 + _EPS] = -np.inf
            if rng is not None:
                score += rng.gumbel(size=score.shape)
            k = np.argmax(score, axis=1)
            modes[start : start + len(chunk)] = k
            z_out[start : start + len(chunk)] = np.take_along_axis(z, k[:, None], axis=1)[:, 0]
        np.clip(z_out, -1.0, 1.0, out=z_out)
        return modes, z_out

    def decode(self, modes: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Values from mode indices and scalars (scalars are clipped to [-1, 1] first)."""
        z = np.clip(np.asarray(z, dtype=np.float64), -1.0, 1.0)
        return z * (4.0 * self.stds[modes]) + self.means[modes]

    def max_error(self) -> float:
        """Largest decoding error caused by storing z as float32 (see the module docstring)."""
        return float(4.0 * self.stds.max() * 2.0**-24 + np.abs(self.means).max() * 2.0**-52)

    def to_dict(self) -> dict[str, Any]:
        return {"means": self.means.tolist(), "stds": self.stds.tolist(), "weights": self.weights.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModeNormalizer:
        return cls(
            np.asarray(d["means"], dtype=np.float64),
            np.asarray(d["stds"], dtype=np.float64),
            np.asarray(d["weights"], dtype=np.float64),
        )


def _fit_mixture(
    sample: np.ndarray, n_components: int, max_iter: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bayesian GMM on the standardised sample; returns kept (means, stds, weights) in data units."""
    from sklearn.mixture import BayesianGaussianMixture

    center, scale = float(sample.mean()), float(sample.std())
    scale = scale if scale > 0 else 1.0
    gmm = BayesianGaussianMixture(
        n_components=n_components,
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=0.001,
        covariance_type="diag",  # the same model as "full" in one dimension, with less overhead
        max_iter=max_iter,
        n_init=1,
        init_params="k-means++",  # seeding only: full k-means costs as much as the mixture here
        random_state=int(rng.integers(2**31 - 1)),
    )
    gmm.fit(((sample - center) / scale).reshape(-1, 1))
    weights = gmm.weights_
    keep = weights > MIN_MODE_WEIGHT
    if not keep.any():
        keep = weights == weights.max()
    means = gmm.means_[keep, 0] * scale + center
    stds = np.sqrt(gmm.covariances_[keep, 0]) * scale
    return means.astype(np.float64), stds.astype(np.float64), weights[keep].astype(np.float64)


def _has_uncovered_values(x: np.ndarray, means: np.ndarray, stds: np.ndarray) -> bool:
    """True when some value of ``x`` lies outside every mode's [mu - 4 sigma, mu + 4 sigma]."""
    lows, highs = means - 4 * stds, means + 4 * stds
    order = np.argsort(lows)
    lows, highs = lows[order], highs[order]
    if float(x.min()) < lows[0]:
        return True
    reach = highs[0]
    for low, high in zip(lows[1:], highs[1:]):
        if low > reach and np.any((x > reach) & (x < low)):
            return True
        reach = max(reach, high)
    return float(x.max()) > reach
