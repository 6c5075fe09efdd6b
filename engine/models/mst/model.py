"""MST: a tree-structured graphical model of the token encoding (McKenna, Miklau, Sheldon 2021).

The winning mechanism of the NIST 2018 differential-privacy synthetic-data challenge, written
here from the paper (no Private-PGM, no JAX). Every column is one or a few discrete token
sub-columns (``DataTransformer.transform_tokens``: a category's level, a number's or date's
coarse quantile bin; fine sub-bins are switched off, ``n_fine_bins=1``, and a value is drawn
uniformly inside its bin on decoding). Sub-columns with a single code are constant and not
modelled. On the rest (the *attributes*):

1. **One-way marginals**, measured with Gaussian noise (a third of the model's budget).
2. **Domain compression** (DP only): the codes whose noisy count is below 3 sigma are merged
   into one rare group per attribute (expanded uniformly again on sampling).
3. **Tree selection**: a maximum spanning tree over the attribute pairs. Without privacy it is
   the Chow-Liu tree (exact mutual information). With privacy each of the ``d - 1`` edges is
   picked, Kruskal-style among the pairs that join two components, by the exponential
   mechanism on MST's score, the L1 distance between the pair's real marginal and the
   independent estimate from the noisy one-way marginals (sensitivity 1), a third of the
   budget.
4. **Two-way marginals** of the tree's edges, measured with Gaussian noise (the last third).
5. **Estimation** (the ``epochs``, default 30 rounds): every attribute's marginal is the
   inverse-variance average of its one-way measurement and the row/column sums of its edges'
   measurements, projected onto the simplex of total ``n``; every edge table is made
   non-negative and then fitted to both end marginals by iterative proportional fitting,
   one round per epoch (the progress ``loss`` is the remaining mismatch, a share of rows).
   The result is a consistent tree-structured distribution.
6. **Sampling**: root attribute from its marginal, then each attribute from its edge's
   conditional given its parent (breadth-first), all rows at once (inverse CDF), seeded.

Without ``privacy`` the measurements are exact and MST is a Chow-Liu tree model. With it, the
budget left after preprocessing (``PrivateRun``) is split in three zCDP thirds, recorded as
Gaussian and exponential mechanisms in the run's RDP accountant. A checkpoint holds the noisy
measurements, so a resumed fit never measures again.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import polars as pl

from engine.models.base import Synthesizer
from engine.models.mst.trainer import MSTTrainer
from engine.models.mst.config import MSTConfig
from engine.seeds import numpy_seed

_FLOOR = 1e-6  # share of the independent estimate mixed into an edge table before fitting


class MST(Synthesizer):
    """Tree-structured marginal model; the default for small privacy budgets.

    Own parameter: ``compress`` (True): merge the codes a private one-way measurement
    cannot tell from noise (MST's domain compression; no effect without privacy).
    ``epochs`` counts estimation rounds (default 30); ``batch_size`` is unused.
    """

    kind: ClassVar[str] = "mst"
    # Its measurements are taken (and, under DP, charged) once, by one process.
    trains_distributed: ClassVar[bool] = False
    config_class: ClassVar[type[MSTConfig]] = MSTConfig
    default_epochs: ClassVar[int] = 30
    default_batch_size: ClassVar[int] = 1
    default_patience: ClassVar[int | None] = None
    default_transformer_params: ClassVar[dict[str, Any]] = {
        "n_bins": 32,
        "n_fine_bins": 1,
        "n_modes": 1,
        "gmm_sample_rows": 100,
        "gmm_max_iter": 1,
        "n_jobs": 1,
    }

    # -- fitting --------------------------------------------------------------------------
    def _trainer(self, frame: pl.DataFrame, *, train_rows: np.ndarray, val_rows: np.ndarray, private: bool) -> MSTTrainer:
        tokens = self.transformer_.transform_tokens(frame)
        vocab = [int(t.vocab_size) for t in self.transformer_.token_info_]
        self._attrs = [k for k, v in enumerate(vocab) if v > 1]
        self._vocab = vocab
        return MSTTrainer(self, tokens=tokens)

    def _measure(self, tokens: np.ndarray, n: int) -> dict[str, Any]:
        """Steps 1-4: measurements, compression and the tree (the only reads of the rows)."""
        from engine.privacy.mechanisms import exponential_choice, gaussian_histogram, secure_rng

        attrs, d = self._attrs, len(self._attrs)
        codes = [tokens[:, k].astype(np.int64) for k in attrs]
        sizes = [self._vocab[k] for k in attrs]
        run = self._dp_run
        rng = secure_rng() if run is not None else None
        one_way = [np.bincount(c, minlength=s).astype(np.float64) for c, s in zip(codes, sizes)]
        sigma1 = sigma2 = 0.0
        if run is not None and d:
            rho = run.rho_total - run.rho_spent()
            if rho <= 0:
                from engine.errors import ConfigError

                raise ConfigError("the privacy budget is spent before MST can measure anything; raise epsilon or lower preprocessing_share")
            parts = 3 if d > 1 else 1
            share = (1.0 - sum(m.get("budget_share", 0.0) for m in run.mechanisms)) / parts
            rho_part = rho / parts
            sigma1 = math.sqrt(d / (2.0 * rho_part))
            run.spend_gaussian("MST one-way marginals", rho=rho_part, share=share, attributes=d, noise_per_marginal=sigma1)
            one_way = [gaussian_histogram(y, sigma1, rng) for y in one_way]
        # compression: codes the noisy measurement cannot tell from noise form one rare group
        supports = [np.ones(s, dtype=bool) for s in sizes]
        if run is not None and self.model_params["compress"]:
            supports = [y >= 3.0 * sigma1 for y in one_way]
        compressed, one_way_c = [], []
        for c, y, sup in zip(codes, one_way, supports):
            mapping, size = _compression(sup)
            compressed.append(mapping[c])
            one_way_c.append(np.append(y[sup], y[~sup].sum()) if size > sup.sum() else y.copy())
        csizes = [len(y) for y in one_way_c]
        # the tree
        edges: list[tuple[int, int]] = []
        if d > 1:
            pairs = [(a, b) for a in range(d) for b in range(a + 1, d)]
            exact = {(a, b): _pair_counts(compressed[a], compressed[b], csizes[a], csizes[b]) for a, b in pairs}
            if run is None:
                score = {(a, b): _mutual_information(exact[a, b]) for a, b in pairs}
            else:
                p = [np.clip(y, 0, None) / max(np.clip(y, 0, None).sum(), 1e-12) for y in one_way_c]
                score = {(a, b): float(np.abs(exact[a, b] - n * np.outer(p[a], p[b])).sum()) for a, b in pairs}
                eps_each = math.sqrt(8.0 * rho_part / (d - 1))
                run.spend_exponential("MST tree selection", epsilon=eps_each, count=d - 1, share=share, sensitivity=1.0)
            parent = list(range(d))

            def find(x: int) -> int:
                while parent[x] != x:
                    parent[x] = parent[parent[x]]
                    x = parent[x]
                return x

            for _ in range(d - 1):
                candidates = [e for e in pairs if find(e[0]) != find(e[1])]
                scores = np.array([score[e] for e in candidates])
                if run is None:
                    pick = int(np.argmax(scores))
                else:
                    pick = exponential_choice(scores, epsilon=eps_each, sensitivity=1.0, rng=rng)
                a, b = candidates[pick]
                parent[find(a)] = find(b)
                edges.append((a, b))
            two_way = [exact[e] for e in edges]
            if run is not None:
                sigma2 = math.sqrt(len(edges) / (2.0 * rho_part))
                run.spend_gaussian("MST two-way marginals", rho=rho_part, share=share, edges=len(edges), noise_per_marginal=sigma2)
                two_way = [gaussian_histogram(t, sigma2, rng) for t in two_way]
        else:
            two_way = []
        return {
            "supports": [s.tolist() for s in supports],
            "one_way": [y.tolist() for y in one_way_c],
            "edges": [list(e) for e in edges],
            "two_way": [t.tolist() for t in two_way],
            "sigma1": sigma1,
            "sigma2": sigma2,
        }

    def _init_estimate(self, measured: dict[str, Any], n: int) -> None:
        """Step 5's starting point: consistent node marginals, non-negative edge tables, the BFS order."""
        one_way = [np.asarray(y, dtype=np.float64) for y in measured["one_way"]]
        edges = [tuple(e) for e in measured["edges"]]
        two_way = [np.asarray(t, dtype=np.float64) for t in measured["two_way"]]
        s1, s2 = measured["sigma1"], measured["sigma2"]
        marginals = []
        for i, y in enumerate(one_way):
            if s1 == 0:  # exact measurements
                marginals.append(y.copy())
                continue
            total, weight = y / s1**2, np.full(len(y), 1.0 / s1**2)
            for (a, b), t in zip(edges, two_way):
                if i in (a, b):
                    sums = t.sum(axis=1) if i == a else t.sum(axis=0)
                    other = t.shape[1] if i == a else t.shape[0]
                    var = s2**2 * other
                    total, weight = total + sums / var, weight + 1.0 / var
            marginals.append(_simplex(total / weight, n))
        tables = []
        for (a, b), t in zip(edges, two_way):
            independent = np.outer(marginals[a], marginals[b]) / max(n, 1)
            tables.append(np.clip(t, 0.0, None) + _FLOOR * independent + 1e-12)
        self._state = {
            "supports": [np.asarray(s, dtype=bool) for s in measured["supports"]],
            "marginals": marginals,
            "edges": edges,
            "tables": tables,
            "n": n,
        }
        self._order = _bfs(len(marginals), edges)

    def _round(self) -> float:
        """One IPF round on every edge table; the largest remaining mismatch as a share of rows."""
        st = self._state
        worst = 0.0
        for k, (a, b) in enumerate(st["edges"]):
            t = st["tables"][k]
            t *= (st["marginals"][a] / np.maximum(t.sum(axis=1), 1e-300))[:, None]
            t *= (st["marginals"][b] / np.maximum(t.sum(axis=0), 1e-300))[None, :]
            worst = max(worst, float(np.abs(t.sum(axis=1) - st["marginals"][a]).max()))
        return worst / max(st["n"], 1)

    # -- state ----------------------------------------------------------------------------
    def _arrays(self) -> dict[str, Any]:
        import torch

        st = self._state
        out = {f"marginal.{i}": torch.as_tensor(m) for i, m in enumerate(st["marginals"])}
        out |= {f"support.{i}": torch.as_tensor(s.astype(np.uint8)) for i, s in enumerate(st["supports"])}
        out |= {f"edge.{k}": torch.as_tensor(t) for k, t in enumerate(st["tables"])}
        return out

    def _meta(self) -> dict[str, Any]:
        return {"attrs": list(self._attrs), "vocab": list(self._vocab), "edges": [list(e) for e in self._state["edges"]], "n": self._state["n"]}

    def _set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self._attrs, self._vocab = [int(a) for a in meta["attrs"]], [int(v) for v in meta["vocab"]]
        d = len(self._attrs)
        edges = [(int(a), int(b)) for a, b in meta["edges"]]
        expected = {f"marginal.{i}" for i in range(d)} | {f"support.{i}" for i in range(d)} | {f"edge.{k}" for k in range(len(edges))}
        if set(arrays) != expected:
            raise ValueError(f"the weights do not fit an MST of this layout (expected {sorted(expected)}, got {sorted(arrays)})")
        supports = [np.asarray(arrays[f"support.{i}"], dtype=bool) for i in range(d)]
        marginals = [np.asarray(arrays[f"marginal.{i}"], dtype=np.float64) for i in range(d)]
        tables = [np.asarray(arrays[f"edge.{k}"], dtype=np.float64) for k in range(len(edges))]
        for i, (k, sup, m) in enumerate(zip(self._attrs, supports, marginals)):
            if len(sup) != self._vocab[k] or len(m) != _compression(sup)[1]:
                raise ValueError(f"attribute {i}: marginal and support do not fit its vocabulary of {self._vocab[k]}")
        for (a, b), t in zip(edges, tables):
            if t.shape != (len(marginals[a]), len(marginals[b])):
                raise ValueError(f"edge ({a}, {b}): table of shape {t.shape} does not fit its attributes")
        self._state = {"supports": supports, "marginals": marginals, "edges": edges, "tables": tables, "n": int(meta["n"])}
        self._order = _bfs(d, edges)

    # -- sampling -------------------------------------------------------------------------
    def _generate(self, n: int, *, generator: Any, fixed: dict[str, Any] | None) -> pl.DataFrame:
        rng = np.random.default_rng(numpy_seed(generator))
        st = self._state
        codes = np.zeros((n, len(self._vocab)), dtype=np.int64)
        drawn: dict[int, np.ndarray] = {}
        for node, parent, edge in self._order:
            if parent is None:
                p = st["marginals"][node]
                drawn[node] = _draw(_cdf(p[None, :]), np.zeros(n, dtype=np.int64), rng)
            else:
                table = st["tables"][edge]
                conditional = table if st["edges"][edge][0] == parent else table.T
                drawn[node] = _draw(_cdf(conditional), drawn[parent], rng)
        for i, k in enumerate(self._attrs):
            codes[:, k] = _expand(drawn[i], st["supports"][i], rng)
        return self.transformer_.inverse_tokens(codes, seed=rng)

    # -- model files ----------------------------------------------------------------------
    def _tensors(self) -> dict[str, Any]:
        return self._arrays()

    def _load_tensors(self, tensors: dict[str, Any], manifest: dict[str, Any]) -> None:
        meta = (manifest.get("model") or {}).get("tree")
        if not isinstance(meta, dict):
            raise ValueError("the manifest holds no MST tree")
        vocab = [int(t.vocab_size) for t in self.transformer_.token_info_]
        if [int(v) for v in meta.get("vocab", [])] != vocab:
            raise ValueError("the MST tree does not fit the transformer's token layout")
        self._set_state({k: v.cpu().numpy() for k, v in tensors.items()}, meta)

    def _model_config(self) -> dict[str, Any]:
        names = [f"{t.column}.{t.kind}" for t in self.transformer_.token_info_]
        return {
            "tree": self._meta(),
            "edge_names": [[names[self._attrs[a]], names[self._attrs[b]]] for a, b in self._state["edges"]],
        }


# -- helpers -------------------------------------------------------------------------------
def _compression(support: np.ndarray) -> tuple[np.ndarray, int]:
    """(code -> compressed code, compressed size): supported codes keep their order, the rest share the last code."""
    kept = int(support.sum())
    mapping = np.full(len(support), kept, dtype=np.int64)
    mapping[support] = np.arange(kept)
    return mapping, kept + int(kept < len(support))


def _expand(codes: np.ndarray, support: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Compressed codes back to original codes; the rare group uniformly among its members."""
    kept = np.flatnonzero(support)
    rare = np.flatnonzero(~support)
    out = np.empty(len(codes), dtype=np.int64)
    is_rare = codes >= len(kept)
    out[~is_rare] = kept[codes[~is_rare]]
    if is_rare.any():
        out[is_rare] = rare[rng.integers(0, len(rare), int(is_rare.sum()))]
    return out


def _pair_counts(a: np.ndarray, b: np.ndarray, size_a: int, size_b: int) -> np.ndarray:
    return np.bincount(a * size_b + b, minlength=size_a * size_b).reshape(size_a, size_b).astype(np.float64)


def _mutual_information(table: np.ndarray) -> float:
    total = table.sum()
    if total <= 0:
        return 0.0
    p = table / total
    outer = p.sum(axis=1, keepdims=True) @ p.sum(axis=0, keepdims=True)
    mask = p > 0
    return float((p[mask] * np.log(p[mask] / outer[mask])).sum())


def _simplex(v: np.ndarray, total: float) -> np.ndarray:
    """Euclidean projection of ``v`` onto {x >= 0, sum x = total} (sort-based)."""
    if total <= 0:
        return np.full(len(v), 0.0)
    u = np.sort(v)[::-1]
    cumulative = np.cumsum(u) - total
    index = np.arange(1, len(v) + 1)
    rho = np.flatnonzero(u - cumulative / index > 0)
    theta = cumulative[rho[-1]] / (rho[-1] + 1) if len(rho) else (v.sum() - total) / len(v)
    return np.maximum(v - theta, 0.0)


def _bfs(d: int, edges: list[tuple[int, int]]) -> list[tuple[int, int | None, int | None]]:
    """(node, parent, edge index) in breadth-first order from node 0 (every component rooted)."""
    neighbours: dict[int, list[tuple[int, int]]] = {i: [] for i in range(d)}
    for k, (a, b) in enumerate(edges):
        neighbours[a].append((b, k))
        neighbours[b].append((a, k))
    order: list[tuple[int, int | None, int | None]] = []
    seen: set[int] = set()
    for root in range(d):
        if root in seen:
            continue
        seen.add(root)
        queue = [(root, None, None)]
        while queue:
            node, parent, edge = queue.pop(0)
            order.append((node, parent, edge))
            for other, k in neighbours[node]:
                if other not in seen:
                    seen.add(other)
                    queue.append((other, node, k))
    return order


def _cdf(table: np.ndarray) -> np.ndarray:
    """Row-wise cumulative distribution of a non-negative table (a zero row becomes uniform)."""
    table = np.clip(table, 0.0, None)
    sums = table.sum(axis=1, keepdims=True)
    table = np.where(sums > 0, table / np.where(sums > 0, sums, 1.0), 1.0 / table.shape[1])
    cdf = np.cumsum(table, axis=1)
    cdf[:, -1] = 1.0
    return cdf


def _draw(cdf: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each entry of ``rows``, a code drawn from ``cdf[row]`` by one uniform (inverse CDF)."""
    u = rng.random(len(rows))
    return (cdf[rows] <= u[:, None]).sum(axis=1).clip(max=cdf.shape[1] - 1)


__all__ = ["MST"]
