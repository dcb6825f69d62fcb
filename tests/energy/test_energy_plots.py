"""The figure is written as PNG / SVG, refuses other extensions, and says how to get matplotlib."""

import sys

import numpy as np
import pytest

from eventsim.energy.plots import save_plot
from eventsim.energy.report import build_report
from eventsim.errors import ConfigError
from tests.energy.test_energy_report import event_inputs, event_net
from tests.energy.wrap import reference_run

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def doc():
    return build_report(reference_run(event_net(), event_inputs()))


def test_png_and_svg(tmp_path, doc):
    save_plot(doc, tmp_path / "layers.png")
    assert (tmp_path / "layers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    save_plot(doc, tmp_path / "layers.svg")
    svg = (tmp_path / "layers.svg").read_text()
    assert "<svg" in svg and "spike rate" in svg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layers.png", "layers.svg"]  # no temp files


def test_no_spikes_still_plots(tmp_path):
    doc = build_report(reference_run(event_net(), np.zeros((2, 2, 1, 3))))
    save_plot(doc, tmp_path / "empty.png")
    assert (tmp_path / "empty.png").stat().st_size > 0


def test_bad_extension(tmp_path, doc):
    with pytest.raises(ConfigError, match=r"plot file must end in \.png, \.svg, \.pdf"):
        save_plot(doc, tmp_path / "layers.jpg")
    assert not list(tmp_path.iterdir())


def test_missing_matplotlib_message(tmp_path, doc, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now fails
    with pytest.raises(ConfigError, match=r"pip install 'eventsim\[plot\]'"):
        save_plot(doc, tmp_path / "layers.png")


def test_plot_file_has_the_usual_permissions(tmp_path, doc):
    import os

    umask = os.umask(0o022)
    try:
        save_plot(doc, tmp_path / "p.svg")
    finally:
        os.umask(umask)
    assert (tmp_path / "p.svg").stat().st_mode & 0o777 == 0o644
