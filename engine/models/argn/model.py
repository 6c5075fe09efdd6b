"""ARGN: the autoregressive network over token sub-columns (Doppel's flagship model).

In the spirit of MOSTLY AI's TabularARGN. ``DataTransformer.transform_tokens`` turns every
column into integer sub-columns (a category's code; a number's or date's coarse quantile bin
and fine sub-bin). The network (``engine.models.argn.network``) predicts each sub-column
from the ones before it, and "before" follows a column order drawn at random for half of the
training batches (the other half use the generation order, which unconditional sampling
walks): the model learns every order, so at sampling time any subset of columns can be put
first and fixed, and the rest drawn given them (used for rare fixed values; see Sampling).
Two further choices measured on adult: the weights kept are a moving average over the
training steps (``engine.models.weight_average``), and a number's fine sub-bin informs only
its own column.

Training (``engine.models.argn.trainer``, run by the one fit loop): teacher forcing, one
batched forward for all sub-columns per batch; AdamW with a
learning rate that grows with the batch size (``1e-3 * sqrt(batch / 32)``), halved when the
validation loss stalls (``ReduceLROnPlateau``); early stopping on the validation share with
the weights of the best epoch kept; batch size, epoch cap and time cap follow the number of
rows (``size_rule``). Each epoch is seeded from ``(seed, epoch)``, so a run resumed from a
checkpoint ends with the same weights as an uninterrupted one.

With ``privacy`` (``engine.Privacy``) the whole network trains with DP-SGD (the trainer
wrapped by ``engine.privacy.private_training``): the same loss under one random column order per logical step
(the orders are public randomness), each row's gradient clipped (by its exact norm, without
materialising it: ``ARGNNetwork.loss_and_gradient_norms``) and the sum noised, Poisson batches,
the planned epochs; no validation split, no learning-rate schedule on it, no early stopping,
and the output biases start at zero instead of the data's log-frequencies.

Sampling: large batches, one step per sub-column (a table lookup, a small MLP, an
inverse-CDF draw from a seeded generator). Without conditions the columns are drawn in the
*generation order* (``generation_order``: the table's own order unless a list is given).
With conditions, rows are drawn in that order and the ones carrying the fixed values kept
when such rows are common (at least 5 % of a pilot draw); rarer values are fixed first and
the other columns drawn after them in that order (``_generate_codes``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
import torch

from engine.errors import ConfigError, InputError
from engine.models.argn.network import ARGNNetwork, SamplingPlan
from engine.models.argn.trainer import ARGNTrainer
from engine.models.argn.config import ARGNConfig
from engine.models.base import Synthesizer
from engine.seeds import derive_seed, numpy_seed
from engine.models.sizing import meta_shapes, weights_mismatch
from engine.models.threads import TorchThreads

# (max training rows, batch size, epoch cap, time cap in seconds); first matching row wins.
SIZE_RULES: tuple[tuple[int | None, int, int, float], ...] = (
    (2_000, 32, 200, 600.0),
    (10_000, 128, 150, 600.0),
    (50_000, 256, 100, 900.0),
    (200_000, 512, 60, 1_800.0),
    (1_000_000, 1024, 40, 3_600.0),
    (None, 2048, 20, 3_600.0),
)
# Rows per generation chunk: bounds the memory of one sampling pass.
CHUNK_ROWS = 32_768
# Fixed values: kept from unconditional draws when at least this share of them carries the
# values (decided on a pilot of at most PILOT_ROWS rows), else drawn after fixing them first.
MIN_ACCEPTANCE = 0.05
PILOT_ROWS = 4_096


def size_rule(n_rows: int) -> tuple[int, int, float]:
    """``(batch size, epoch cap, time cap in seconds)`` for ``n_rows`` training rows."""
    for limit, batch, epochs, seconds in SIZE_RULES:
        if limit is None or n_rows <= limit:
            return batch, epochs, seconds
    raise AssertionError("SIZE_RULES ends with a catch-all row")


class ARGN(Synthesizer):
    """Autoregressive network over token sub-columns; conditions natively on any column subset.

    Own parameters (declared with their allowed values in ``ARGNConfig``; ``default_params``):

    - ``embedding_dim`` (16): width of each sub-column code's embedding.
    - ``hidden_dim`` (64): hidden units of each sub-column's predictor.
    - ``depth`` (1): hidden layers of each sub-column's predictor.
    - ``dropout`` (0.1): on the embeddings (the predictors' inputs) while training.
    - ``hidden_dropout`` (0.0): on the predictors' hidden units while training.
    - ``learning_rate`` (None): AdamW's initial rate; None: ``1e-3 * sqrt(batch_size / 32)``.
    - ``weight_decay`` (0.01): AdamW's decoupled weight decay.
    - ``ema_decay`` (0.995): the model kept is an exponential moving average of the weights
      over the training steps (validated and early-stopped as such); it smooths the step-to-
      step noise of the last updates, which otherwise shows as drift in the sampled
      marginals. None: the raw weights. Under DP the average is of the released noisy
      weights (post-processing, no privacy cost).
    - ``fine_inputs`` (False): whether a number's or date's fine sub-bin is an input of the
      other columns' predictors. Off, other columns see only its coarse bin (a 1 % quantile):
      the position inside that bin is near noise for them, and as an input it only gives
      the network more to overfit; the fine sub-bin itself is still drawn given everything
      before it.
    - ``random_order_share`` (0.5): share of training batches that use a random column order
      (the rest use the given ``generation_order``, else the table's order). Random orders
      are what make conditioning on any subset faithful; the generation order is what
      unconditional sampling walks, and training it on every other batch is worth about
      +0.008 SDMetrics quality on adult (0.984 / 0.982 for seeds 0 / 1 at 0.5, against
      0.978 / 0.974 at 1.0; 0.25 gave no further gain).
    - ``generation_order`` ("table"): the column order of unconditional sampling: "table"
      (the table's own order) or a list of all learned column names.
    - ``temperature`` (1.0), ``top_p`` (1.0): sampling temperature and nucleus share; the
      defaults draw from the learned distribution as it is.
    - ``num_threads`` (None): CPU threads for torch while fitting and sampling (None: the CPUs
      this process may use, ``engine.cpus.default_threads``).

    Defaults that follow the data size (``size_rule``): batch size, epoch cap and time cap
    (unless ``batch_size``, ``epochs`` or ``max_training_time_s`` are given); early stopping
    after 4 epochs without validation improvement.

    Learned state besides the base's: ``network_`` (the ``ARGNNetwork``), ``order_`` (the
    generation order, as column indices into ``token_columns_``), ``token_columns_`` (the
    learned columns, in table order).
    """

    kind: ClassVar[str] = "argn"
    config_class: ClassVar[type[ARGNConfig]] = ARGNConfig
    default_epochs: ClassVar[int] = 100
    default_batch_size: ClassVar[int] = 256
    default_patience: ClassVar[int | None] = 4
    # ARGN reads only the token encoding: the float encoding's Gaussian mixtures are fitted at
    # their cheapest (they cost seconds per column otherwise and are never used here). One
    # thread: the token encoding takes milliseconds, and a thread pool per decode call would
    # dominate the latency of streaming single rows.
    default_transformer_params: ClassVar[dict[str, Any]] = {"n_modes": 1, "gmm_sample_rows": 100, "gmm_max_iter": 1, "n_jobs": 1}

    @property
    def epochs_(self) -> int:
        """The epoch cap in effect: ``epochs`` when given, else the size rule's for the training rows."""
        if self.epochs is not None:
            return self.epochs
        if self.private_:
            return self.default_dp_epochs
        n_rows = getattr(self, "_n_fit_rows", None)
        return size_rule(n_rows)[1] if n_rows else self.default_epochs

    def _batch_size(self, n_rows: int) -> int:
        if self.batch_size is None and self.private_:
            return max(1, min(self.default_dp_batch_size, n_rows))
        size = self.batch_size if self.batch_size is not None else size_rule(n_rows)[0]
        return max(1, min(size, n_rows))

    def _learning_rate(self, batch: int) -> float:
        """AdamW's initial rate: ``learning_rate``, else ``1e-3 * sqrt(batch / 32)``."""
        lr = self.model_params["learning_rate"]
        return float(lr) if lr is not None else 1e-3 * math.sqrt(batch / 32)

    def _time_limit_s(self, n_rows: int) -> float:
        return float(self.max_training_time_s) if self.max_training_time_s is not None else size_rule(n_rows)[2]

    # -- layout ---------------------------------------------------------------------------
    def _layout(self) -> None:
        """Learned columns and the column index of every token sub-column, from the transformer."""
        info = self.transformer_.token_info_
        names: list[str] = []
        for token in info:
            if not names or names[-1] != token.column:
                names.append(token.column)
        self.token_columns_ = names
        index = {name: i for i, name in enumerate(names)}
        self._column_of = [index[token.column] for token in info]
        self._vocab_sizes = [int(token.vocab_size) for token in info]
        fine_inputs = self.model_params["fine_inputs"]
        self._shared = [fine_inputs or token.kind != "fine" for token in info]
        self._subcolumns: dict[str, list[int]] = {}
        for k, token in enumerate(info):
            self._subcolumns.setdefault(token.column, []).append(k)

    def _new_network(self, log_priors: Sequence[torch.Tensor] | None = None) -> ARGNNetwork:
        torch.manual_seed(derive_seed(self.seed, "init"))
        return self._network_module(log_priors).to(self.device_)

    def _network_module(self, log_priors: Sequence[torch.Tensor] | None = None) -> ARGNNetwork:
        """The network for the learned layout, on torch's current default device (unseeded)."""
        p = self.model_params
        return ARGNNetwork(
            vocab_sizes=self._vocab_sizes,
            column_of=self._column_of,
            embedding_dim=p["embedding_dim"],
            hidden_dim=p["hidden_dim"],
            depth=p["depth"],
            dropout=p["dropout"],
            hidden_dropout=p["hidden_dropout"],
            log_priors=log_priors,
            shared=self._shared,
        )

    def _threads(self) -> TorchThreads:
        return TorchThreads(self.model_params["num_threads"] if self.device_ == "cpu" else None)

    # -- training -------------------------------------------------------------------------
    def _trainer(self, frame: pl.DataFrame, *, train_rows: np.ndarray, val_rows: np.ndarray, private: bool) -> ARGNTrainer | None:
        self._layout()
        self._plans: dict[tuple[int, ...], SamplingPlan] = {}
        if not self._vocab_sizes:  # only identifiers / constants: nothing to learn
            self.network_ = None
            self.order_ = []
            return None
        self.order_ = self._given_order()
        device = self.device_
        tokens = torch.from_numpy(self.transformer_.transform_tokens(frame)).to(device)
        x_train = tokens[torch.from_numpy(train_rows).to(device)]
        x_val = tokens[torch.from_numpy(val_rows).to(device)] if len(val_rows) else None
        # the output biases start at the data's log-frequencies, a read of the rows DP-SGD does not see
        return ARGNTrainer(self, x_train=x_train, x_val=x_val, order=self.order_, batch=self._batch_size(x_train.shape[0]), priors=not private)

    def _given_order(self) -> list[int]:
        """The generation order: the table's, or the one ``generation_order`` lists, checked against the columns."""
        choice = self.model_params["generation_order"]
        if choice == "table":
            return list(range(len(self.token_columns_)))
        unknown = sorted(set(choice) - set(self.token_columns_))
        missing = [c for c in self.token_columns_ if c not in choice]
        if unknown or missing:
            raise ConfigError(
                f"generation_order must list every learned column once; unknown {unknown}, missing {missing}; "
                f"learned columns: {self.token_columns_}"
            )
        return [self.token_columns_.index(c) for c in choice]

    # -- sampling -------------------------------------------------------------------------
    def _native_condition_columns(self) -> set[str] | Literal["any"]:
        return "any"

    def _plan(self, order: Sequence[int]) -> SamplingPlan:
        key = tuple(order)
        plans = self.__dict__.setdefault("_plans", {})
        if key not in plans:
            if len(plans) >= 8:
                plans.pop(next(iter(plans)))
            plans[key] = self.network_.plan(order)
        return plans[key]

    def _fixed_codes(self, fixed: dict[str, Any] | None) -> dict[int, int]:
        """``{sub-column: code}`` for the fixed column values (every sub-column of each column)."""
        codes: dict[int, int] = {}
        for column, value in (fixed or {}).items():
            if column not in self._subcolumns:
                raise InputError(f"cannot fix column {column!r}: the model learns {self.token_columns_}")
            encoder = self.transformer_.encoders_[self.transformer_.columns_.index(column)]
            try:
                series = pl.Series(column, [value]).cast(self.columns_[column], strict=True)
            except Exception as err:
                raise InputError(f"value {value!r} does not fit column {column!r} of dtype {self.columns_[column]}") from err
            for k, code in zip(self._subcolumns[column], encoder.encode_tokens(series)[0]):
                codes[k] = int(code)
        return codes

    def _generate(self, n: int, *, generator: torch.Generator, fixed: dict[str, Any] | None) -> pl.DataFrame:
        if self.network_ is None:
            empty = np.zeros((n, 0), dtype=np.int64)
            return self.transformer_.inverse_tokens(empty, seed=numpy_seed(generator))
        with self._threads():
            codes = self._generate_codes(n, generator=generator, fixed=fixed)
        return self.transformer_.inverse_tokens(codes.cpu().numpy(), seed=numpy_seed(generator))

    def _generate_codes(self, n: int, *, generator: torch.Generator, fixed: dict[str, Any] | None) -> torch.Tensor:
        """``(n, K)`` token codes with the fixed values, the rest drawn by the model.

        Fixed values are met in one of two ways. When rows that carry them are common enough
        (an unconditional pilot draw accepts at least ``MIN_ACCEPTANCE``), rows are drawn in
        the generation order and the matching ones kept: the exact conditional of the
        distribution unconditional sampling follows, at most ``1 / MIN_ACCEPTANCE`` times
        the cost. Rarer values go first in the column order and the rest is drawn given them
        (the orders learned at random), which costs nothing extra at any rarity.
        """
        fixed_codes = self._fixed_codes(fixed)
        first = sorted({self._column_of[sub] for sub in fixed_codes}, key=self.order_.index)
        if not fixed_codes or self.order_[: len(first)] == first:  # already a prefix of the generation order
            return self._draw(n, self.order_, fixed_codes, generator)
        subs = torch.as_tensor(list(fixed_codes), dtype=torch.long, device=self.device_)
        wanted = torch.as_tensor(list(fixed_codes.values()), dtype=torch.long, device=self.device_)

        def matching(rows: torch.Tensor) -> torch.Tensor:
            return rows[(rows.index_select(1, subs) == wanted).all(dim=1)]

        pilot = self._draw(min(PILOT_ROWS, max(256, 4 * n)), self.order_, {}, generator)
        kept = [matching(pilot)]
        acceptance = kept[0].shape[0] / pilot.shape[0]
        if acceptance == 0 or acceptance < MIN_ACCEPTANCE:
            return self._draw(n, first + [c for c in self.order_ if c not in first], fixed_codes, generator)
        have = kept[0].shape[0]
        while have < n:
            batch = min(CHUNK_ROWS, math.ceil(1.2 * (n - have) / acceptance) + 16)
            kept.append(matching(self._draw(batch, self.order_, {}, generator)))
            have += kept[-1].shape[0]
        return torch.cat(kept)[:n]

    def sample_given(self, context: pl.DataFrame, *, seed: int) -> pl.DataFrame:
        """One row per row of ``context``, its columns fixed to that row's values, the rest drawn given them.

        The context columns must be the first learned columns of the generation order (a child
        table's model is trained on its rows joined with their parent's, parent columns first:
        ``engine.relational``), so every draw is the model's own conditional. Context columns the
        model does not learn (constant, identifier) are ignored. Identifier columns get fresh
        keys, unique over the call.
        """
        import torch

        self._check_fitted()
        unknown = [c for c in context.columns if c not in self.columns_]
        if unknown:
            raise ConfigError(f"context columns {unknown} are not columns of this model: {list(self.columns_)}")
        learned = [c for c in context.columns if c in self._subcolumns]
        lead = [self.token_columns_[c] for c in self.order_[: len(learned)]]
        if sorted(lead) != sorted(learned):
            raise ConfigError(f"context columns {learned} must lead the generation order; it starts {lead}")
        generator = torch.Generator(device=self.device_).manual_seed(derive_seed(seed, "sample-given"))
        n = context.height
        if self.network_ is None:
            frame = self.transformer_.inverse_tokens(np.zeros((n, 0), dtype=np.int64), seed=numpy_seed(generator))
            return self.transformer_.key_rounds().continue_round(frame)
        k = len(self._vocab_sizes)
        mask = torch.zeros(k, dtype=torch.bool)
        codes = torch.zeros((n, k), dtype=torch.long, device=self.device_)
        for column in learned:
            encoder = self.transformer_.encoders_[self.transformer_.columns_.index(column)]
            cast = _known_levels(encoder, context.get_column(column).cast(self.columns_[column], strict=False))
            subs = self._subcolumns[column]
            codes[:, subs] = torch.from_numpy(np.ascontiguousarray(encoder.encode_tokens(cast))).to(self.device_)
            mask[subs] = True
        plan = self._plan(self.order_)
        p = self.model_params
        with self._threads(), torch.inference_mode():
            for start in range(0, n, CHUNK_ROWS):
                plan.sample(codes[start : start + CHUNK_ROWS], mask, generator=generator, temperature=p["temperature"], top_p=p["top_p"])
        frame = self.transformer_.inverse_tokens(codes.cpu().numpy(), seed=numpy_seed(generator))
        return self.transformer_.key_rounds().continue_round(frame)

    def _draw(self, n: int, order: Sequence[int], fixed_codes: dict[int, int], generator: torch.Generator) -> torch.Tensor:
        """``(n, K)`` codes drawn in the column ``order``, the ``fixed_codes`` sub-columns set (they must lead the order)."""
        k = len(self._vocab_sizes)
        mask = torch.zeros(k, dtype=torch.bool)
        codes = torch.zeros((n, k), dtype=torch.long, device=self.device_)
        for sub, code in fixed_codes.items():
            mask[sub] = True
            codes[:, sub] = code
        plan = self._plan(order)
        p = self.model_params
        for start in range(0, n, CHUNK_ROWS):
            plan.sample(codes[start : start + CHUNK_ROWS], mask, generator=generator, temperature=p["temperature"], top_p=p["top_p"])
        return codes

    # -- model files ----------------------------------------------------------------------
    def _tensors(self) -> dict[str, torch.Tensor]:
        if self.network_ is None:
            return {}
        return {f"network.{k}": v for k, v in self.network_.state_dict().items()}

    def _load_tensors(self, tensors: dict[str, torch.Tensor], manifest: dict[str, Any]) -> None:
        self._layout()
        self._plans = {}
        config = manifest.get("model") or {}
        order = config.get("order")
        if not isinstance(order, list) or sorted(order) != list(range(len(self.token_columns_))):
            raise ValueError(f"the manifest's generation order {order!r} does not list the {len(self.token_columns_)} learned columns")
        self.order_ = [int(c) for c in order]
        if not self._vocab_sizes:
            self.network_ = None
            return
        # shapes first, on the meta device: the manifest's sizes must be the weights' before anything is allocated
        problem = weights_mismatch(meta_shapes(self._network_module, prefix="network."), tensors)
        if problem is not None:
            raise ValueError(f"the weights do not fit an ARGN of this layout and configuration ({problem})")
        net = self._new_network()
        net.load_state_dict({k.removeprefix("network."): v.to(self.device_) for k, v in tensors.items()})
        net.eval()
        self.network_ = net

    def _model_config(self) -> dict[str, Any]:
        return {
            "order": list(self.order_),
            "order_columns": [self.token_columns_[c] for c in self.order_],
            "sub_columns": len(self._vocab_sizes),
            "vocab_sizes": list(self._vocab_sizes),
            "parameters": 0 if self.network_ is None else int(sum(t.numel() for t in self.network_.parameters())),
        }


def _known_levels(encoder: Any, s: pl.Series) -> pl.Series:
    """``s`` with the values a categorical ``encoder`` never saw replaced by its catch-all: the
    rare-level bucket, else the null level, else the first level. A context value can be new to
    a child's model (a parent level held only by parents without children)."""
    levels = getattr(encoder, "levels", None)
    if not isinstance(levels, pl.Series) or getattr(encoder, "ordinal", False):
        return s
    unseen = ~s.is_in(levels.drop_nulls().implode()) & s.is_not_null()
    if not unseen.any():
        return s
    other = getattr(encoder, "other_code", None)
    fallback = levels[other] if other is not None else None if levels.null_count() else levels[0]
    return s.zip_with(~unseen, pl.repeat(fallback, s.len(), dtype=s.dtype, eager=True))


__all__ = ["ARGN", "SIZE_RULES", "size_rule"]
