"""CTGAN: the conditional tabular GAN of Xu et al. (2019), "Modeling Tabular Data using
Conditional GAN", written from the paper for speed.

The pieces, each in its own module:

- mode-specific normalisation: ``engine.transform.DataTransformer`` (never re-done here);
- conditional vector and training-by-sampling: ``sampler`` (vectorised over the batch);
- generator (residual, BatchNorm), PacGAN critic, WGAN-GP penalty: ``nets``;
- output activations (tanh, Gumbel-softmax tau=0.2) and the conditional cross-entropy,
  grouped into a few padded tensors instead of a loop over spans: ``layout``.

One training step (``_Trainer.step``): draw a (column, category) per row, a real row holding
that category and noise; generate once; update the critic on real vs generated rows (plus
the gradient penalty); then update the generator on the same generated rows through the
updated critic, adding the cross-entropy of its output for the chosen column against the
chosen category. Reusing one generator pass for both updates (as in the reference DCGAN
training loop) saves a third of the generator's work per step.

With ``privacy`` (``engine.Privacy``) only the critic reads real rows, so only the critic
trains with DP-SGD (``engine.privacy.dpsgd``); the generator, trained through the critic
alone, is post-processing. Differences from the non-private step, each forced by privacy:

- ``pac`` is 1 (whatever was asked; the manifest notes it): clipping is per row, and a pack
  would mix rows.
- Real rows come by Poisson sampling, not by training-by-sampling (which picks rows by their
  category and would break the sampling analysis). Each real row gets the conditional vector
  of its own category in a uniformly drawn condition column; the generated rows it is paired
  with get conditions drawn from the *private* category counts (or uniformly, with
  ``Privacy(frequencies="uniform")``), by frequency, not log-frequency, so that real and
  generated conditions follow the same distribution.
- One example is (real row, generated row, interpolation weight), the generated row drawn for
  it alone (generator in eval mode, so rows do not share BatchNorm statistics): its loss
  ``D(fake) - D(real) + lambda (||grad D(x_hat)|| - 1)^2`` is clipped as a whole, the
  gradient penalty included, by its exact gradient norm without per-row gradients
  (``private``).
- The critic's optimizer is zeroed before every critic step; the generator steps (in training
  mode, on a batch of the expected size) after every ``discriminator_steps`` completed DP
  steps, with conditions from the private counts and randomness seeded per step.
- The DP step count (what the accountant sees) is the number of critic steps.
- After training, the generator's one-hot scores are shifted so that sampling reproduces the
  private marginals the domain measured (``engine.privacy.marginals``; post-processing).

Sampling picks (column, category) by the training frequencies, so the generated rows follow
the data's distribution; a categorical equality ``{column: value}`` on a condition column
fixes that column's conditional vector and one-hot for every row, so no row is rejected.
Batch sampling runs the generator with BatchNorm folded into its weights, in preallocated
buffers, chunk by chunk on worker threads (``generate``, ``FoldedGenerator``).
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import polars as pl

from engine.errors import ConfigError
from engine.models.base import Synthesizer, _positive_int
from engine.models.early_stopping import EarlyStopping
from engine.seeds import derive_seed, torch_generator
from engine.models.sizing import check_training_memory, meta_parameter_count, meta_shapes, weights_mismatch
from engine.models.threads import TorchThreads, check_thread_count

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from engine.models.ctgan.nets import FoldedGenerator

# Rows per generator pass when sampling. On CPU each worker reuses its buffers (~930 floats a
# row with the default generator) chunk after chunk; 512 to 4,096 rows measured alike on the
# 2-core benchmark machine, 8,192 and more slower (buffers far beyond the core's cache).
_SAMPLE_CHUNK_CPU = 2_048
_SAMPLE_CHUNK_GPU = 131_072
# Steps between progress reports inside an epoch (each report reads the losses, a GPU sync).
_REPORT_EVERY = 50


def _hidden(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, (int,)) and not isinstance(value, bool):
        value = (value,)
    if (
        not isinstance(value, (tuple, list))
        or not value
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value)
    ):
        raise ConfigError(f"{name} must be a non-empty sequence of positive layer widths, e.g. (256, 256); got {value!r}")
    return tuple(int(v) for v in value)


def _positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number; got {value!r}")
    return float(value)


def pac_batch(batch_size: int, pac: int) -> int:
    """The batch CTGAN trains with for ``batch_size``: a multiple of ``pac`` (the critic judges pac rows at a time).

    Rounded down to the nearest multiple (512 -> 510 at pac 10), so a step never takes more
    rows than asked, and up to ``pac`` itself when ``batch_size`` is smaller. A default or a
    user's batch size is never refused for it; the run's notes say when it was rounded.
    """
    return max(pac, batch_size // pac * pac)


class CTGAN(Synthesizer):
    """Conditional tabular GAN (Xu et al. 2019) with PacGAN and WGAN-GP.

    Model parameters (keyword-only, besides the ``Synthesizer`` ones; defaults are the
    paper's):

    - ``embedding_dim`` (128): noise dimensions fed to the generator.
    - ``generator_dim`` ((256, 256)): widths of the generator's residual blocks.
    - ``discriminator_dim`` ((256, 256)): widths of the critic's hidden layers.
    - ``pac`` (10): rows the critic judges together (PacGAN); the batch size is rounded
      to a multiple of it (``pac_batch``; the run's notes say so). 1 for differentially
      private training.
    - ``generator_lr`` / ``discriminator_lr`` (2e-4), ``weight_decay`` (1e-6): Adam with
      betas (0.5, 0.9).
    - ``discriminator_steps`` (1): critic updates per generator update.
    - ``gradient_penalty`` (10.0): WGAN-GP weight lambda.
    - ``log_frequency`` (True): draw training conditions by log-frequency (the paper's
      training-by-sampling) rather than by frequency.
    - ``n_threads`` (None): CPU threads (None: all cores). Fitting uses them as torch's
      intra-op threads (the previous setting is restored afterwards); sampling as workers
      that each generate whole chunks of rows with single-threaded kernels (the rows do not
      depend on their number).

    Under differential privacy: 100 epochs of expected batch 500 (``default_dp_epochs``),
    then the calibration to the private marginals (module docstring). Measured on adult at
    epsilon 10 (SDMetrics quality, one run each, DP noise unseeded), before the calibration
    and the per-integer cells of the private domain: 20 epochs 0.818 (99 s on 2 CPU
    threads), 50 epochs 0.846 (232 s), 100 epochs 0.861 (575 s): more critic steps at more
    noise per step keep paying at this budget. With both, 100 epochs: 0.900 raw, 0.950
    calibrated (one fitted model).

    Early stopping is off by default (``patience=None``), as in the paper: all rows train.
    With a ``patience``, ``validation_share`` of the rows are held out and the validation
    loss is the mean distance between their per-span marginals and generated rows' (see
    ``layout.marginal_distance``); the best epoch's generator is kept.
    """

    kind: ClassVar[str] = "ctgan"
    default_epochs: ClassVar[int] = 300
    default_batch_size: ClassVar[int] = 500
    default_dp_epochs: ClassVar[int] = 100
    default_dp_batch_size: ClassVar[int] = 500
    default_patience: ClassVar[int | None] = None
    default_params: ClassVar[dict[str, Any]] = {
        "embedding_dim": 128,
        "generator_dim": (256, 256),
        "discriminator_dim": (256, 256),
        "pac": 10,
        "generator_lr": 2e-4,
        "discriminator_lr": 2e-4,
        "weight_decay": 1e-6,
        "discriminator_steps": 1,
        "gradient_penalty": 10.0,
        "log_frequency": True,
        "n_threads": None,
    }

    # -- parameters -----------------------------------------------------------------------
    def _validate_params(self) -> None:
        super()._validate_params()
        p = self.model_params
        for name in ("embedding_dim", "pac", "discriminator_steps"):
            _positive_int(name, p[name], allow_none=False)
        _hidden("generator_dim", p["generator_dim"])
        _hidden("discriminator_dim", p["discriminator_dim"])
        for name in ("generator_lr", "discriminator_lr"):
            _positive_number(name, p[name])
        for name in ("weight_decay", "gradient_penalty"):
            value = p[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a non-negative number; got {value!r}")
        if not isinstance(p["log_frequency"], bool):
            raise ConfigError(f"log_frequency must be True or False; got {p['log_frequency']!r}")
        check_thread_count("n_threads", p["n_threads"])

    def _pac(self) -> int:
        """Rows per critic input: ``pac``, or 1 under differential privacy (per-row clipping)."""
        return 1 if self.private_ else int(self.model_params["pac"])

    def _dp_needs_counts(self) -> bool:
        return self._privacy().frequencies == "dp"

    def _effective_batch(self, n_rows: int) -> int:
        """The batch size for ``n_rows`` training rows as a multiple of ``pac`` (``pac_batch``)."""
        return pac_batch(self._batch_size(n_rows), self._pac())

    def _note_batch(self, n_rows: int) -> None:
        """Say in ``metrics_["notes"]`` (the run's notes) when the batch size was rounded to a multiple of pac."""
        asked, batch = self._batch_size(n_rows), self._effective_batch(n_rows)
        if asked != batch:
            note = (f"batch size {asked} was rounded to {batch}, a multiple of pac ({self._pac()}): "
                    "the critic judges pac rows at a time")
            notes = self.metrics_.setdefault("notes", [])
            if note not in notes:
                notes.append(note)

    # -- fitting --------------------------------------------------------------------------
    def _threads(self) -> TorchThreads:
        """torch's intra-op threads while fitting: ``n_threads``, None meaning all cores."""
        threads = self.model_params["n_threads"]
        return TorchThreads(threads if threads is not None else os.cpu_count())

    def _fit_model(self, frame: pl.DataFrame) -> None:
        with self._threads():
            self._train(frame)

    def _train(self, frame: pl.DataFrame) -> None:
        import torch

        from engine.models.ctgan.layout import marginal_distance
        from engine.models.ctgan.sampler import ConditionSampler, RowSampler

        device = torch.device(self.device_)
        if self._dp_run is not None:
            self._train_private(frame, device)
            return
        resume = self._resume_point()
        patience = self.patience_
        if patience is None:
            train_frame, val_frame = frame, None
        else:
            train_idx, val_idx = self._split_indices(frame.height)
            train_frame = frame[train_idx]
            val_frame = frame[val_idx] if len(val_idx) else None
        encoded = self.transformer_.transform(train_frame)
        self._note_batch(len(encoded))
        counts = ConditionSampler.count_categories(encoded, self.transformer_.condition_spans_)
        self._build(device, counts=counts, batch_rows=self._effective_batch(len(encoded)))
        val_encoded = None if val_frame is None else self.transformer_.transform(val_frame)
        trainer = _Trainer(self, encoded, RowSampler(encoded, self.transformer_.condition_spans_, device=device))
        stopper = EarlyStopping(patience)
        best_state: dict[str, Any] | None = None
        first = 0
        if resume is not None:
            first, state = resume
            trainer.load_state(state)
            stopper = EarlyStopping.from_state(state["early_stopping"])
            best_state = state.get("best_generator")
        epochs = self.epochs_
        for epoch in range(first, epochs):
            losses = trainer.epoch(epoch)
            val_loss = None
            improved = False
            if val_encoded is not None:
                fake = self._generate_encoded(len(val_encoded), generator=self._generator("validation", epoch))
                val_loss = marginal_distance(
                    val_encoded, fake, self.transformer_.output_info_, self.transformer_.span_starts_
                )
                improved = stopper.update(epoch, val_loss)
                if improved:
                    best_state = {k: v.detach().clone() for k, v in self.generator_.state_dict().items()}
            self._record_epoch(epoch, losses, val_loss=val_loss, best=improved)
            state = {**trainer.state(), "early_stopping": stopper.state()}
            if best_state is not None:
                state["best_generator"] = best_state
            self._maybe_checkpoint(epoch, state)
            if stopper.should_stop:
                self.metrics_["stopped_early"] = True
                break
            if self._out_of_time():
                self.metrics_["stopped_on_time"] = True
                break
        if best_state is not None:
            self.generator_.load_state_dict(best_state)
        self.generator_.eval()

    def _train_private(self, frame: pl.DataFrame, device: torch.device) -> None:
        """DP-SGD on the critic, the generator as post-processing (see the module docstring)."""
        import torch

        from engine.models.ctgan.private import private_critic
        from engine.privacy.dpsgd import DPSGD, prepare_module

        run = self._dp_run
        if self.model_params["pac"] != 1 and not any("pac" in note for note in run.notes):
            run.notes.append(f"CTGAN pac={self.model_params['pac']} was set to 1: DP-SGD clips each row's gradient, a pack would mix rows")
        encoded = self.transformer_.transform(frame)
        spans = self.transformer_.condition_spans_
        private = run.extra.get("counts", {})
        width = max((c.size for c in spans), default=1)
        counts = np.zeros((len(spans), width), dtype=np.int64)
        for j, span in enumerate(spans):
            values = np.asarray(private.get(span.column, np.ones(span.size)), dtype=np.float64)[: span.size]
            if self._privacy().frequencies == "uniform" or len(values) != span.size:
                values = np.ones(span.size)
            counts[j, : span.size] = np.maximum(np.rint(values), 1)
        self._build(device, counts=counts, batch_rows=self._effective_batch(len(encoded)))
        trainer = _Trainer(self, encoded, None)
        trainer.critic = prepare_module(trainer.critic)
        trainer.opt_d = torch.optim.Adam(trainer.critic.parameters(), lr=self.model_params["discriminator_lr"], betas=(0.5, 0.9), weight_decay=self.model_params["weight_decay"])
        first = 0
        resume = self._resume_point()
        if resume is not None:
            first, state = resume
            trainer.load_state(state)
        layout = self._layout
        row_codes = None
        if layout.n_conditions:  # each row's category in every condition column (its own condition)
            row_codes = torch.as_tensor(
                np.stack([encoded[:, c.start : c.start + c.size].argmax(axis=1) for c in spans], axis=1), device=device
            )
        dp = DPSGD(
            run=run,
            loss_module=private_critic(trainer.critic, float(self.model_params["gradient_penalty"])),
            optimizer=trainer.opt_d,
            n_rows=len(encoded),
            batch_size=trainer.batch,
            epochs=self.epochs_,
            device=device,
            seed=self.seed,
        )
        for epoch in range(first, self.epochs_):
            if dp.exhausted:
                break
            self.generator_.train()
            trainer.critic.train()
            for batch in dp.batches():
                if batch.first:
                    generator = torch_generator(batch.seed, device)
                rows = batch.rows
                real, real_index, fake, fake_index = trainer.private_pair(rows, row_codes, generator)
                alpha = torch.rand((rows.shape[0], 1), generator=generator, device=device)
                real, fake = trainer.with_condition(real, real_index), trainer.with_condition(fake, fake_index)
                if dp.step(real, fake, alpha) and dp.steps_done % trainer.critic_steps == 0:
                    seed = derive_seed(batch.seed, "generator")
                    trainer.generator_step(torch_generator(seed, device), log_frequency=False)
                if dp.exhausted:
                    break
            self._record_epoch(epoch, {})
            self._report(epoch=epoch, step=dp.steps_per_epoch, steps_per_epoch=dp.steps_per_epoch)
            self._maybe_checkpoint(epoch, trainer.state())
            if self._out_of_time():
                self.metrics_["stopped_on_time"] = True
                break
        self.generator_.eval()
        self._calibrate_to_private_marginals()

    def _calibrate_to_private_marginals(self) -> None:
        """Shift the generator's one-hot scores so that sampling (noise and conditions drawn as
        ``sample`` draws them) reproduces the private marginals the domain measured
        (``engine.privacy.marginals``: post-processing)."""
        import torch

        from engine.privacy.marginals import CALIBRATION_ROWS, calibrate

        generator = torch_generator(derive_seed(self.seed, "calibration"), self._layout.device)
        with torch.no_grad():
            z = torch.randn((CALIBRATION_ROWS, self.model_params["embedding_dim"]), generator=generator, device=self._layout.device)
            logits = self.generator_(z, self._condition_index(CALIBRATION_ROWS, generator=generator, target=None))
        calibrate(run=self._dp_run, transformer=self.transformer_, logits=logits, bias=self.generator_.out.fc.bias)

    def _build(
        self, device: torch.device, *, counts: np.ndarray, batch_rows: int | None = None, weights: dict[str, torch.Tensor] | None = None
    ) -> None:
        """Networks-independent sampling state plus a fresh generator (seeded).

        Before the generator is allocated, its size is checked (``engine.models.sizing``):
        for training (``batch_rows`` given) the memory generator and critic would need; for a
        model file (``weights`` given) that the parameters make exactly the weights' shapes.
        """
        import torch

        from engine.models.ctgan.layout import OutputLayout
        from engine.models.ctgan.nets import build_critic, make_generator
        from engine.models.ctgan.sampler import ConditionSampler

        t = self.transformer_
        p = self.model_params
        self._folded_cache = None  # see ``_folded_generator``
        layout = OutputLayout(t.output_info_, t.span_starts_, t.condition_spans_, device=device)
        generator_dim = _hidden("generator_dim", p["generator_dim"])

        def generator() -> torch.nn.Module:
            return make_generator(p["embedding_dim"], layout.condition_width, generator_dim, t.output_dim_)

        if weights is not None:
            generator_weights = {k: v for k, v in weights.items() if k.startswith("generator.")}
            problem = weights_mismatch(meta_shapes(generator, prefix="generator."), generator_weights)
            if problem is not None:
                raise ValueError(f"the weights do not fit a CTGAN of this layout and configuration ({problem})")
        if batch_rows is not None:
            discriminator_dim = _hidden("discriminator_dim", p["discriminator_dim"])
            critic_in = layout.width + layout.condition_width
            check_training_memory(
                model="CTGAN",
                params={name: p[name] for name in ("generator_dim", "discriminator_dim", "embedding_dim", "pac")},
                parameters=meta_parameter_count(generator) + meta_parameter_count(lambda: build_critic(critic_in, discriminator_dim, pac=self._pac())),
                activation_width=2 * sum(generator_dim) + p["embedding_dim"] + t.output_dim_ + critic_in + sum(discriminator_dim),
                batch_rows=batch_rows,
            )
        self._layout = layout
        self._conditions = ConditionSampler(counts, device=device)
        torch.manual_seed(derive_seed(self.seed, "init", "generator"))
        self.generator_ = generator().to(device)

    # -- sampling -------------------------------------------------------------------------
    def _native_condition_columns(self) -> set[str] | Literal["any"]:
        return {span.column for span in self.transformer_.condition_spans_}

    def _generate(self, n: int, *, generator: torch.Generator, fixed: dict[str, Any] | None) -> pl.DataFrame:
        return self.transformer_.inverse_transform(self._generate_encoded(n, generator=generator, fixed=fixed))

    def _generate_encoded(self, n: int, *, generator: torch.Generator, fixed: dict[str, Any] | None = None) -> np.ndarray:
        """``n`` generated rows in the transformer's float encoding, ready for ``inverse_transform``.

        The generator runs as in eval mode (BatchNorm on its running statistics, folded into
        the weights); one-hot blocks hold scores whose argmax is the drawn category. On CPU,
        ``n_threads`` workers (None: all cores) each generate whole chunks of rows (see
        ``generate``); the rows do not depend on the number of workers. The result is
        a view without the output layer's padding columns.
        """
        from engine.models.ctgan.generate import generate_encoded

        layout = self._layout
        target = self._fixed_category(fixed)
        threads = self.model_params["n_threads"]
        encoded = generate_encoded(
            n,
            folded=self._folded_generator(),
            layout=layout,
            conditions=lambda size: self._condition_index(size, generator=generator, target=target),
            generator=generator,
            fixed=target,
            chunk=_SAMPLE_CHUNK_GPU if layout.device.type == "cuda" else _SAMPLE_CHUNK_CPU,
            workers=threads if threads is not None else (os.cpu_count() or 1),
        )
        return encoded[:, : layout.width]

    def _folded_generator(self) -> FoldedGenerator:
        """``generator_.folded()``, cached until any of its weights or statistics change.

        The key is every parameter's and buffer's version counter (bumped by each in-place
        update: an optimiser step, ``load_state_dict``, BatchNorm's running statistics; a new
        generator from ``_build`` clears the cache), so a stream of one-row calls folds the
        weights once, and training never sees a stale copy.
        """
        key = tuple(t._version for t in (*self.generator_.parameters(), *self.generator_.buffers()))
        cached = self._folded_cache
        if cached is None or cached[0] != key:
            cached = (key, self.generator_.folded())
            self._folded_cache = cached
        return cached[1]

    def _condition_index(
        self, size: int, *, generator: torch.Generator, target: tuple[int, int] | None
    ) -> torch.Tensor | None:
        """Per row, the position of the 1 in the conditional vector (None: no condition columns)."""
        if self._layout.n_conditions == 0:
            return None
        if target is None:
            column, category = self._conditions.draw(size, generator=generator)
        else:
            column, category = self._conditions.fixed(size, *target)
        return self._layout.condition_offsets.index_select(0, column) + category

    def _fixed_category(self, fixed: dict[str, Any] | None) -> tuple[int, int] | None:
        """(condition column, category code) to fix, chosen among ``fixed``'s equalities.

        Only a value that is exactly one of the column's levels can be fixed (a value merged
        into the rare-level bucket cannot). Among several, the rarest category is fixed: the
        base's filter on the other equalities then rejects the fewest rows.
        """
        if not fixed:
            return None
        t = self.transformer_
        encoders = {enc.name: enc for enc in t.encoders_}
        best: tuple[int, int] | None = None
        best_count = None
        for j, span in enumerate(t.condition_spans_):
            if span.column not in fixed:
                continue
            enc = encoders[span.column]
            try:
                value = pl.Series(span.column, [fixed[span.column]]).cast(enc.dtype, strict=True)
                code = int(enc.codes(value)[0])
            except Exception:  # not representable in the column: leave it to the base's filter
                continue
            if enc.levels.gather([code]).to_list() != value.to_list():
                continue
            count = int(self._conditions.counts[j, code])
            if best is None or count < best_count:
                best, best_count = (j, code), count
        return best

    # -- model files ----------------------------------------------------------------------
    def _model_config(self) -> dict[str, Any]:
        p = self.model_params
        return {
            "embedding_dim": p["embedding_dim"],
            "generator_dim": list(_hidden("generator_dim", p["generator_dim"])),
            "condition_width": self._layout.condition_width,
            "output_dim": self._layout.width,
            "condition_columns": [span.column for span in self.transformer_.condition_spans_],
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        import torch

        tensors = {f"generator.{k}": v for k, v in self.generator_.state_dict().items()}
        tensors["condition_counts"] = torch.as_tensor(self._conditions.counts)
        return tensors

    def _load_tensors(self, tensors: dict[str, torch.Tensor], manifest: dict[str, Any]) -> None:
        import torch

        device = torch.device(self.device_)
        counts = tensors["condition_counts"].cpu().numpy()
        self._build(device, counts=counts, weights=tensors)
        state = {k.removeprefix("generator."): v for k, v in tensors.items() if k.startswith("generator.")}
        self.generator_.load_state_dict(state)
        self.generator_.eval()


class _Trainer:
    """The networks, optimisers and the step loop of one CTGAN fit."""

    def __init__(self, model: CTGAN, encoded: np.ndarray, rows: Any) -> None:
        import torch

        from engine.models.ctgan.nets import build_critic

        p = model.model_params
        self.model = model
        self.layout = model._layout
        self.conditions = model._conditions
        self.rows = rows
        device = self.layout.device
        self.data = torch.as_tensor(encoded, device=device)
        self.n_rows = len(encoded)
        self.batch = model._effective_batch(self.n_rows)
        self.steps = max(1, self.n_rows // self.batch)
        self.pac = model._pac()
        self.noise_dim = p["embedding_dim"]
        self.penalty = float(p["gradient_penalty"])
        self.critic_steps = p["discriminator_steps"]
        self.log_frequency = p["log_frequency"]
        self.generator = model.generator_
        torch.manual_seed(derive_seed(model.seed, "init", "critic"))
        self.critic = build_critic(
            self.layout.width + self.layout.condition_width, _hidden("discriminator_dim", p["discriminator_dim"]), pac=self.pac
        ).to(device)
        # Fused Adam: one kernel over all parameters instead of a dozen ops per tensor
        # (a quarter of a CPU step otherwise); same update rule.
        adam = {"betas": (0.5, 0.9), "weight_decay": p["weight_decay"], "fused": True}
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=p["generator_lr"], **adam)
        self.opt_d = torch.optim.Adam(self.critic.parameters(), lr=p["discriminator_lr"], **adam)

    # -- state ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(),
            "opt_generator": self.opt_g.state_dict(),
            "opt_critic": self.opt_d.state_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.critic.load_state_dict(state["critic"])
        self.opt_g.load_state_dict(state["opt_generator"])
        self.opt_d.load_state_dict(state["opt_critic"])

    # -- one batch ------------------------------------------------------------------------
    def draw(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """Real rows, condition columns, categories and condition indices for one batch."""
        if self.layout.n_conditions == 0:
            rows = self.rows.uniform(self.batch, generator=generator)
            return self.data.index_select(0, rows), None, None, None
        column, category = self.conditions.sample(self.batch, generator=generator, log_frequency=self.log_frequency)
        rows = self.rows.sample(column, category, generator=generator)
        index = self.layout.condition_offsets.index_select(0, column) + category
        return self.data.index_select(0, rows), column, category, index

    def with_condition(self, rows: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
        """``[rows, one-hot conditional vector]``: what the critic reads."""
        import torch

        if index is None:
            return rows
        onehot = torch.zeros((rows.shape[0], self.layout.condition_width), device=rows.device, dtype=rows.dtype)
        onehot.scatter_(1, index.unsqueeze(1), 1.0)
        return torch.cat([rows, onehot], dim=1)

    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(Wasserstein critic loss ``E[D(fake)] - E[D(real)]``, gradient penalty)."""
        import torch

        from engine.models.ctgan.nets import gradient_penalty, pack

        # Real and generated packs in one pass: one larger matmul per layer instead of two.
        scores = self.critic(pack(torch.cat([real, fake], dim=0), self.pac))
        packs = real.shape[0] // self.pac
        score_real, score_fake = scores[:packs].mean(), scores[packs:].mean()
        penalty = gradient_penalty(self.critic, real, fake, pac=self.pac, weight=self.penalty, generator=generator)
        return score_fake - score_real, penalty

    def step(self, generator: torch.Generator) -> torch.Tensor:
        """One generator update after ``discriminator_steps`` critic updates.

        Returns the losses (critic's Wasserstein term, gradient penalty, generator's
        adversarial term, conditional cross-entropy) as one tensor, read only at report time.
        """
        import torch

        from engine.models.ctgan.nets import pack

        for _ in range(self.critic_steps - 1):  # extra critic steps on fresh batches
            real, _, _, index = self.draw(generator)
            with torch.no_grad():
                z = torch.randn((self.batch, self.noise_dim), generator=generator, device=real.device)
                fake = self.layout.activate(self.generator(z, index), generator=generator)
            wasserstein, penalty = self.critic_loss(self.with_condition(real, index), self.with_condition(fake, index), generator)
            self.opt_d.zero_grad(set_to_none=True)
            (wasserstein + penalty).backward()
            self.opt_d.step()
        real, column, category, index = self.draw(generator)
        z = torch.randn((self.batch, self.noise_dim), generator=generator, device=real.device)
        raw = self.generator(z, index)
        fake = self.with_condition(self.layout.activate(raw, generator=generator), index)
        wasserstein, penalty = self.critic_loss(self.with_condition(real, index), fake.detach(), generator)
        self.opt_d.zero_grad(set_to_none=True)
        (wasserstein + penalty).backward()
        self.opt_d.step()
        # Generator update on the same generated rows, through the updated critic.
        self.critic.requires_grad_(False)
        adversarial = -self.critic(pack(fake, self.pac)).mean()
        if column is None:
            cond_loss = torch.zeros((), device=raw.device)
        else:
            cond_loss = self.layout.condition_loss(raw, column, category)
        loss_g = adversarial + cond_loss
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.critic.requires_grad_(True)
        return torch.stack([wasserstein.detach(), penalty.detach(), adversarial.detach(), cond_loss.detach()])

    # -- differentially private steps ---------------------------------------------------
    def private_pair(
        self, rows: torch.Tensor, row_codes: torch.Tensor | None, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        """Real rows (with their own conditions) and as many generated rows (private conditions).

        Each generated row is drawn for its real row alone: the generator runs in eval mode
        (BatchNorm on its running statistics), so no generated row depends on the others, nor
        on how many rows the secret Poisson batch holds.
        """
        import torch

        b = rows.shape[0]
        real = self.data.index_select(0, rows)
        real_index = fake_index = None
        if row_codes is not None:
            column = torch.randint(self.layout.n_conditions, (b,), generator=generator, device=real.device)
            category = row_codes[rows, column]
            real_index = self.layout.condition_offsets.index_select(0, column) + category
            f_column, f_category = self.conditions.sample(b, generator=generator, log_frequency=False)
            fake_index = self.layout.condition_offsets.index_select(0, f_column) + f_category
        self.generator.eval()
        with torch.no_grad():
            z = torch.randn((b, self.noise_dim), generator=generator, device=real.device)
            fake = self.layout.activate(self.generator(z, fake_index), generator=generator)
        self.generator.train()
        return real, real_index, fake, fake_index

    def generator_step(self, generator: torch.Generator, *, log_frequency: bool) -> None:
        """One generator update through the critic (post-processing of the private critic)."""
        import torch

        from engine.models.ctgan.nets import pack

        if self.layout.n_conditions:
            column, category = self.conditions.sample(self.batch, generator=generator, log_frequency=log_frequency)
            index = self.layout.condition_offsets.index_select(0, column) + category
        else:
            column = category = index = None
        z = torch.randn((self.batch, self.noise_dim), generator=generator, device=self.data.device)
        raw = self.generator(z, index)
        fake = self.with_condition(self.layout.activate(raw, generator=generator), index)
        self.critic.requires_grad_(False)
        adversarial = -self.critic(pack(fake, self.pac)).mean()
        cond_loss = torch.zeros((), device=raw.device) if column is None else self.layout.condition_loss(raw, column, category)
        self.opt_g.zero_grad(set_to_none=True)
        (adversarial + cond_loss).backward()
        self.opt_g.step()
        self.critic.requires_grad_(True)

    def epoch(self, epoch: int) -> dict[str, float]:
        """Train one epoch (``steps`` batches), seeded from (seed, epoch); mean losses."""
        import torch

        model = self.model
        seed = model._epoch_seed(epoch)  # also seeds torch's global RNG (dropout)
        generator = torch_generator(seed, self.layout.device)
        self.generator.train()
        self.critic.train()
        totals = torch.zeros(4, device=self.layout.device, dtype=torch.float64)
        for step in range(self.steps):
            totals += self.step(generator).to(torch.float64)
            if model.on_progress is not None and (step + 1) % _REPORT_EVERY == 0 and step + 1 < self.steps:
                model._report(epoch=epoch, step=step + 1, steps_per_epoch=self.steps, losses=_named(totals / (step + 1)))
        means = _named(totals / self.steps)
        model._report(epoch=epoch, step=self.steps, steps_per_epoch=self.steps, losses=means)
        return means


def _named(values: torch.Tensor) -> dict[str, float]:
    """Mean losses by name: ``critic`` (Wasserstein term + penalty) and its parts, ``generator``
    (adversarial term + conditional cross-entropy) and its parts."""
    wasserstein, penalty, adversarial, condition = (float(v) for v in values.tolist())
    return {
        "critic": wasserstein + penalty,
        "wasserstein": wasserstein,
        "penalty": penalty,
        "generator": adversarial + condition,
        "condition": condition,
    }


__all__ = ["CTGAN"]
