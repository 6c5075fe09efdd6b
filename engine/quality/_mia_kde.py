"""Gaussian kernel density estimates for the density-ratio (DOMIAS-style) attack.

The densities live in a few principal components of the distance encoding (a KDE in 100+
one-hot dimensions is meaningless). :class:`PrincipalProjection` finds the components on a
sample of real rows that are never attacked, and scales them to unit variance.
:class:`GaussianKDE` then uses the sample's own covariance times Scott's factor
``n ** (-1 / (d + 4))`` as kernel covariance (the rule ``scipy.stats.gaussian_kde`` uses by
default), and evaluates log densities with blocked matrix products and a running
log-sum-exp, so no query x point matrix is held whole.
"""

from __future__ import annotations

import numpy as np

from engine.errors import ConfigError, InputError
from engine.quality.distance import sq_distance_blocks

_RIDGE = 1e-3  # share of the mean variance added to the covariance's diagonal: no singular kernels


class PrincipalProjection:
    """Project onto the leading principal components, scaled to unit variance (estimator contract)."""

    def __init__(self, *, n_components: int = 10) -> None:
        self.n_components = n_components

    def fit(self, X: np.ndarray, y: object = None) -> PrincipalProjection:
        if isinstance(self.n_components, bool) or not isinstance(self.n_components, int) or self.n_components < 1:
            raise ConfigError(f"n_components must be a positive integer, got {self.n_components!r}")
        if len(X) < 2:
            raise InputError("need at least 2 rows to find principal components")
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        centred = X - self.mean_
        # eigen-decomposition of the (features x features) covariance: cheaper than an SVD of X
        variances, vectors = np.linalg.eigh(centred.T @ centred / (len(X) - 1))
        variances, vectors = variances[::-1].clip(min=0.0), vectors[:, ::-1]
        std = np.sqrt(variances)
        keep = std > max(std[0] * 1e-6, 1e-12) if std[0] > 0 else np.zeros(len(std), bool)
        k = max(1, min(self.n_components, int(keep.sum())))
        self.components_ = vectors[:, :k].T
        self.scale_ = np.where(std[:k] > 0, std[:k], 1.0)
        self.n_components_ = k
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean_) @ self.components_.T) / self.scale_


class GaussianKDE:
    """Gaussian KDE with Scott's rule bandwidth and full covariance (estimator contract)."""

    def __init__(self, *, block_rows: int = 2048, block_cols: int = 8192) -> None:
        self.block_rows = block_rows
        self.block_cols = block_cols

    def fit(self, X: np.ndarray, y: object = None) -> GaussianKDE:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) < 2:
            raise InputError(f"a kernel density needs a 2-D sample of at least 2 rows, got shape {X.shape}")
        n, d = X.shape
        self.factor_ = float(n ** (-1.0 / (d + 4)))
        data_cov = np.atleast_2d(np.cov(X, rowvar=False))
        ridge = _RIDGE * max(float(np.mean(np.diag(data_cov))), 1e-12)
        cov = (data_cov + ridge * np.eye(d)) * self.factor_**2
        chol = np.linalg.cholesky(cov)
        self.whiten_ = np.linalg.inv(chol).T  # x @ whiten_ has identity kernel covariance
        self.points_ = (X @ self.whiten_).astype(np.float32)
        # log of 1 / (n * sqrt((2 pi)^d |cov|))
        self.log_norm_ = float(-np.log(n) - 0.5 * d * np.log(2 * np.pi) - np.log(np.diag(chol)).sum())
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """log density at every row of ``X`` (float64)."""
        q = (np.asarray(X, dtype=np.float64) @ self.whiten_).astype(np.float32)
        n = len(q)
        # sq_distance_blocks centres both sides on the points' mean: ||q||^2 in that frame
        center = self.points_.mean(axis=0, dtype=np.float64)
        qc = q.astype(np.float64) - center
        q_sq = np.einsum("ij,ij->i", qc, qc).astype(np.float32)
        running_max = np.full(n, -np.inf)
        running_sum = np.zeros(n)
        for rows, _, partial in sq_distance_blocks(q, self.points_, block_rows=self.block_rows, block_cols=self.block_cols):
            partial += q_sq[rows, None]
            np.maximum(partial, 0.0, out=partial)
            partial *= np.float32(-0.5)  # log kernel up to the constant
            block_max = partial.max(axis=1).astype(np.float64)
            new_max = np.maximum(running_max[rows], block_max)
            partial -= new_max.astype(np.float32)[:, None]
            np.exp(partial, out=partial)
            running_sum[rows] = running_sum[rows] * np.exp(running_max[rows] - new_max) + partial.sum(axis=1, dtype=np.float64)
            running_max[rows] = new_max
        return running_max + np.log(running_sum) + self.log_norm_
