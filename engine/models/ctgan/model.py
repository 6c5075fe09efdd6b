"""CTGAN: the conditional tabular GAN of Xu et al. (2019), "Modeling Tabular Data using
Conditional GAN", written from the paper for speed.

The pieces, each in its own module:

- mode-specific normalisation: ``engine.transform.DataTransformer`` (never re-done here);
- conditional vector and training-by-sampling: ``sampler`` (vectorised over the batch);
- generator (residual, BatchNorm), PacGAN critic, WGAN-GP penalty: ``nets``;
- output activations (tanh, Gumbel-softmax tau=0.2) and the conditional cross-entropy,
  grouped into a few padded tensors instead of a loop over spans: ``layout``.

One training step (``CTGANTrainer.step`` in ``trainer``, run by the one fit loop): draw a (column, category) per row, a real row holding
that category and noise; generate once; update the critic on real vs generated rows (plus
the gradient penalty); then update the generator on the same generated rows through the
updated critic, adding the cross-entropy of its output for the chosen column against the
chosen category. Reusing one generator pass for both updates (as in the reference DCGAN
training loop) saves a third of the generator's work per step.

With ``privacy`` (``engine.Privacy``) only the critic reads real rows, so only the critic
trains with DP-SGD (the trainer wrapped by ``engine.privacy.private_training``); the generator, trained through the critic
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

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import polars as pl

from engine.models.base import Synthesizer
from engine.models.ctgan.config import CTGANConfig
from engine.models.ctgan.trainer import CTGANTrainer
from engine.seeds import derive_seed, numpy_seed
from engine.models.sizing import check_training_memory, meta_parameter_count, meta_shapes, weights_mismatch
from engine.cpus import default_threads
from engine.models.threads import TorchThreads

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from engine.models.ctgan.nets import FoldedGenerator

# Rows per generator pass when sampling. On CPU each worker reuses its buffers (~930 floats a
# row with the default generator) chunk after chunk; 512 to 4,096 rows measured alike on the
# 2-core benchmark machine, 8,192 and more slower (buffers far beyond the core's cache).
_SAMPLE_CHUNK_CPU = 2_048
_SAMPLE_CHUNK_GPU = 131_072


def _hidden(name: str, value: Any) -> tuple[int, ...]:
    """The layer widths of parameter ``name`` as a tuple (``CTGANConfig`` has checked them)."""
    return tuple(int(v) for v in value)


def pac_batch(batch_size: int, pac: int) -> int:
    """The batch CTGAN trains with for ``batch_size``: a multiple of ``pac`` (the critic judges pac rows at a time).

    Rounded down to the nearest multiple (512 -> 510 at pac 10), so a step never takes more
    rows than asked, and up to ``pac`` itself when ``batch_size`` is smaller. A default or a
    user's batch size is never refused for it; the run's notes say when it was rounded.
    """
    return max(pac, batch_size // pac * pac)


class CTGAN(Synthesizer):
    """Conditional tabular GAN (Xu et al. 2019) with PacGAN and WGAN-GP.

    Model parameters (keyword-only, besides the ``Synthesizer`` ones; declared with their
    allowed values in ``CTGANConfig``; defaults are the paper's):

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
    - ``num_threads`` (None): CPU threads (None: the CPUs this process may use,
      ``engine.cpus.default_threads``). Fitting uses them as torch's intra-op threads (the previous setting is restored afterwards); sampling as workers
      that each generate whole chunks of rows with single-threaded kernels (the rows do not
      depend on their number).

    Under differential privacy: 100 epochs of expected batch 500 (``CTGANConfig.dp_defaults``),
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
    config_class: ClassVar[type[CTGANConfig]] = CTGANConfig
    default_epochs: ClassVar[int] = 300
    default_batch_size: ClassVar[int] = 500
    default_patience: ClassVar[int | None] = None

    # -- parameters -----------------------------------------------------------------------
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
    def _fit_threads(self) -> TorchThreads:
        """torch's intra-op threads while fitting: ``num_threads`` on any device (None: ``default_threads()``)."""
        return TorchThreads(self.model_params["num_threads"])

    def _trainer(self, frame: pl.DataFrame, *, train_rows: np.ndarray, val_rows: np.ndarray, private: bool) -> CTGANTrainer:
        """The trainer on the training rows; under DP on every row, with Poisson batches instead
        of training-by-sampling and conditions from the private category counts."""
        import torch

        from engine.models.ctgan.sampler import ConditionSampler, RowSampler

        device = torch.device(self.device_)
        if private:
            return self._private_trainer(frame, device)
        encoded = self.transformer_.transform(frame[train_rows])
        self._note_batch(len(encoded))
        spans = self.transformer_.condition_spans_
        self._build(device, counts=ConditionSampler.count_categories(encoded, spans), batch_rows=self._effective_batch(len(encoded)))
        val_encoded = self.transformer_.transform(frame[val_rows]) if len(val_rows) else None
        return CTGANTrainer(self, encoded=encoded, rows=RowSampler(encoded, spans, device=device), val_encoded=val_encoded)

    def _private_trainer(self, frame: pl.DataFrame, device: torch.device) -> CTGANTrainer:
        import torch

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
        row_codes = None
        if self._layout.n_conditions:  # each row's category in every condition column (its own condition)
            row_codes = torch.as_tensor(
                np.stack([encoded[:, c.start : c.start + c.size].argmax(axis=1) for c in spans], axis=1), device=device
            )
        return CTGANTrainer(self, encoded=encoded, rows=None, row_codes=row_codes)

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
        matrix = self._generate_encoded(n, generator=generator, fixed=fixed)
        # a seed for the faked columns only (see TVAE's _generate)
        seed = numpy_seed(generator) if self.transformer_.fakes_columns else None
        return self.transformer_.inverse_transform(matrix, seed=seed)

    def _generate_encoded(self, n: int, *, generator: torch.Generator, fixed: dict[str, Any] | None = None) -> np.ndarray:
        """``n`` generated rows in the transformer's float encoding, ready for ``inverse_transform``.

        The generator runs as in eval mode (BatchNorm on its running statistics, folded into
        the weights); one-hot blocks hold scores whose argmax is the drawn category. On CPU,
        ``num_threads`` workers (None: the CPUs this process may use) each generate whole chunks of rows (see
        ``generate``); the rows do not depend on the number of workers. The result is
        a view without the output layer's padding columns.
        """
        from engine.models.ctgan.generate import generate_encoded

        layout = self._layout
        target = self._fixed_category(fixed)
        threads = self.model_params["num_threads"]
        encoded = generate_encoded(
            n,
            folded=self._folded_generator(),
            layout=layout,
            conditions=lambda size: self._condition_index(size, generator=generator, target=target),
            generator=generator,
            fixed=target,
            chunk=_SAMPLE_CHUNK_GPU if layout.device.type == "cuda" else _SAMPLE_CHUNK_CPU,
            workers=threads if threads is not None else default_threads(),
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
        return self._layout.condition_position(column, category)

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


__all__ = ["CTGAN"]
