"""Diffusion: a TabDDPM-class model (Kotelnikov et al., ICML 2023) with masked diffusion on the categories.

The table is encoded by ``DataTransformer`` (scalars + one-hot blocks; single-mode scalars,
spikes and nulls as blocks). Each scalar is mapped to normal scores through its quantiles
(``normal_scores``) and diffused along a cosine Gaussian path; each one-hot block is
diffused by masking (``schedule``). One MLP (``denoiser``) sees the noisy row and the time
and predicts the numbers' velocity and the blocks' logits; it trains on the sum of the
velocity's squared error and the hidden blocks' cross-entropy (``trainer``), with an
exponential moving average of its weights kept for sampling. Sampling runs a few DDIM
steps (``sampler``), seeded by the sample generator.

Equality conditions on category columns are native: their blocks are fixed and shown
throughout the reverse path (inpainting), so the rest of the row is drawn given them; all
other conditions go through the base's rejection sampling.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
import torch

from engine.models.base import Synthesizer
from engine.models.diffusion.atoms import at_spikes, find_spikes, present_mask, spiked_columns
from engine.models.diffusion.blocks import Blocks, levels_of
from engine.models.diffusion.config import DiffusionConfig
from engine.models.diffusion.denoiser import Denoiser, SamplingNet, fast_dtype
from engine.models.diffusion.normal_scores import fit_knots, from_scores, to_scores, uniform_knots
from engine.models.diffusion.sampler import sample_latent
from engine.models.diffusion.trainer import DiffusionTrainer
from engine.models.sizing import meta_shapes, weights_mismatch
from engine.seeds import derive_seed, numpy_seed
from engine.transform.spans import split_spans


# The fewest reverse steps the default takes: the numbers' DDIM path is coarse below it.
MIN_SAMPLE_STEPS = 20
# A whole-number column with at most DISCRETE_VALUES distinct values, each held by REPEATS rows
# on average, that fill at most SPARSE of the whole numbers between its 1st and 99th percentiles,
# is learned as a category (``_column_types_for``).
DISCRETE_VALUES = 150
REPEATS = 5
SPARSE = 0.5


class Diffusion(Synthesizer):
    """Tabular diffusion. Own parameters (declared with their allowed values in ``DiffusionConfig``):

    - ``hidden_dims`` ((256, 256)): the denoiser MLP's hidden layers.
    - ``time_dim`` (32): width of the sinusoidal time features.
    - ``learning_rate`` (2e-3), ``weight_decay`` (0): AdamW.
    - ``ema_decay`` (0.995): the weight average sampling uses (0: the last weights).
    - ``sample_steps`` (None): reverse steps of the sampler; None takes one per category block,
      and at least ``MIN_SAMPLE_STEPS`` (20). The cost of sampling is one denoiser pass per
      step. Each row reveals its category blocks in its own random order, one block per step
      while there are at least as many steps as blocks (``sampler``); with fewer steps, blocks
      that share a step are drawn independently given the rest, and the categories' pair
      trends suffer first. Measured (one model each, SDMetrics quality / TSTR AUC): adult (15
      blocks) at 10 steps 0.977 / 0.907, 15 steps 0.986 / 0.909, 20 steps 0.987 / 0.907;
      mushroom (22 blocks) at 20 steps 0.973, 30 steps 0.982.
    - ``sample_dtype`` ("auto"): the precision of the sampler's hidden layers. "auto" is
      bfloat16 where the hardware multiplies it natively (a CPU with AMX tiles, a CUDA GPU
      that supports it) and float32 elsewhere; on adult bfloat16 changed neither score
      (0.987 / 0.907 in both) and sampled 1.6 times as many rows (quiet, two threads: 31,000
      against 50,000 rows/s).
    - ``eta`` (0): fresh noise of the DDIM update (0 deterministic, 1 ancestral-like).
    - ``normal_knots`` (1,000): quantiles kept per scalar column for its normal scores.
    - ``num_threads`` (None): CPU threads for torch (None: all this process may use; one for
      fewer than ``small_sample_rows`` sampled rows).

    Defaults: 300 epochs of batch 1,024, early stopping after 30 epochs without validation
    improvement. Under differential privacy: 100 epochs of expected batch 1,000, hidden
    (128, 128), learning rate 3e-3, EMA 0.99 (``DiffusionConfig.dp_defaults``); the knots
    are data-free (``normal_scores``), and each number is coded by the transformer's eight
    private quantile bins (its modes) and its place inside one: the DP path measures nothing
    but through DP-SGD and the transformer's accounted statistics.

    Measured (tests/bench/bench_quality.py, quiet 2-core CPU with AMX, two torch threads; SDMetrics
    quality / TSTR / DCR share, fit seconds, sampled rows per second): adult 0.988 / AUC 0.917
    (real 0.924) / 0.501, 40 s, 52,700 rows/s (argn 0.988 / 0.912; TabularARGN 0.982 / 0.909);
    california 0.971 / R2 0.765 (argn 0.968 / 0.736); mushroom 0.985 / 1.000 (argn 0.986);
    nyc_airbnb 0.951 / R2 0.119 (argn 0.974 / 0.124). Under DP at epsilon 10 on adult: 0.944 and
    0.943 in two runs (TSTR 0.882, 0.880); with one mode instead of eight, 0.938 and 0.942.
    """

    kind: ClassVar[str] = "diffusion"
    small_sample_rows: ClassVar[int] = 4_096
    config_class: ClassVar[type[DiffusionConfig]] = DiffusionConfig
    default_epochs: ClassVar[int] = 300
    default_batch_size: ClassVar[int] = 1024
    default_patience: ClassVar[int | None] = 30
    default_transformer_params: ClassVar[dict[str, Any]] = {
        "n_modes": 1, "gmm_sample_rows": 100, "gmm_max_iter": 1, "n_jobs": 1, "max_onehot": DISCRETE_VALUES,
    }
    # Under DP the knots are data-free; eight private quantile bins as modes (from the histogram the
    # transformer measures anyway: no extra budget) give the numbers their shape instead.
    default_dp_transformer_params: ClassVar[dict[str, Any]] = {"n_modes": 8}

    # -- networks -------------------------------------------------------------------------
    def _network_builder(self, blocks: Blocks) -> Any:
        p = self.model_params
        return lambda: Denoiser(blocks.n_numeric, blocks.width, blocks.n_blocks, tuple(p["hidden_dims"]), p["time_dim"])

    def _build(self, blocks: Blocks) -> None:
        self._blocks = blocks
        self._index = blocks.tensors(self.device_)
        torch.manual_seed(derive_seed(self.seed, "init"))
        self._denoiser = self._network_builder(blocks)().to(self.device_)
        self._sampler_net = self._denoiser

    # -- training -------------------------------------------------------------------------
    def _column_types_for(self, frame: pl.DataFrame) -> dict[str, str]:
        """Whole-number columns of a few repeated values, scattered over their range, as categories ("discrete").

        Amounts such as adult's capital gains take a hundred-odd values between 0 and 99,999
        whose outcome changes sharply from one to the next (7,298 and above: nearly always
        >50K; just below: rarely). A continuous score smooths such steps; a category draws each
        value with its own conditional. A column that fills the range where most of its
        values lie (ages, hours, nyc's minimum nights, 1 to 45 but for a few outliers) is a
        quantity and stays continuous. Measured on adult, TSTR AUC 0.907 -> 0.917 (ages and
        hours as categories too: 0.914); on nyc, minimum nights as a category lowered the
        price's TSTR R2 from 0.119 to 0.082."""
        chosen: dict[str, str] = {}
        for name, dtype in frame.schema.items():
            if not dtype.is_integer():
                continue
            values = frame[name].drop_nulls()
            distinct = values.n_unique()
            if 1 < distinct <= DISCRETE_VALUES and distinct * REPEATS <= frame.height:
                low, high = float(values.quantile(0.01, "lower")), float(values.quantile(0.99, "higher"))
                inner = values.filter((values >= low) & (values <= high)).n_unique()
                if inner <= SPARSE * (high - low + 1.0):
                    chosen[name] = "discrete"
        return chosen

    def _trainer(self, frame: pl.DataFrame, *, train_rows: np.ndarray, val_rows: np.ndarray, private: bool) -> DiffusionTrainer | None:
        spans = self.transformer_.output_info_
        matrix = self.transformer_.transform(frame)
        numeric = split_spans(spans)[1]
        numbers = matrix[:, numeric]
        present = present_mask(matrix, spans)
        # spikes and knots from the training rows only; under DP none are measured (a data-free grid)
        self._spikes = np.full(len(numeric), np.nan, dtype=np.float32) if private else find_spikes(numbers[train_rows], present[train_rows])
        spiked = at_spikes(numbers, present, self._spikes)
        blocks = Blocks.from_spans(spans, spikes=spiked.shape[1])
        self._build(blocks)
        informative = present.copy()
        informative[:, spiked_columns(self._spikes)] &= ~spiked
        n_knots = self.model_params["normal_knots"]
        self._knots = uniform_knots(blocks.n_numeric, n_knots) if private else fit_knots(numbers[train_rows], n_knots, informative[train_rows])
        if blocks.dim == 0:  # only identifiers, constants or fakes: nothing to learn
            return None
        device = self.device_
        scores = np.where(informative, to_scores(numbers, self._knots), 0.0).astype(np.float32)
        onehot = torch.from_numpy(matrix).to(device).index_select(1, self._index["onehot"])
        onehot = torch.cat([onehot, torch.from_numpy(np.eye(2, dtype=np.float32)[spiked.astype(np.int64)].reshape(len(matrix), -1)).to(device)], 1)
        inputs = (torch.from_numpy(scores).to(device), onehot, levels_of(onehot, self._index))
        train = torch.from_numpy(train_rows).to(device)
        val = torch.from_numpy(val_rows).to(device) if len(val_rows) else None
        return DiffusionTrainer(self, inputs=inputs, train=train, val=val, batch=self._batch_size(len(train_rows)))

    # -- sampling -------------------------------------------------------------------------
    def _native_condition_columns(self) -> set[str] | Literal["any"]:
        return {span.column for span in self.transformer_.condition_spans_}

    def _fixed_levels(self, fixed: dict[str, Any] | None) -> dict[int, int] | None:
        """``{block: level}`` for the equalities whose value is exactly one of its column's levels."""
        if not fixed:
            return None
        t = self.transformer_
        encoders = {enc.name: enc for enc in t.encoders_}
        block_of_start = {start: b for b, start in enumerate(self._blocks.starts)}
        out: dict[int, int] = {}
        for span in t.condition_spans_:
            if span.column not in fixed:
                continue
            enc = encoders[span.column]
            try:
                value = pl.Series(span.column, [fixed[span.column]]).cast(enc.dtype, strict=True)
                code = int(enc.codes(value)[0])
            except Exception:  # not representable in the column: the base's filter handles it
                continue
            if enc.levels.gather([code]).to_list() != value.to_list():
                continue
            out[block_of_start[span.start]] = code
        return out or None

    def _generate(self, n: int, *, generator: torch.Generator, fixed: dict[str, Any] | None) -> pl.DataFrame:
        p, blocks = self.model_params, self._blocks
        matrix = np.zeros((n, blocks.dim), dtype=np.float32)
        if blocks.dim == 0:
            return self.transformer_.inverse_transform(matrix, seed=numpy_seed(generator) if self.transformer_.fakes_columns else None)
        with self._sample_threads(n):
            scores, levels = sample_latent(
                self._sampling_net(), n, blocks=blocks, index=self._index, steps=self.sample_steps_, eta=p["eta"],
                generator=generator, device=self.device_, fixed=self._fixed_levels(fixed),
            )
            scores_np, levels_np = scores.cpu().numpy(), levels.cpu().numpy()
        if blocks.n_numeric:
            values = from_scores(scores_np, self._knots)
            spiked = spiked_columns(self._spikes)
            at_spike = levels_np[:, len(blocks.starts) :] == 1
            values[:, spiked] = np.where(at_spike, self._spikes[spiked][None, :], values[:, spiked])
            matrix[:, blocks.numeric] = values
        if blocks.starts:
            starts = np.asarray(blocks.starts, dtype=np.int64)
            rows = np.repeat(np.arange(n), len(starts))
            matrix[rows, (levels_np[:, : len(starts)] + starts[None, :]).ravel()] = 1.0
        seed = numpy_seed(generator) if self.transformer_.fakes_columns else None
        return self.transformer_.inverse_transform(matrix, seed=seed)

    @property
    def sample_steps_(self) -> int:
        """The sampler's steps: ``sample_steps``, or by default one per category block and at least ``MIN_SAMPLE_STEPS``."""
        return self.model_params["sample_steps"] or max(MIN_SAMPLE_STEPS, self._blocks.n_blocks)

    def _sampling_net(self) -> SamplingNet:
        """The sampling network rearranged for the sampler, rebuilt only when its weights changed
        (every in-place update of a tensor bumps its ``_version``)."""
        choice = self.model_params["sample_dtype"]
        dtype = fast_dtype(self.device_) if choice == "auto" else getattr(torch, choice)
        net = self._sampler_net
        key = (id(net), dtype, tuple(p._version for p in net.parameters()))
        cached = getattr(self, "_sampling_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, SamplingNet(net, sizes=self._blocks.sizes, dtype=dtype))
            self._sampling_cache = cached
        return cached[1]

    # -- model files ----------------------------------------------------------------------
    def _tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"denoiser.{k}": v.detach() for k, v in self._sampler_net.state_dict().items()}
        tensors["knots"] = torch.from_numpy(np.ascontiguousarray(self._knots))
        spiked = spiked_columns(self._spikes)
        tensors["spike_columns"] = torch.from_numpy(spiked.astype(np.int64))
        tensors["spike_values"] = torch.from_numpy(self._spikes[spiked].astype(np.float32))
        return tensors

    def _load_tensors(self, tensors: dict[str, torch.Tensor], manifest: dict[str, Any]) -> None:
        """The sampling network, the knots and the spikes (none in a file written before them);
        shapes checked against the manifest's parameters first."""
        spans = self.transformer_.output_info_
        n_numeric = len(split_spans(spans)[1])
        columns, values = tensors.get("spike_columns"), tensors.get("spike_values")
        n_spikes = int(columns.numel()) if columns is not None else 0
        spikes = np.full(n_numeric, np.nan, dtype=np.float32)
        if n_spikes:
            at = columns.cpu().numpy()
            if values is None or tuple(values.shape) != (n_spikes,) or np.any(np.diff(at) <= 0) or at[0] < 0 or at[-1] >= n_numeric:
                raise ValueError(f"the spikes do not fit this layout's {n_numeric} scalar columns (columns {at.tolist()})")
            spikes[at] = values.cpu().numpy()
        blocks = Blocks.from_spans(spans, spikes=n_spikes)
        build = self._network_builder(blocks)
        knots = tensors.get("knots")
        n_knots = tuple(knots.shape)[1] if knots is not None and knots.dim() == 2 else 0
        expected = meta_shapes(build, prefix="denoiser.") | {"knots": (n_numeric, n_knots)}
        if columns is not None:  # a file written before spikes has none
            expected |= {"spike_columns": (n_spikes,), "spike_values": (n_spikes,)}
        problem = weights_mismatch(expected, tensors)
        if problem is not None:
            raise ValueError(f"the weights do not fit a diffusion model of this layout and configuration ({problem})")
        self._build(blocks)
        self._spikes = spikes
        self._denoiser.load_state_dict({k.removeprefix("denoiser."): v for k, v in tensors.items() if k.startswith("denoiser.")})
        self._denoiser.eval()
        self._knots = tensors["knots"].cpu().numpy().astype(np.float32)

    def _model_config(self) -> dict[str, Any]:
        blocks = self._blocks
        return {"data_dim": blocks.dim, "numeric_columns": blocks.n_numeric, "category_blocks": len(blocks.starts),
                "spike_blocks": blocks.n_blocks - len(blocks.starts)}


__all__ = ["Diffusion"]
