"""The moving average of weights that ARGN keeps (engine.models.weight_average)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.models.weight_average import WeightAverage


def _net(value: float) -> nn.Linear:
    net = nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.fill_(value)
        net.bias.fill_(value)
    return net


def test_the_average_trails_the_weights_by_the_warmed_up_decay() -> None:
    net = _net(0.0)
    average = WeightAverage(net, decay=0.9)
    expected = 0.0
    for step in range(1, 30):
        with torch.no_grad():
            net.weight.fill_(float(step))
        average.update()
        decay = min(0.9, (1 + step) / (10 + step))
        expected = decay * expected + (1 - decay) * step
    assert average.average.weight.detach().flatten().tolist() == pytest.approx([expected, expected])
    assert average.average.bias.item() == pytest.approx(0.0)  # the bias never moved
    assert net.weight[0, 0].item() == 29.0  # the network itself is untouched


def test_the_average_is_not_trained() -> None:
    average = WeightAverage(_net(1.0), decay=0.99)
    assert not any(p.requires_grad for p in average.average.parameters())


def test_a_state_round_trip_continues_the_same_average() -> None:
    net = _net(1.0)
    first = WeightAverage(net, decay=0.95)
    for _ in range(5):
        with torch.no_grad():
            net.weight.add_(1.0)
        first.update()
    second = WeightAverage(net, decay=0.95)  # as a resumed run builds it, from the restored network
    second.load_state(first.state())
    first.update()
    second.update()
    torch.testing.assert_close(first.average.weight, second.average.weight)
    assert second.steps == first.steps == 6


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_a_decay_outside_the_open_unit_interval_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match=r"decay must be in \(0, 1\)"):
        WeightAverage(_net(0.0), decay=decay)
