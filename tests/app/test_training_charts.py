"""The loss chart: losses on the loss axis, the learning rate on a second axis of its own."""

from __future__ import annotations

from app.components.training_charts import loss_figure

HISTORY = [{"epoch": e, "loss": 3.0 / e, "val_loss": 3.3 / e, "learning_rate": 1e-3 * 0.5 ** e} for e in range(1, 6)]


def test_the_learning_rate_is_drawn_on_a_second_axis_and_the_losses_on_their_own():
    figure = loss_figure(HISTORY)
    axis_of = {trace.name: trace.yaxis for trace in figure.data}
    assert axis_of == {"loss": "y", "val_loss": "y", "learning rate": "y2"}
    assert figure.layout.yaxis.title.text == "loss"
    assert figure.layout.yaxis2.title.text == "learning rate" and figure.layout.yaxis2.overlaying == "y"
    assert figure.layout.yaxis2.side == "right"


def test_a_history_without_a_learning_rate_has_one_axis():
    figure = loss_figure([{k: v for k, v in row.items() if k != "learning_rate"} for row in HISTORY])
    assert {trace.yaxis for trace in figure.data} == {"y"} and "yaxis2" not in figure.to_dict()["layout"]


def test_mst_rounds_are_not_called_epochs():
    figure = loss_figure([{"epoch": 1, "mismatch": 0.2}, {"epoch": 2, "mismatch": 0.1}], x_title="estimation round")
    assert figure.layout.xaxis.title.text == "estimation round"
