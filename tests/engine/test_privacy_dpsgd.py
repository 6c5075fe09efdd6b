"""DP-SGD's parts, checked the way Opacus checks its own: per-row gradients and clipping, the
noise level, Poisson batches and the stop at the planned steps, layers Opacus cannot train,
and a checkpoint that carries the accountant's state through a resumed run."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from torch import nn

from engine.errors import ConfigError
from engine.models.base import Progress
from engine.models.registry import model_class
from engine.privacy import Privacy
from engine.privacy.dpsgd import DPSGD, check_module, make_dp_optimizer, per_sample_gradients, secure_generator
from engine.privacy.run import PrivateRun, accountant_epsilon
from tests.engine.test_models_contract import read_adult


class SquaredError(nn.Module):
    """A linear model's summed squared error: per-row gradients known in closed form."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((self.linear(x)[:, 0] - y) ** 2).sum()


def test_per_row_gradients_equal_each_rows_own_gradient() -> None:
    torch.manual_seed(0)
    module, x, y = SquaredError(), torch.randn(6, 3), torch.randn(6)
    params = {name: p.detach() for name, p in module.named_parameters()}
    grads = per_sample_gradients(module, params, (x, y))
    for i in range(6):
        module.zero_grad()
        module(x[i : i + 1], y[i : i + 1]).backward()
        assert torch.allclose(grads["linear.weight"][i], module.linear.weight.grad, atol=1e-6)
        assert torch.allclose(grads["linear.bias"][i], module.linear.bias.grad, atol=1e-6)


def test_each_rows_gradient_is_clipped_to_the_max_grad_norm_before_summing() -> None:
    param = nn.Parameter(torch.zeros(4))
    optimizer = make_dp_optimizer(torch.optim.SGD([param], lr=1.0), noise_multiplier=0.0, max_grad_norm=1.0, expected_batch_size=3, generator=None)
    rows = torch.tensor([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.3, 0.4], [0.0, 10.0, 0.0, 0.0]])  # norms 5, 0.5, 10
    param.grad_sample = rows
    optimizer.step()
    expected = (rows[0] / 5 + rows[1] + rows[2] / 10) / 3
    assert torch.allclose(param.grad, expected, atol=1e-5)


def test_the_noise_has_standard_deviation_noise_multiplier_times_clip_over_the_batch() -> None:
    sigma, clip, batch = 2.0, 0.5, 8
    param = nn.Parameter(torch.zeros(200_000))
    optimizer = make_dp_optimizer(torch.optim.SGD([param], lr=1.0), noise_multiplier=sigma, max_grad_norm=clip, expected_batch_size=batch, generator=secure_generator())
    param.grad_sample = torch.zeros(batch, 200_000)
    optimizer.step()
    noise = param.grad.numpy()
    assert noise.std() == pytest.approx(sigma * clip / batch, rel=0.02)
    assert abs(noise.mean()) < 4 * sigma * clip / batch / np.sqrt(noise.size)


def test_the_noise_does_not_follow_the_user_seed() -> None:
    draws = []
    for _ in range(2):
        torch.manual_seed(0)
        param = nn.Parameter(torch.zeros(100))
        optimizer = make_dp_optimizer(torch.optim.SGD([param], lr=1.0), noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=1, generator=secure_generator())
        param.grad_sample = torch.zeros(1, 100)
        optimizer.step()
        draws.append(param.grad.clone())
    assert not torch.equal(draws[0], draws[1])


def test_batches_are_poisson_sampled_and_training_stops_at_the_planned_steps() -> None:
    run = PrivateRun(Privacy(epsilon=5.0, physical_batch_size=16), n_rows=400)
    module = SquaredError()
    x, y = torch.randn(400, 3), torch.randn(400)
    dp = DPSGD(run=run, loss_module=module, optimizer=torch.optim.SGD(module.parameters(), lr=0.01), n_rows=400, batch_size=40, epochs=2, device="cpu")
    assert (dp.sample_rate, dp.steps_per_epoch, dp.planned_steps) == (0.1, 10, 20)
    logical, physical, sizes, size, seeds = 0, 0, [], 0, []
    for _ in range(3):  # a third epoch is not run: the plan is spent
        for batch in dp.batches():
            rows = batch.rows
            assert len(rows) <= 16  # BatchMemoryManager keeps physical batches small
            if batch.first:
                seeds.append(batch.seed)
            physical += 1
            size += len(rows)
            if dp.step(x[rows], y[rows]):
                logical += 1
                sizes.append(size)
                size = 0
            if dp.exhausted:
                break
    assert logical == dp.steps_done == 20 and dp.exhausted
    assert physical > logical and len(set(sizes)) > 1  # split, and of varying (Poisson) size
    assert len(seeds) == len(set(seeds)) == 20  # each logical step starts from its own public seed
    assert run.epsilon_spent() <= 5.0
    assert run.history == [(dp.noise_multiplier, 0.1, 20)]


def test_a_run_resumed_in_mid_epoch_stops_at_the_planned_steps_without_the_caller_checking() -> None:
    run = PrivateRun(Privacy(epsilon=5.0), n_rows=400)
    x, y = torch.randn(400, 3), torch.randn(400)

    def dpsgd() -> DPSGD:
        module = SquaredError()
        optimizer = torch.optim.SGD(module.parameters(), lr=0.01)
        return DPSGD(run=run, loss_module=module, optimizer=optimizer, n_rows=400, batch_size=40, epochs=2, device="cpu")

    first = dpsgd()
    while first.steps_done < 15:  # an attempt interrupted in mid-epoch, after 15 of the 20 planned steps
        for batch in first.batches():
            first.step(x[batch.rows], y[batch.rows])
            if first.steps_done == 15:
                break
    resumed = dpsgd()
    assert resumed.noise_multiplier == first.noise_multiplier and resumed.steps_done == 15
    for _ in range(2):  # whole epochs of 10 steps, the loop never asks whether the plan is spent
        for batch in resumed.batches():
            resumed.step(x[batch.rows], y[batch.rows])
    assert resumed.steps_done == 20
    assert run.history == [(first.noise_multiplier, 0.1, 20)]
    assert run.epsilon_spent() <= 5.0


def test_layers_opacus_cannot_train_privately_are_refused_by_name() -> None:
    check_module(nn.Sequential(nn.Linear(4, 8), nn.GroupNorm(2, 8), nn.ReLU()))
    with pytest.raises(ConfigError, match="BatchNorm"):
        check_module(nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU()))


class Interrupt(Exception):
    pass


def test_a_checkpoint_carries_the_accountant_through_a_resumed_run(datasets: Path, tmp_path: Path) -> None:
    data = read_adult(datasets / "adult.csv", rows=600, seed=2)
    settings = {
        "epochs": 3,
        "batch_size": 200,
        "seed": 4,
        "device": "cpu",
        "compress_dims": (16,),
        "decompress_dims": (16,),
        "embedding_dim": 8,
        "privacy": Privacy(epsilon=4.0, delta=1e-4),
    }

    def stop_in_last_epoch(p: Progress) -> None:
        if p.epoch == 3:
            raise Interrupt

    tvae = model_class("tvae")
    with pytest.raises(Interrupt):
        tvae(**settings, on_progress=stop_in_last_epoch, checkpoint_dir=tmp_path).fit(data)
    with zipfile.ZipFile(tmp_path / "checkpoint.zip") as archive:
        saved = json.loads(archive.read("model.json"))["checkpoint"]["privacy"]
    assert sum(steps for _, rate, steps in saved["history"] if rate < 1) == 2 * 3  # two epochs of three steps
    resumed = tvae(**settings, checkpoint_dir=tmp_path).fit(data, resume=True)
    report = resumed.privacy_report_
    assert report["steps"] == 9
    assert [m["name"] for m in report["mechanisms"]] == [m["name"] for m in saved["mechanisms"]]  # nothing measured twice
    assert report["epsilon"] == pytest.approx(
        accountant_epsilon(report["history"], delta=report["accountant_delta"], accountant="rdp"), rel=1e-9
    )
    assert report["epsilon"] <= 4.0
    assert resumed.sample(20, seed=1).equals(resumed.sample(20, seed=1))
    assert isinstance(resumed.sample(5), pl.DataFrame)


def test_the_rdp_epsilon_is_exactly_what_opacus_rdp_accountant_gives() -> None:
    # accountant_epsilon keeps one step's RDP per (noise, rate); the result must not move a bit.
    from opacus.accountants import RDPAccountant

    from engine.privacy.run import rdp_orders

    history = [(2.5, 1.0, 1), (0.9, 0.02, 300), (3.0, 1.0, 2), (0.9, 0.02, 120), (1.7, 0.3, 7)]
    reference = RDPAccountant()
    reference.history = list(history)
    for delta in (1e-5, 1e-7):
        expected = reference.get_epsilon(delta=delta, alphas=rdp_orders())
        assert accountant_epsilon(history, delta=delta, accountant="rdp") == expected
        assert accountant_epsilon(history, delta=delta, accountant="rdp") == expected  # cached entries


def test_dp_sgd_noise_is_searched_within_the_target_and_refused_once_it_is_spent() -> None:
    run = PrivateRun(Privacy(epsilon=2.0, delta=1e-5), 1_000)
    run.spend_gaussian("histograms", rho=0.01, share=0.1)
    sigma = run.sgd_noise(sample_rate=0.5, steps=4)
    spent = accountant_epsilon([*run.history, (sigma, 0.5, 4)], delta=1e-5, accountant="rdp")
    assert 0.99 * 2.0 <= spent <= 2.0  # the smallest noise within 1 % of the target
    assert accountant_epsilon([*run.history, (sigma * 0.98, 0.5, 4)], delta=1e-5, accountant="rdp") > 2.0

    spent_run = PrivateRun(Privacy(epsilon=2.0, delta=1e-5), 1_000)
    spent_run.spend_gaussian("histograms", rho=2.0, share=1.0)
    with pytest.raises(ConfigError, match="exhausted before DP-SGD can take 10 steps"):
        spent_run.sgd_noise(sample_rate=0.01, steps=10)
