"""Binning from the stream (issue 18): the same BinnedEvents as ``bin_events`` on the whole file,
for every format, binning method and spatial option, whatever the chunking; and ``prepare_file``
(what ``eventsim run`` / ``eval`` do) gives the same result as running the whole array."""

from __future__ import annotations

import numpy as np
import pytest

import eventsim.events.binstream as binstream
from eventsim.engine.simulator import Simulator
from eventsim.events.binning import bin_events
from eventsim.events.binstream import Replay, bin_file, bin_stream, stream_stats
from eventsim.events.dtype import make_events
from eventsim.events.io import read_events, read_info, write_events
from eventsim.events.sensor import extent, resolve_sensor
from eventsim.inputs import InputOptions, prepare_file
from eventsim.network.h5io import load_model
from tests.hostile.sandbox import ROOT

DEMO_MODEL = ROOT / "eventsim" / "data" / "demo_model.h5"  # 2x34x34 event input, T = 4
SHARED = ["aedat2/neal_walking.aedat", "aedat4/dvSave-2024_06_20_16_13_00.aedat4",
          "aedat4/event-vision-library_sample.aedat4", "prophesee/faery_evt2.raw",
          "prophesee/expelliarmus_evt3_sample.raw", "prophesee/tonic_sample_ncars.dat",
          "nmnist/sample_nmnist.bin", "ncaltech101/faces_easy_0001.bin"]
# (options of bin_events); shape (2, 32, 32) or (1, 32, 32) by polarity
CONFIGS = [
    dict(timesteps=5, downscale="sum"),  # equal time split
    dict(timesteps=7, method="count", polarity="signed", downscale="nearest"),
    dict(bin_us=1 / 6.5, downscale="sum"),  # windows (a fraction of the span), last partial dropped
    dict(bin_us=1 / 6, keep_partial=True, crop="centre", downscale="nearest"),
    dict(bin_us=1 / 20, timesteps=4, downscale="nearest"),  # only the first 4 windows
]


def _same(a, b) -> None:
    fields = ("timesteps", "shape", "dropped", "outside_map")
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    for name in ("ptr", "index", "sign"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name


def _whole_and_streamed(path, chunk, **options):
    events, stated = read_events(path)
    if "bin_us" in options:  # given as a fraction of the recording's span
        options["bin_us"] = max(1, int((int(events["t"].max()) - int(events["t"].min())) * options["bin_us"]))
    sensor = resolve_sensor(stated, extent(events))[0]
    if options.get("crop") == "centre":
        options["crop"] = (sensor[0] // 4, sensor[1] // 4, sensor[0] // 2 + 1, sensor[1] // 2 + 1)
    shape = (1 if options.get("polarity") == "signed" else 2, 32, 32)
    streamed = bin_file(str(path), sensor, shape, chunk=chunk, **options)
    return bin_events(events, sensor, shape, **options), streamed


def _written(tmp_path) -> list:
    """Writable formats, with timestamps that go backwards (the count binning's hard case)."""
    rng = np.random.default_rng(18)
    n = 30_000
    t = np.sort(rng.integers(0, 2_000_000, n)) + rng.integers(-300, 300, n) * (rng.random(n) < 0.2)
    ev = make_events(t, rng.integers(0, 64, n), rng.integers(0, 48, n), rng.integers(0, 2, n))
    paths = []
    for name, meta in (("a.npz", {}), ("a.h5", {}), ("z.aedat4", {"compression": "zstd"}),
                       ("n.aedat4", {"compression": "none"}), ("a.aedat3", {})):
        write_events(tmp_path / name, ev if name != "a.aedat3" else ev[np.argsort(ev["t"], kind="stable")],
                     (64, 48), **meta)
        paths.append(tmp_path / name)
    return paths


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_streamed_equals_whole_on_every_format(shared_data, tmp_path, config):
    for path in [shared_data / p for p in SHARED] + _written(tmp_path):
        whole, streamed = _whole_and_streamed(path, 4093, **dict(config))
        _same(whole, streamed)
        assert whole.count > 0, path  # the comparison is not between two empty results


def test_out_of_order_count_boundaries_need_several_passes(tmp_path, monkeypatch):
    # a histogram of 4 counters per pass: many refinement passes, ties at the boundaries
    monkeypatch.setattr(binstream, "_HIST_BUDGET", 4)
    rng = np.random.default_rng(5)
    t = rng.integers(0, 50, 4000)  # 50 distinct times in random order: every boundary is a tie
    ev = make_events(t, rng.integers(0, 34, 4000), rng.integers(0, 34, 4000), rng.integers(0, 2, 4000))
    write_events(tmp_path / "o.npz", ev, (34, 34))
    for steps in (1, 2, 3, 16, 4001):
        ref = bin_events(ev, (34, 34), (2, 34, 34), timesteps=steps, method="count")
        _same(ref, bin_file(str(tmp_path / "o.npz"), (34, 34), (2, 34, 34), chunk=333, timesteps=steps,
                            method="count"))


def _random_case(rng):
    n = int(rng.integers(0, 300))
    tmax = int(rng.choice([5, 100, 10**6, 2**62]))
    t = rng.integers(-tmax if rng.random() < 0.2 else 0, tmax, n)
    if rng.random() < 0.5:
        t = np.sort(t)
    ev = make_events(t, rng.integers(0, 40, n), rng.integers(0, 30, n), rng.integers(0, 2, n))
    method = str(rng.choice(["window", "time", "count"]))
    options = dict(polarity=str(rng.choice(["split", "signed"])), method=method,
                   keep_partial=bool(rng.random() < 0.5), downscale=str(rng.choice(["nearest", "sum"])),
                   crop=(2, 3, 30, 20) if rng.random() < 0.3 else None,
                   timesteps=int(rng.integers(1, 12)) if method != "window" or rng.random() < 0.5 else None)
    if method == "window":
        options["bin_us"] = int(rng.choice([1, 7, 1000, 10**5, 2**61]))
    return ev, options


def _outcome(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the two paths must fail alike, with one message
        return exc


def _streamed(ev, chunk, shape, options):
    chunks = Replay(lambda: (ev[i:i + chunk] for i in range(0, len(ev), chunk)), keep_events=0)
    return bin_stream(chunks, stream_stats(chunks, "x"), (40, 30), shape, **options)


@pytest.mark.parametrize("seed", range(4))
def test_random_streams_match_bin_events(seed, monkeypatch):
    """Seeded: any int64 times (sorted or not, ties, huge spans), every method and option, chunks
    of 1..1000 events; errors (too many steps, ...) must be the same error."""
    monkeypatch.setattr(binstream, "_HIST_BUDGET", 64 if seed % 2 else 1 << 20)
    rng = np.random.default_rng(seed)
    for _ in range(25):
        ev, options = _random_case(rng)
        shape = (2 if options["polarity"] == "split" else 1, 16, 16)
        ref = _outcome(bin_events, ev, (40, 30), shape, **options)
        for chunk in (1 if len(ev) < 60 else 3, 7, 1000):
            got = _outcome(_streamed, ev, chunk, shape, options)
            if isinstance(ref, Exception) or isinstance(got, Exception):
                assert (type(got), str(got)) == (type(ref), str(ref)), options
            else:
                _same(ref, got)


def test_replay_decodes_a_short_stream_once():
    opened = []

    def source():
        opened.append(1)
        return iter([np.arange(3), np.arange(4)])

    short = Replay(source, keep_events=10)
    assert [len(c) for c in short] == [3, 4] and [len(c) for c in short] == [3, 4]
    assert len(opened) == 1
    opened.clear()
    long = Replay(source, keep_events=5)  # 7 events do not fit: opened again for every pass
    assert [len(c) for c in long] == [3, 4] and [len(c) for c in long] == [3, 4]
    assert len(opened) == 2


def test_a_file_that_changes_between_passes_is_an_error(tmp_path):
    ev = make_events(np.arange(10), np.zeros(10), np.zeros(10), np.ones(10))
    chunks = [ev, ev[:5]]  # the second pass sees fewer events
    stats = stream_stats([chunks[0]], "f")
    with pytest.raises(Exception, match="changed while it was read"):
        bin_stream([chunks[1]], stats, (34, 34), (2, 34, 34), timesteps=2)


@pytest.mark.parametrize("name, options", [
    ("aedat4/tonic_sample.aedat4", InputOptions(downscale="sum")),
    ("prophesee/expelliarmus_evt3_sample.raw",
     InputOptions(bin_us=50_000, timesteps=3, crop=(600, 300, 68, 68), downscale="nearest")),
    ("nmnist/sample_nmnist.bin", InputOptions(timesteps=6, method="count", polarity="split")),
    ("aedat2/neal_walking.aedat", InputOptions(bin_us=100_000, keep_partial=True, downscale="sum")),
])
def test_run_file_equals_running_the_whole_array(shared_data, name, options):
    sim = Simulator(load_model(DEMO_MODEL))
    path = str(shared_data / name)
    streamed = sim.run_prepared(prepare_file(path, sim.network, options), record=True)
    whole = sim.run(read_events(path), options.timesteps, options.bin_us, method=options.method,
                    keep_partial=options.keep_partial, polarity=options.polarity, crop=options.crop,
                    downscale=options.downscale, record=True,
                    input_info={"path": path, "format": read_info(path).format})
    assert streamed.input_info == whole.input_info
    assert np.array_equal(streamed.output, whole.output)
    assert streamed.layers == whole.layers and streamed.totals == whole.totals
    assert all(np.array_equal(streamed.spikes[k], whole.spikes[k]) for k in whole.spikes)
    assert whole.input_info["events"] > 0 and sum(lay["sops"] for lay in whole.layers) > 0


@pytest.mark.parametrize("seed", range(6))
def test_frame_counts_are_the_time_binning_counted_per_pixel(seed):
    """``frame_counts`` (``eventsim events show``) counts what ``bin_events`` delivers with the
    equal time split and split polarity, per step and pixel; a k x k block sums its pixels."""
    rng = np.random.default_rng(seed)
    n, bins = int(rng.integers(1, 3000)), 1 + seed
    sensor = (int(rng.integers(1, 50)), int(rng.integers(1, 40)))
    t = int(rng.choice([0, -2**62, 2**62])) + rng.integers(0, int(rng.choice([1, 10**6, 2**40])), n)
    ev = make_events(t, rng.integers(0, sensor[0] + 4, n), rng.integers(0, sensor[1] + 4, n),
                     rng.integers(0, 2, n))
    chunks = Replay(lambda: (ev[i:i + 97] for i in range(0, n, 97)))
    stats = stream_stats(chunks, "test")
    pos, _ = bin_events(ev, sensor, (2, sensor[1], sensor[0]), timesteps=bins, method="time").dense()
    assert np.array_equal(binstream.frame_counts(chunks, stats, sensor, bins), pos)
    k = 1 << int(rng.integers(1, 4))
    h, w = -(-sensor[1] // k), -(-sensor[0] // k)
    padded = np.zeros((bins, 2, h * k, w * k), np.int64)
    padded[..., :sensor[1], :sensor[0]] = pos
    blocks = padded.reshape(bins, 2, h, k, w, k).sum(axis=(3, 5))
    assert np.array_equal(binstream.frame_counts(chunks, stats, sensor, bins, block=k), blocks)


def _cells(sensor, bins, side):
    return bins * 2 * -(-sensor[0] // side) * -(-sensor[1] // side)


@pytest.mark.parametrize("sensor, bins", [((34, 34), 64), ((65535, 65535), 64), ((1280, 720), 64),
                                          ((4096, 1), 1)])
def test_frame_block_is_the_smallest_under_the_cap(sensor, bins):
    k = binstream.frame_block(sensor, bins)
    assert _cells(sensor, bins, k) <= binstream.MAX_FRAME_CELLS
    assert k == 1 or _cells(sensor, bins, k // 2) > binstream.MAX_FRAME_CELLS
