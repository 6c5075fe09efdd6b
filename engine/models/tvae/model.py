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

Early stopping watches the loss on the held-out validation share; the weights of the best
validation epoch are kept.

With ``privacy`` (``engine.Privacy``) the whole network (encoder, decoder, sigmas) trains with
DP-SGD (``engine.privacy.dpsgd``): the same loss, each row's gradient clipped (by its exact
norm, without materialising it: ``engine.privacy.linear_norms``) and the sum noised, Poisson
batches, for the planned epochs (no validation split, no early stopping). Then the decoder's
one-hot logits are shifted so that sampling reproduces the private marginals the domain
measured (``engine.privacy.marginals``; post-processing, no budget).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import polars as pl
import torch
from torch import nn

from engine.errors import ConfigError
from engine.models.base import Synthesizer, _positive_int
from engine.models.early_stopping import EarlyStopping
from engine.seeds import derive_seed, torch_generator
from engine.models.sizing import check_training_memory, meta_parameter_count, meta_shapes, weights_mismatch
from engine.models.threads import TorchThreads, check_thread_count
from engine.models.tvae.layout import Layout, gumbel, softmax_nll
from engine.models.tvae.nets import Encoder, adam, kl, mlp

CATEGORICAL_SAMPLING = ("sample", "argmax")
SIGMA_RANGE = (0.01, 1.0)
# Below this many rows a forward pass is a few microseconds of arithmetic: waking a second
# thread for it costs more (tens of times more on a busy machine) than it saves.
SMALL_BATCH_ROWS = 4_096


class TVAE(Synthesizer):
    """Tabular VAE. Own parameters (``default_params``):

    - ``embedding_dim`` (128): size of the latent code.
    - ``compress_dims`` ((128, 128)) / ``decompress_dims`` ((128, 128)): hidden layers of the
      encoder and decoder.
    - ``learning_rate`` (1e-3), ``weight_decay`` (1e-5): Adam.
    - ``loss_factor`` (2.0): weight of the reconstruction term against the KL term.
    - ``categorical_sampling`` ("sample"): draw one-hot blocks from the decoder's softmax
      ("sample") or take its most likely level ("argmax").
    - ``num_threads`` (None): CPU threads for torch. None: torch's own setting, except one
      thread when sampling fewer than ``SMALL_BATCH_ROWS`` rows (waking a second thread for a
      microsecond of arithmetic costs more than it saves; on a busy machine, tens of times more).

    Defaults: 300 epochs, batch 500, early stopping after 30 epochs without validation
    improvement. Under differential privacy: 100 epochs of expected batch 500 (5,200 DP
    steps on adult), latent width 8, ``loss_factor`` 4 and learning rate 5e-3
    (``default_dp_params``), then the calibration to the private marginals (module
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
    default_epochs: ClassVar[int] = 300
    default_batch_size: ClassVar[int] = 500
    default_patience: ClassVar[int | None] = 30
    default_dp_epochs: ClassVar[int] = 100
    default_dp_batch_size: ClassVar[int] = 500
    default_dp_params: ClassVar[dict[str, Any]] = {"embedding_dim": 8, "loss_factor": 4.0, "learning_rate": 5e-3}
    default_params: ClassVar[dict[str, Any]] = {
        "embedding_dim": 128,
        "compress_dims": (128, 128),
        "decompress_dims": (128, 128),
        "learning_rate": 1e-3,
        "weight_decay": 1e-5,
        "loss_factor": 2.0,
        "categorical_sampling": "sample",
        "num_threads": None,
    }

    def _validate_params(self) -> None:
        super()._validate_params()
        p = self.model_params
        _positive_int("embedding_dim", p["embedding_dim"], allow_none=False)
        for name in ("compress_dims", "decompress_dims"):
            dims = p[name]
            if not isinstance(dims, (list, tuple)) or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
                raise ConfigError(f"{name} must be a list of positive layer widths, e.g. (128, 128); got {dims!r}")
        for name in ("learning_rate", "loss_factor"):
            if not isinstance(p[name], (int, float)) or not p[name] > 0:
                raise ConfigError(f"{name} must be a positive number; got {p[name]!r}")
        if not isinstance(p["weight_decay"], (int, float)) or p["weight_decay"] < 0:
            raise ConfigError(f"weight_decay must be a non-negative number; got {p['weight_decay']!r}")
        if p["categorical_sampling"] not in CATEGORICAL_SAMPLING:
            raise ConfigError(f"categorical_sampling must be one of {CATEGORICAL_SAMPLING}; got {p['categorical_sampling']!r}")
        check_thread_count("num_threads", p["num_threads"])

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

    def _threads(self, *, fitting: bool, rows: int = 0) -> TorchThreads:
        if self.device_ != "cpu":
            return TorchThreads(None)
        threads = self.model_params["num_threads"]
        if threads is None and not fitting and rows < SMALL_BATCH_ROWS:
            threads = 1
        return TorchThreads(threads)

    # -- training -------------------------------------------------------------------------
    def _fit_model(self, frame: pl.DataFrame) -> None:
        with self._threads(fitting=True):
            self._train(frame)

    def _train(self, frame: pl.DataFrame) -> None:
        if self._dp_run is not None:
            self._train_private(frame)
            return
        self._build(batch_rows=self._batch_size(frame.height))
        layout, device = self._layout, self.device_
        data = torch.from_numpy(self.transformer_.transform(frame)).to(device)
        targets = layout.targets(data)
        train_idx, val_idx = self._split_indices(data.shape[0])
        train_idx_t = torch.from_numpy(train_idx).to(device)
        val = (data[val_idx], targets[val_idx]) if len(val_idx) else None
        x_train, t_train = data[train_idx_t], targets[train_idx_t]
        n_train = x_train.shape[0]
        batch = self._batch_size(n_train)
        steps = max(1, n_train // batch) if n_train >= batch else 1
        params = [*self._encoder.parameters(), *self._decoder.parameters(), self._sigma]
        optim = adam(params, lr=self.model_params["learning_rate"], weight_decay=self.model_params["weight_decay"])
        stopper = EarlyStopping(self.patience_)
        best_state: dict[str, Any] | None = None
        start = 0
        resume = self._resume_point()
        if resume is not None:
            start, state = resume
            self._restore_weights(state)
            optim.load_state_dict(state["optim"])
            stopper = EarlyStopping.from_state(state["early"])
            best_state = state["best"]
        epochs = self.epochs_
        stopped_early = out_of_time = False
        for epoch in range(start, epochs):
            if stopper.should_stop or self._out_of_time():
                stopped_early, out_of_time = stopper.should_stop, not stopper.should_stop
                break
            seed = self._epoch_seed(epoch)
            shuffle = torch.Generator().manual_seed(seed)
            order = torch.randperm(n_train, generator=shuffle).to(device)
            self._encoder.train()
            self._decoder.train()
            sums = torch.zeros(2, device=device)
            for step in range(steps):
                rows = order[step * batch : (step + 1) * batch]
                rec, kld = self._loss(x_train[rows], t_train[rows])
                loss = rec + kld
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                with torch.no_grad():
                    self._sigma.clamp_(*SIGMA_RANGE)
                    sums += torch.stack((rec.detach(), kld.detach()))
            means = (sums / steps).tolist()
            losses = {"reconstruction": means[0], "kl": means[1], "loss": means[0] + means[1]}
            val_loss = self._validation_loss(val) if val is not None else None
            improved = stopper.update(epoch, val_loss) if val_loss is not None else False
            if improved and self.patience_ is not None:
                best_state = self._weights_copy()
            self._record_epoch(epoch, losses, val_loss=val_loss, best=improved)
            self._report(epoch=epoch, step=steps, steps_per_epoch=steps, losses={**losses, **({"val_loss": val_loss} if val_loss is not None else {})})
            self._maybe_checkpoint(
                epoch,
                {
                    "encoder": self._encoder.state_dict(),
                    "decoder": self._decoder.state_dict(),
                    "sigma": self._sigma.detach(),
                    "optim": optim.state_dict(),
                    "early": stopper.state(),
                    "best": best_state,
                },
            )
        else:
            stopped_early = stopper.should_stop and len(self.metrics_["history"]) < epochs
        if best_state is not None:
            self._restore_weights(best_state)
        self.metrics_["stopped_early"] = bool(stopped_early)
        self.metrics_["stopped_by_time_limit"] = bool(out_of_time)
        self._encoder.eval()
        self._decoder.eval()

    def _train_private(self, frame: pl.DataFrame) -> None:
        """DP-SGD over the whole network (see the module docstring)."""
        from engine.privacy.dpsgd import DPSGD, prepare_module

        self._build(batch_rows=self._batch_size(frame.height))
        device = self.device_
        self._encoder = prepare_module(self._encoder)
        self._decoder = prepare_module(self._decoder)
        data = torch.from_numpy(self.transformer_.transform(frame)).to(device)
        targets = self._layout.targets(data)
        n = data.shape[0]
        loss_module = _RowLoss(self)
        optim = adam(list(loss_module.parameters()), lr=self.model_params["learning_rate"], weight_decay=self.model_params["weight_decay"])
        start = 0
        resume = self._resume_point()
        if resume is not None:
            start, state = resume
            self._restore_weights(state)
            optim.load_state_dict(state["optim"])
        dp = DPSGD(
            run=self._dp_run, loss_module=loss_module, optimizer=optim, n_rows=n, batch_size=self._batch_size(n), epochs=self.epochs_, device=device, seed=self.seed
        )
        out_of_time = False
        for epoch in range(start, self.epochs_):
            if dp.exhausted:
                break
            if self._out_of_time():
                out_of_time = True
                break
            self._encoder.train()
            self._decoder.train()
            for batch in dp.batches():
                if dp.step(data[batch.rows], targets[batch.rows]):
                    with torch.no_grad():
                        self._sigma.clamp_(*SIGMA_RANGE)
                if dp.exhausted:
                    break
            self._record_epoch(epoch, {})
            self._report(epoch=epoch, step=dp.steps_per_epoch, steps_per_epoch=dp.steps_per_epoch)
            self._maybe_checkpoint(epoch, {**self._weights_copy(), "optim": optim.state_dict()})
        self.metrics_["stopped_early"] = False
        self.metrics_["stopped_by_time_limit"] = out_of_time
        self._encoder.eval()
        self._decoder.eval()
        self._calibrate_to_private_marginals()

    def _calibrate_to_private_marginals(self) -> None:
        """Shift the decoder's one-hot logits so that sampling under the prior reproduces the
        private marginals the domain measured (``engine.privacy.marginals``: post-processing)."""
        from engine.privacy.marginals import CALIBRATION_ROWS, calibrate

        generator = torch_generator(derive_seed(self.seed, "calibration"), self.device_)
        with torch.no_grad():
            z = torch.randn((CALIBRATION_ROWS, self.model_params["embedding_dim"]), generator=generator, device=self.device_)
            logits = self._decoder(z)
        calibrate(run=self._dp_run, transformer=self.transformer_, logits=logits, bias=self._decoder[-1].bias)

    def _loss(self, x: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean per-row (loss_factor x reconstruction, KL) for a batch."""
        mu, logvar = self._encoder(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        out = self._decoder(z)
        rec = self._reconstruction(out, x, targets).sum()
        kld = kl(mu, logvar).sum()
        n = x.shape[0]
        return rec * self.model_params["loss_factor"] / n, kld / n

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

    def _validation_loss(self, val: tuple[torch.Tensor, torch.Tensor]) -> float:
        """Mean per-row loss on the validation rows, with a fixed noise draw (comparable across epochs)."""
        x, targets = val
        self._encoder.eval()
        self._decoder.eval()
        with torch.no_grad():
            generator = torch.Generator(device=x.device).manual_seed(derive_seed(self.seed, "validation"))
            mu, logvar = self._encoder(x)
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            out = self._decoder(mu + eps * torch.exp(0.5 * logvar))
            rec = self._reconstruction(out, x, targets).sum() * self.model_params["loss_factor"]
            kld = kl(mu, logvar).sum()
            value = float((rec + kld) / x.shape[0])
        return value if math.isfinite(value) else math.inf

    def _weights_copy(self) -> dict[str, Any]:
        return {
            "encoder": {k: v.detach().clone() for k, v in self._encoder.state_dict().items()},
            "decoder": {k: v.detach().clone() for k, v in self._decoder.state_dict().items()},
            "sigma": self._sigma.detach().clone(),
        }

    def _restore_weights(self, state: dict[str, Any]) -> None:
        self._encoder.load_state_dict(state["encoder"])
        self._decoder.load_state_dict(state["decoder"])
        with torch.no_grad():
            self._sigma.copy_(state["sigma"])

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
            from engine.privacy.domain import prepare_frame

            frame = prepare_frame(self.transformer_, frame)
        data_t = torch.from_numpy(self.transformer_.transform(frame)).to(self.device_)
        targets = self._layout.targets(data_t)
        loss_module = _RowLoss(self)

        def one_row(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return loss_module(x.unsqueeze(0), t.unsqueeze(0))

        per_row = torch.func.vmap(one_row, randomness="different")
        total = torch.zeros(data_t.shape[0], dtype=torch.float64, device=self.device_)
        self._encoder.eval()
        self._decoder.eval()
        with self._threads(fitting=False, rows=data_t.shape[0]), torch.no_grad(), torch.random.fork_rng(devices=[] if self.device_ == "cpu" else None):
            torch.manual_seed(derive_seed(self.seed, "row-loss", seed))
            for _ in range(draws):
                for start in range(0, data_t.shape[0], 8_192):
                    stop = start + 8_192
                    total[start:stop] += per_row(data_t[start:stop], targets[start:stop]).double()
        return (total / draws).cpu().numpy()

    # -- sampling -------------------------------------------------------------------------
    def _generate(self, n: int, *, generator: torch.Generator, fixed: dict[str, Any] | None) -> pl.DataFrame:
        with self._threads(fitting=False, rows=n):
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
        return self.transformer_.inverse_transform(matrix)

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


# -- building blocks -----------------------------------------------------------------------
class _RowLoss(nn.Module):
    """The TVAE's trainable parts as one module whose ``forward`` is the rows' summed loss (for DP-SGD)."""

    def __init__(self, model: TVAE) -> None:
        super().__init__()
        self.encoder = model._encoder
        self.decoder = model._decoder
        self.sigma = model._sigma
        self._model = [model]  # a list: not registered as a submodule

    def forward(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self._losses(x, targets, self.sigma).sum()

    def losses_and_gradient_norms(self, x: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's loss and gradient norm: DP-SGD clips without per-row gradients (``engine.privacy.dpsgd``).

        Every weight is an ``nn.Linear``'s (``LinearNorms``); sigma, shared by all rows, enters
        through one copy per row, whose gradient is that row's gradient of sigma.
        """
        from engine.privacy.linear_norms import LinearNorms

        sigma_rows = self.sigma.expand(x.shape[0], -1)
        with LinearNorms(self, measured_by_caller=(self.sigma,)) as linear:
            losses = self._losses(x, targets, sigma_rows)
        *at_outputs, at_sigma = torch.autograd.grad(losses.sum(), [*linear.outputs, sigma_rows], retain_graph=True, allow_unused=True)
        squared = linear.squared_norms(at_outputs)
        if at_sigma is not None:  # None: no tanh column, sigma unused
            squared = squared + at_sigma.pow(2).sum(1)
        return losses, squared.sqrt()

    def _losses(self, x: torch.Tensor, targets: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        model = self._model[0]
        mu, logvar = self.encoder(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        rec = model._reconstruction(self.decoder(z), x, targets, sigma=sigma)
        return rec * model.model_params["loss_factor"] + kl(mu, logvar)


__all__ = ["TVAE"]
