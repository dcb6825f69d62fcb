"""eventsim's own .npz / .h5 event files: round trips and validation on read."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.errors import InputFormatError
from eventsim.events import detect_format, read_events, read_info, stream_events, write_events
from eventsim.events.dtype import EVENT_DTYPE, make_events


def random_events(n, seed, sensor=(640, 480)):
    rng = np.random.default_rng(seed)
    return make_events(rng.integers(-(2**40), 2**60, n), rng.integers(0, sensor[0], n),
                       rng.integers(0, sensor[1], n), rng.integers(0, 2, n))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 5000), seed=st.integers(0, 2**32 - 1), ext=st.sampled_from([".npz", ".h5"]),
       chunk=st.integers(1, 6000))
def test_round_trip(tmp_path_factory, n, seed, ext, chunk):
    ev = random_events(n, seed)  # any order, any int64 time: stored as given
    path = tmp_path_factory.mktemp("nat") / f"e{ext}"
    write_events(path, ev, (640, 480), camera="cam")
    back, sensor = read_events(path)
    assert sensor == (640, 480) and back.dtype == EVENT_DTYPE and np.array_equal(back, ev)
    parts = list(stream_events(path, chunk=chunk))
    assert all(0 < len(p) <= chunk for p in parts)
    assert np.array_equal(np.concatenate(parts) if parts else back[:0], ev)
    info = read_info(path)
    assert info.metadata["camera"] == "cam" and info.metadata["events"] == n
    assert detect_format(path) == ext[1:]


def test_npz_validation(tmp_path):
    ev = random_events(10, 1)
    p = tmp_path / "a.npz"
    good = {"t": ev["t"], "x": ev["x"], "y": ev["y"], "p": ev["p"], "sensor": np.array([640, 480])}
    np.savez(p, **{**good, "x": ev["x"].astype(np.int32)})
    with pytest.raises(InputFormatError, match="'x' has dtype int32"):
        read_events(p)
    np.savez(p, **{**good, "p": ev["p"][:5]})
    with pytest.raises(InputFormatError, match="differ in length"):
        read_events(p)
    np.savez(p, **{k: v for k, v in good.items() if k != "sensor"})
    with pytest.raises(InputFormatError, match="sensor"):
        read_events(p)
    np.savez(p, **{k: v for k, v in good.items() if k != "y"})
    with pytest.raises(InputFormatError, match="lacks the array 'y'"):
        read_events(p)
    np.savez(p, **{**good, "sensor": np.array([0, 5])})
    with pytest.raises(InputFormatError, match="sensor"):
        read_events(p)


def test_h5_validation(tmp_path):
    p = tmp_path / "a.h5"
    write_events(p, random_events(10, 2), (640, 480))
    with h5py.File(p, "a") as f:
        del f["events/p"]
        f["events/p"] = np.zeros(10, dtype=np.float32)
    with pytest.raises(InputFormatError, match="/events/p has dtype float32"):
        read_events(p)
    with h5py.File(p, "a") as f:
        del f["events/p"]
        f["events/p"] = np.zeros(3, dtype=np.uint8)
    with pytest.raises(InputFormatError, match="differ in length"):
        read_events(p)
    with h5py.File(p, "a") as f:
        f["events"].attrs["sensor"] = [1, 2, 3]
    with pytest.raises(InputFormatError, match="sensor"):
        read_info(p)


def test_other_hdf5_is_not_an_event_file(tmp_path):
    p = tmp_path / "model.h5"
    with h5py.File(p, "w") as f:
        f.attrs["format"] = "eventsim-model"
        f.create_group("populations")
    with pytest.raises(InputFormatError, match="unknown event file format"):
        read_events(p)


def test_other_npz_is_not_an_event_file(tmp_path):
    p = tmp_path / "w.npz"
    np.savez(p, weights=np.zeros(3))
    with pytest.raises(InputFormatError, match="unknown event file format"):
        read_events(p)
