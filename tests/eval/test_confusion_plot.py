"""The eval figure's confusion matrix names every class and prints the count in every non-empty cell."""

from __future__ import annotations

import pytest

from eventsim.eval.render import _confusion_axes


def test_every_class_is_labelled_and_counts_are_in_the_cells():
    figure = pytest.importorskip("matplotlib.figure")
    fig = figure.Figure()
    ax = fig.subplots()
    conf = {"labels": ["cat", "dog", "emu"], "matrix": [[5, 1, 0], [0, 7, 2], [3, 0, 4]]}
    _confusion_axes(fig, ax, conf)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "emu"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "emu"]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert cells == {(0, 0): "5", (0, 1): "1", (1, 1): "7", (1, 2): "2", (2, 0): "3", (2, 2): "4"}
    # the darkest cells get white text
    assert {t.get_text(): t.get_color() for t in ax.texts}["7"] == "white"
    assert {t.get_text(): t.get_color() for t in ax.texts}["1"] == "black"
