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
from engine.models.diffusion.blocks import Blocks, levels_of
from engine.models.diffusion.config import DiffusionConfig
from engine.models.diffusion.denoiser import Denoiser, SamplingNet, fast_dtype
from engine.models.diffusion.normal_scores import fit_knots, from_scores, to_scores, uniform_knots
from engine.models.diffusion.sampler import sample_latent
from engine.models.diffusion.trainer import DiffusionTrainer
from engine.models.sizing import meta_shapes, weights_mismatch
from engine.seeds import derive_seed, numpy_seed


class Diffusion(Synthesizer):
    """Tabular diffusion. Own parameters (declared with their allowed values in ``DiffusionConfig``):

    - ``hidden_dims`` ((256, 256)): the denoiser MLP's hidden layers.
    - ``time_dim`` (32): width of the sinusoidal time features.
    - ``learning_rate`` (2e-3), ``weight_decay`` (0): AdamW.
    - ``ema_decay`` (0.995): the weight average sampling uses (0: the last weights).
    - ``sample_steps`` (20): reverse steps of the sampler. The cost of sampling is one denoiser
      pass per step. Each row reveals its category blocks in its own random order, one block
      per step while there are at least as many steps as blocks (``sampler``); with fewer
      steps, blocks that share a step are drawn independently given the rest, and the
      categories' pair trends suffer first. Measured on adult (15 blocks; one model, SDMetrics
      quality / TSTR AUC): 10 steps 0.977 / 0.907, 15 steps 0.986 / 0.909, 20 steps
      0.987 / 0.907.
    - ``sample_dtype`` ("auto"): the precision of the sampler's hidden layers. "auto" is
      bfloat16 where the hardware multiplies it natively (a CPU with AMX tiles, a CUDA GPU
      that supports it) and float32 elsewhere; on adult bfloat16 changed neither score
      (0.987 / 0.907 in both) and sampled 1.6 times as many rows per CPU second.
    - ``eta`` (0): fresh noise of the DDIM update (0 deterministic, 1 ancestral-like).
    - ``normal_knots`` (1,000): quantiles kept per scalar column for its normal scores.
    - ``num_threads`` (None): CPU threads for torch (None: all this process may use; one for
      fewer than ``small_sample_rows`` sampled rows).

    Defaults: 300 epochs of batch 1,024, early stopping after 30 epochs without validation
    improvement. Under differential privacy: 50 epochs of expected batch 1,000, hidden
    (128, 128), learning rate 3e-3, EMA 0.99 (``DiffusionConfig.dp_defaults``); the knots
    are data-free (``normal_scores``): the DP path measures nothing but through DP-SGD and the
    transformer's accounted statistics.

    Measured (tests/bench/bench_quality.py protocol, shared 2-core machine, load 4-9, one torch
    thread; times indicative): adult quality 0.982 at 20 steps (argn 0.989), TSTR AUC 0.908
    (real 0.924), DCR share 0.513, fit 498-706 s; california 0.969 (argn 0.967); mushroom 0.965
    (argn 0.986). Sampling adult at load 2.4 with two threads: 7,600 rows/s at 20 steps, 14,700
    at 10, 25,000 at 6. Under DP at epsilon 10 on adult: 0.919 (TSTR 0.866).
    """

    kind: ClassVar[str] = "diffusion"
    small_sample_rows: ClassVar[int] = 4_096
    config_class: ClassVar[type[DiffusionConfig]] = DiffusionConfig
    default_epochs: ClassVar[int] = 300
    default_batch_size: ClassVar[int] = 1024
    default_patience: ClassVar[int | None] = 30
    default_transformer_params: ClassVar[dict[str, Any]] = {"n_modes": 1, "gmm_sample_rows": 100, "gmm_max_iter": 1, "n_jobs": 1}

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
    def _trainer(self, frame: pl.DataFrame, *, train_rows: np.ndarray, val_rows: np.ndarray, private: bool) -> DiffusionTrainer | None:
        blocks = Blocks.from_spans(self.transformer_.output_info_)
        self._build(blocks)
        matrix = self.transformer_.transform(frame)
        numbers = matrix[:, blocks.numeric]
        n_knots = self.model_params["normal_knots"]
        # knots from the training rows only; under DP none are measured (a data-free grid)
        self._knots = uniform_knots(blocks.n_numeric, n_knots) if private else fit_knots(numbers[train_rows], n_knots)
        if blocks.dim == 0:  # only identifiers, constants or fakes: nothing to learn
            return None
        device = self.device_
        data = torch.from_numpy(matrix).to(device)
        onehot = data.index_select(1, self._index["onehot"])
        inputs = (torch.from_numpy(to_scores(numbers, self._knots)).to(device), onehot, levels_of(onehot, self._index))
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
                self._sampling_net(), n, blocks=blocks, index=self._index, steps=p["sample_steps"], eta=p["eta"],
                generator=generator, device=self.device_, fixed=self._fixed_levels(fixed),
            )
            scores_np, levels_np = scores.cpu().numpy(), levels.cpu().numpy()
        if blocks.n_numeric:
            matrix[:, blocks.numeric] = from_scores(scores_np, self._knots)
        if blocks.n_blocks:
            starts = np.asarray(blocks.starts, dtype=np.int64)
            rows = np.repeat(np.arange(n), blocks.n_blocks)
            matrix[rows, (levels_np + starts[None, :]).ravel()] = 1.0
        seed = numpy_seed(generator) if self.transformer_.fakes_columns else None
        return self.transformer_.inverse_transform(matrix, seed=seed)

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
        return tensors

    def _load_tensors(self, tensors: dict[str, torch.Tensor], manifest: dict[str, Any]) -> None:
        """The sampling network and the knots; shapes checked against the manifest's parameters first."""
        blocks = Blocks.from_spans(self.transformer_.output_info_)
        build = self._network_builder(blocks)
        knots = tensors.get("knots")
        n_knots = tuple(knots.shape)[1] if knots is not None and knots.dim() == 2 else 0
        expected = meta_shapes(build, prefix="denoiser.") | {"knots": (blocks.n_numeric, n_knots)}
        problem = weights_mismatch(expected, tensors)
        if problem is not None:
            raise ValueError(f"the weights do not fit a diffusion model of this layout and configuration ({problem})")
        self._build(blocks)
        self._denoiser.load_state_dict({k.removeprefix("denoiser."): v for k, v in tensors.items() if k.startswith("denoiser.")})
        self._denoiser.eval()
        self._knots = tensors["knots"].cpu().numpy().astype(np.float32)

    def _model_config(self) -> dict[str, Any]:
        blocks = self._blocks
        return {"data_dim": blocks.dim, "numeric_columns": blocks.n_numeric, "category_blocks": blocks.n_blocks}


__all__ = ["Diffusion"]
