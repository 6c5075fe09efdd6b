"""TVAE: the tabular variational autoencoder of Xu et al. (2019), "Modeling Tabular Data using
Conditional GAN", section 4.

The table is encoded by ``DataTransformer`` (mode-normalised scalars + one-hot blocks). An
encoder MLP maps a row to a Gaussian posterior over a latent code; a decoder MLP maps a code
back to one output per encoded column. Each ``tanh`` column is read as a Gaussian with mean
``tanh(output)`` and a learned standard deviation (one per column, kept in [0.01, 1]); each
``softmax`` block as a categorical distribution (cross-entropy against the encoded one-hot).
The loss is ``loss_factor`` x reconstruction + KL divergence to the standard normal prior,
averaged per row, minimised with Adam.

Speed on CPU comes from doing all spans at once, with no Python loop over them: the tanh
columns are one gathered slice; the softmax blocks are one gathered slice too, whose
per-block log-sum-exp is a segment maximum (``scatter_reduce``), one exp and one product
with the block-membership matrix, so the reconstruction loss costs a dozen tensor
operations whatever the number of columns. Adam runs fused where torch offers it. Sampling decodes in large batches and
draws from the decoder's distributions, with a seeded generator: Gaussian noise with the
learned deviations for the scalars and (by default) a draw from each one-hot block's softmax
by the Gumbel-max trick.

Training is ``engine.models.tvae.trainer``'s, run by the one fit loop: early stopping watches
the loss on the held-out validation share; the weights of the best validation epoch are kept.

With ``privacy`` (``engine.Privacy``) the whole network (encoder, decoder, sigmas) trains with
DP-SGD (the trainer wrapped by ``engine.privacy.private_training``): the same loss, each row's gradient clipped (by its exact
norm, without materialising it: ``engine.privacy.linear_norms``) and the sum noised, Poisson
batches, for the planned epochs (no validation split, no early stopping). Then the decoder's
one-hot logits are shifted so that sampling reproduces the private marginals the domain
measured (``engine.privacy.marginals``; post-processing, no budget).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import polars as pl
import torch
from torch import nn

from engine.errors import ConfigError
from engine.models.base import Synthesizer, _positive_int
from engine.models.tvae.config import TVAEConfig
from engine.seeds import derive_seed, numpy_seed
from engine.models.sizing import check_training_memory, meta_parameter_count, meta_shapes, weights_mismatch
from engine.models.tvae.layout import Layout, gumbel, softmax_nll
from engine.models.tvae.nets import Encoder, mlp
from engine.models.tvae.trainer import RowLoss, TVAETrainer


class TVAE(Synthesizer):
    """Tabular VAE. Own parameters (declared with their allowed values in ``TVAEConfig``; ``default_params``):

    - ``embedding_dim`` (128): size of the latent code.
    - ``compress_dims`` ((128, 128)) / ``decompress_dims`` ((128, 128)): hidden layers of the
      encoder and decoder.
    - ``learning_rate`` (1e-3), ``weight_decay`` (1e-5): Adam.
    - ``loss_factor`` (2.0): weight of the reconstruction term against the KL term.
    - ``categorical_sampling`` ("sample"): draw one-hot blocks from the decoder's softmax
      ("sample") or take its most likely level ("argmax").
    - ``num_threads`` (None): CPU threads for torch. None: the CPUs this process may use, except one
      thread when sampling fewer than ``small_sample_rows`` rows (waking a second thread for a
      microsecond of arithmetic costs more than it saves; on a busy machine, tens of times more).

    Defaults: 300 epochs, batch 500, early stopping after 30 epochs without validation
    improvement. Under differential privacy: 100 epochs of expected batch 500 (5,200 DP
    steps on adult), latent width 8, ``loss_factor`` 4 and learning rate 5e-3
    (``TVAEConfig.dp_defaults``), then the calibration to the private marginals (module
    docstring). Measured on adult at epsilon 10 (SDMetrics quality; DP noise is not seeded,
    runs vary by about ±0.005): the non-DP defaults at 20 epochs of 1,000 gave 0.843; latent
    width 128 lets the noisy encoder collapse (TSTR AUC 0.5–0.65); width 8 with the
    reconstruction weighted 4 keeps the columns' relations. At batch 4,000 (650 steps) the
    same run without any noise gave 0.875 against 0.876 with it: the steps, not the noise,
    bounded it, and the decoder's frequencies under the prior drift from the data's
    (education 0.78 TV-similar). Calibration lifts one fitted model from 0.882 to 0.902 at
    batch 4,000 and from 0.822 to 0.932 at batch 500 (the longer run learns the relations,
    TSTR 0.835, and drifts further in its marginals, which calibration repairs).
    """

    kind: ClassVar[str] = "tvae"
    small_sample_rows: ClassVar[int] = 4_096
    config_class: ClassVar[type[TVAEConfig]] = TVAEConfig
    default_epochs: ClassVar[int] = 300
    default_batch_size: ClassVar[int] = 500
    default_patience: ClassVar[int | None] = 30

    # -- networks -------------------------------------------------------------------------
    def _build(self, *, batch_rows: int) -> None:
        """Create encoder, decoder and sigma for the fitted transformer's layout (seeded init).

        The memory training would need is checked first (``engine.models.sizing``): layer widths
        too large for it are refused naming them, before anything is allocated.
        """
        layout = Layout.from_spans(self.transformer_.output_info_)
        p = self.model_params
        encoder, decoder = self._network_builders(layout)
        check_training_memory(
            model="TVAE",
            params={name: p[name] for name in ("compress_dims", "decompress_dims", "embedding_dim")},
            parameters=meta_parameter_count(encoder) + meta_parameter_count(decoder) + len(layout.tanh_index),
            activation_width=sum(p["compress_dims"]) + 2 * p["embedding_dim"] + sum(p["decompress_dims"]) + 2 * layout.dim,
            batch_rows=batch_rows,
        )
        self._layout = layout
        torch.manual_seed(derive_seed(self.seed, "init"))
        self._encoder = encoder().to(self.device_)
        self._decoder = decoder().to(self.device_)
        self._sigma = nn.Parameter(torch.full((len(layout.tanh_index),), 0.1, device=self.device_))
        self._index = layout.tensors(self.device_)

    def _network_builders(self, layout: Layout) -> tuple[Callable[[], nn.Module], Callable[[], nn.Module]]:
        """Functions that make the encoder and the decoder for ``layout`` from the parameters."""
        p = self.model_params
        return (
            lambda: Encoder(layout.dim, tuple(p["compress_dims"]), p["embedding_dim"]),
            lambda: mlp(p["embedding_dim"], tuple(p["decompress_dims"]), layout.dim),
        )

    # -- training -------------------------------------------------------------------------
    def _trainer(self, frame: pl.DataFrame, *, train_rows: np.ndarray, val_rows: np.ndarray, private: bool) -> TVAETrainer:
        self._build(batch_rows=self._batch_size(frame.height))
        device = self.device_
        data = torch.from_numpy(self.transformer_.transform(frame)).to(device)
        train = torch.from_numpy(train_rows).to(device)
        val = torch.from_numpy(val_rows).to(device) if len(val_rows) else None
        return TVAETrainer(self, data=data, train=train, val=val, batch=self._batch_size(len(train_rows)))

    def _reconstruction(self, out: torch.Tensor, x: torch.Tensor, targets: torch.Tensor, sigma: torch.Tensor | None = None) -> torch.Tensor:
        """Each row's negative log-likelihood under the decoder output (constants dropped), ``(B,)``.

        ``sigma``: the tanh columns' scales, ``(D,)`` or one row each ``(B, D)``.
        """
        index = self._index
        total = out.new_zeros(out.shape[0])
        if index["tanh"].numel():
            mean = torch.tanh(out.index_select(1, index["tanh"]))
            sigma = self._sigma if sigma is None else sigma
            total = total + ((x.index_select(1, index["tanh"]) - mean).pow(2) / (2 * sigma.pow(2)) + torch.log(sigma)).sum(1)
        if index["softmax"].numel():
            total = total + softmax_nll(out, index, targets)
        return total

    # -- scoring --------------------------------------------------------------------------
    def row_loss(self, data: Any, *, draws: int = 8, seed: int = 0) -> np.ndarray:
        """Each row's training loss under the fitted model: a float64 array, one value per row.

        The loss is the one training minimises for a row (``loss_factor`` x reconstruction
        negative log-likelihood + KL divergence of its latent posterior; a negative ELBO up to
        constants), averaged over ``draws`` latent codes drawn from the encoder's posterior with
        a generator seeded from ``seed`` (the model's own random state is left alone). Lower
        means the model fits the row better: a membership test scores rows by it
        (``tests/bench/bench_dp_audit.py``). ``data``: polars or pandas rows with the training
        columns, encoded by the fitted transformer (under DP, nulls filled as in ``fit``).

        Needs the encoder of the ``fit`` that trained the model; model files keep the decoder
        only, so a model from ``load`` refuses with ``ConfigError``.
        """
        from engine.errors import InputError
        from engine.transform.transformer import as_polars

        self._check_fitted()
        _positive_int("draws", draws, allow_none=False)
        if getattr(self, "_encoder", None) is None:
            raise ConfigError("row_loss needs the encoder of the fit that trained this TVAE; a model file keeps only the decoder")
        frame = as_polars(data)
        missing = [c for c in self.transformer_.columns_ if c not in frame.columns]
        if missing:
            raise InputError(f"row_loss needs the training columns; missing {missing}")
        frame = frame.select(self.transformer_.columns_)
        if self.private_:
            from engine.privacy.private_statistics import prepare_frame

            frame = prepare_frame(self.transformer_, frame)
        data_t = torch.from_numpy(self.transformer_.transform(frame)).to(self.device_)
        targets = self._layout.targets(data_t)
        loss_module = RowLoss(self)

        def one_row(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return loss_module(x.unsqueeze(0), t.unsqueeze(0))

        per_row = torch.func.vmap(one_row, randomness="different")
        total = torch.zeros(data_t.shape[0], dtype=torch.float64, device=self.device_)
        self._encoder.eval()
        self._decoder.eval()
        with self._sample_threads(data_t.shape[0]), torch.no_grad(), torch.random.fork_rng(devices=[] if self.device_ == "cpu" else None):
            torch.manual_seed(derive_seed(self.seed, "row-loss", seed))
            for _ in range(draws):
                for start in range(0, data_t.shape[0], 8_192):
                    stop = start + 8_192
                    total[start:stop] += per_row(data_t[start:stop], targets[start:stop]).double()
        return (total / draws).cpu().numpy()

    # -- sampling -------------------------------------------------------------------------
    def _generate(self, n: int, *, generator: torch.Generator, fixed: dict[str, Any] | None) -> pl.DataFrame:
        with self._sample_threads(n):
            index = self._index
            z = torch.randn((n, self.model_params["embedding_dim"]), generator=generator, device=self.device_)
            out = self._decoder(z)
            if index["tanh"].numel():
                noise = torch.randn((n, index["tanh"].numel()), generator=generator, device=self.device_)
                values = torch.tanh(out.index_select(1, index["tanh"])) + noise * self._sigma
                out.index_copy_(1, index["tanh"], values)
            if index["softmax"].numel() and self.model_params["categorical_sampling"] == "sample":
                # Gumbel-max: the argmax the transformer takes per block of logits + Gumbel noise is a draw
                noise = gumbel((n, index["softmax"].numel()), generator, self.device_)
                out.index_add_(1, index["softmax"], noise)
            matrix = out.detach().to("cpu").numpy()
        # a seed for the faked columns only: drawing it advances the generator, which rows of models
        # without such columns must not feel
        seed = numpy_seed(generator) if self.transformer_.fakes_columns else None
        return self.transformer_.inverse_transform(matrix, seed=seed)

    # -- model files ----------------------------------------------------------------------
    def _tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"decoder.{k}": v for k, v in self._decoder.state_dict().items()}
        tensors["sigma"] = self._sigma.detach()
        return tensors

    def _load_tensors(self, tensors: dict[str, torch.Tensor], manifest: dict[str, Any]) -> None:
        """The decoder and sigma from the weights; the shapes the manifest's parameters make are
        checked against the weights before any network is built (the encoder is not in the file
        and is never built: its widths cannot be checked, and sampling does not need it)."""
        layout = Layout.from_spans(self.transformer_.output_info_)
        _, decoder = self._network_builders(layout)
        expected = meta_shapes(decoder, prefix="decoder.") | {"sigma": (len(layout.tanh_index),)}
        problem = weights_mismatch(expected, tensors)
        if problem is not None:
            raise ValueError(f"the weights do not fit a TVAE of this layout and configuration ({problem})")
        self._layout = layout
        self._decoder = decoder().to(self.device_)
        self._sigma = nn.Parameter(torch.full((len(layout.tanh_index),), 0.1, device=self.device_))
        self._index = layout.tensors(self.device_)
        self._decoder.load_state_dict({k.removeprefix("decoder."): v for k, v in tensors.items() if k.startswith("decoder.")})
        with torch.no_grad():
            self._sigma.copy_(tensors["sigma"])
        self._decoder.eval()
        self._encoder = None  # not in the file: sampling needs none, row_loss refuses without it

    def _model_config(self) -> dict[str, Any]:
        layout = self._layout
        return {
            "data_dim": layout.dim,
            "tanh_columns": len(layout.tanh_index),
            "softmax_blocks": len(layout.block_starts),
        }


__all__ = ["TVAE"]
