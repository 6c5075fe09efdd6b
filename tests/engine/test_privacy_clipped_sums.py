"""DP-SGD without per-row gradients: a network that computes each row's gradient norm exactly
lets DP-SGD clip by reweighting the loss. These tests hold the shortcut to the definition:
the norms are those of the per-row gradients ``torch.func`` computes, the reweighted
gradient is the sum of the clipped per-row gradients, and the noise is the same."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.models.argn.network import ARGNNetwork, visibility
from engine.privacy.dpsgd import clipped_gradient_sum, make_dp_optimizer, per_sample_gradients, secure_generator

VOCABS = [3, 7, 5, 4, 9]
COLUMN_OF = [0, 1, 1, 2, 3]  # column 1 has two sub-columns (a number's coarse and fine bins)
SHARED = [True, True, False, True, True]  # the fine sub-bin informs only its own column


class RowLoss(nn.Module):
    """An ARGN network under one column order, as DP-SGD sees it."""

    def __init__(self, net: ARGNNetwork, vis: torch.Tensor) -> None:
        super().__init__()
        self.net, self.vis = net, vis

    def forward(self, tokens: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.net.loss(tokens, self.vis, context).sum()

    def losses_and_gradient_norms(self, tokens: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.loss_and_gradient_norms(tokens, self.vis, context)


def _argn(depth: int, context_dim: int) -> tuple[RowLoss, tuple[torch.Tensor, ...]]:
    torch.manual_seed(depth * 10 + context_dim)
    net = ARGNNetwork(
        vocab_sizes=VOCABS, column_of=COLUMN_OF, embedding_dim=4, hidden_dim=6, depth=depth, dropout=0.0, context_dim=context_dim, shared=SHARED
    )
    if context_dim:
        nn.init.normal_(net.w_context)
    tokens = torch.stack([torch.randint(0, v, (13,)) for v in VOCABS], 1)
    rows = (tokens, torch.randn(13, context_dim)) if context_dim else (tokens,)
    return RowLoss(net, visibility([2, 0, 3, 1], COLUMN_OF, SHARED)), rows


def _per_row(module: RowLoss, rows: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
    params = {name: p.detach() for name, p in module.named_parameters()}
    return per_sample_gradients(module, params, rows)


@pytest.mark.parametrize(("depth", "context_dim"), [(1, 0), (3, 0), (2, 4)], ids=["one-layer", "three-layers", "with-context"])
def test_argn_gradient_norms_equal_the_norms_of_per_row_gradients(depth: int, context_dim: int) -> None:
    module, rows = _argn(depth, context_dim)
    expected = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in _per_row(module, rows).values()))
    losses, norms = module.losses_and_gradient_norms(*rows)
    assert torch.allclose(norms, expected, rtol=1e-5, atol=1e-6)
    assert torch.allclose(losses, module.net.loss(rows[0], module.vis, *rows[1:]))


def test_the_reweighted_gradient_is_the_sum_of_the_clipped_per_row_gradients() -> None:
    module, rows = _argn(2, 0)
    per_row = _per_row(module, rows)
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in per_row.values()))
    clip = float(norms.median())  # about half the rows are clipped
    assert (norms > clip).any() and (norms < clip).any()
    params = dict(module.named_parameters())
    clipped_gradient_sum(module, list(params.values()), rows, max_grad_norm=clip)
    factor = (clip / (norms + 1e-6)).clamp(max=1.0)
    for name, p in params.items():
        expected = (per_row[name] * factor.reshape(-1, *[1] * (per_row[name].dim() - 1))).sum(0)
        assert torch.allclose(p.grad, expected, rtol=1e-4, atol=1e-6), name


def test_an_empty_batch_gives_a_zero_sum_so_the_step_is_pure_noise() -> None:
    module, rows = _argn(1, 0)
    params = list(module.parameters())
    clipped_gradient_sum(module, params, (rows[0][:0],), max_grad_norm=1.0)
    assert all(p.grad is not None and not p.grad.any() for p in params)


def test_clipped_sums_get_noise_of_standard_deviation_noise_multiplier_times_clip_over_the_batch() -> None:
    sigma, clip, batch = 2.0, 0.5, 8
    param = nn.Parameter(torch.zeros(200_000))
    optimizer = make_dp_optimizer(
        torch.optim.SGD([param], lr=1.0), noise_multiplier=sigma, max_grad_norm=clip, expected_batch_size=batch, generator=secure_generator(), clipped_sums=True
    )
    param.grad = torch.zeros(200_000)
    optimizer.step()
    assert param.grad.numpy().std() == pytest.approx(sigma * clip / batch, rel=0.02)


def test_tvae_gradient_norms_equal_the_norms_of_per_row_gradients(monkeypatch: pytest.MonkeyPatch) -> None:
    import polars as pl

    from engine.models.tvae.model import TVAE
    from engine.models.tvae.trainer import RowLoss as _RowLoss

    rng = torch.Generator().manual_seed(0)
    frame = pl.DataFrame({"x": torch.randn(64, generator=rng).tolist(), "c": [["a", "b", "c"][i % 3] for i in range(64)]})
    model = TVAE(epochs=1, seed=0).fit(frame)
    module = _RowLoss(model)
    data = torch.from_numpy(model.transformer_.transform(frame[:9]))
    rows = (data, model._layout.targets(data))
    # the latent draw is the one thing the two computations would draw differently: fix it
    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)
    params = {name: p.detach() for name, p in module.named_parameters()}
    expected = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in per_sample_gradients(module, params, rows).values()))
    _, norms = module.losses_and_gradient_norms(*rows)
    assert torch.allclose(norms, expected, rtol=1e-4, atol=1e-6)


def test_a_linear_layer_used_twice_in_one_forward_is_refused() -> None:
    from engine.privacy.linear_norms import LinearNorms

    layer = nn.Linear(3, 3)
    with pytest.raises(RuntimeError, match="ran twice"), LinearNorms(layer):
        layer(layer(torch.randn(4, 3)))


def test_a_parameter_outside_the_linear_layers_must_be_measured_by_the_caller() -> None:
    from engine.privacy.linear_norms import LinearNorms

    module = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3))
    with pytest.raises(RuntimeError, match="outside nn.Linear"):
        LinearNorms(module)


class CriticByDefinition(nn.Module):
    """CTGAN's private critic loss as written in the paper: ``D(fake) - D(real)`` plus the
    gradient penalty, the input gradient taken by ``torch.func`` (the reference)."""

    def __init__(self, critic: nn.Sequential, penalty: float) -> None:
        super().__init__()
        self.critic, self.penalty = critic, penalty

    def forward(self, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        mixed = alpha * real + (1.0 - alpha) * fake
        grad = torch.func.grad(lambda x: self.critic(x).sum())(mixed)
        penalty = self.penalty * (grad.norm(2, dim=1) - 1.0) ** 2
        return (self.critic(fake) - self.critic(real)).squeeze(1) + penalty


def _critic(depth: int) -> tuple[nn.Module, CriticByDefinition, tuple[torch.Tensor, ...]]:
    from engine.models.ctgan.nets import build_critic
    from engine.models.ctgan.private import private_critic

    torch.manual_seed(depth)
    critic = build_critic(7, (6, 5, 4)[:depth], pac=1).eval()  # dropout off: both sides draw alike
    rows = (torch.randn(11, 7), torch.randn(11, 7), torch.rand(11, 1))
    return private_critic(critic, 10.0).eval(), CriticByDefinition(critic, 10.0).eval(), rows


@pytest.mark.parametrize("depth", [1, 2, 3], ids=["one-hidden", "two-hidden", "three-hidden"])
def test_ctgan_critic_gradient_norms_with_the_penalty_equal_the_norms_of_per_row_gradients(depth: int) -> None:
    module, reference, rows = _critic(depth)
    params = {name: p.detach() for name, p in reference.named_parameters()}
    per_row = per_sample_gradients(reference, params, rows)
    expected = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in per_row.values()))
    losses, norms = module.losses_and_gradient_norms(*rows)
    assert torch.allclose(norms, expected, rtol=1e-5, atol=1e-6)
    assert torch.allclose(losses, reference(*rows), atol=1e-5)


def test_ctgan_critic_reweighted_gradient_is_the_sum_of_clipped_per_row_gradients() -> None:
    module, reference, rows = _critic(2)
    params = {name: p.detach() for name, p in reference.named_parameters()}
    per_row = per_sample_gradients(reference, params, rows)
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in per_row.values()))
    clip = float(norms.median())
    named = dict(module.named_parameters())
    clipped_gradient_sum(module, list(named.values()), rows, max_grad_norm=clip)
    factor = (clip / (norms + 1e-6)).clamp(max=1.0)
    for name, g in per_row.items():
        expected = (g * factor.reshape(-1, *[1] * (g.dim() - 1))).sum(0)
        assert torch.allclose(named[name].grad, expected, rtol=1e-4, atol=1e-5), name


def test_a_critic_layer_the_norms_do_not_cover_is_refused() -> None:
    from engine.models.ctgan.private import private_critic

    with pytest.raises(TypeError, match="Linear, LeakyReLU and Dropout only"):
        private_critic(nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1)), 10.0)
