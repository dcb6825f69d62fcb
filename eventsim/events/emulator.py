"""A DVS emulator: still images -> event streams, the way N-MNIST was recorded.

N-MNIST (Orchard et al., Front. Neurosci. 2015) was recorded by an ATIS sensor on a pan-tilt
unit looking at MNIST digits on a monitor: the sensor made three ~100 ms micro-saccades along
an isosceles triangle, so each 28x28 digit sweeps across a 34x34 pixel window and every edge
it passes produces ON/OFF events. This module reproduces that recording set-up:

- motion: the image, placed on the sensor at offset ``(dx, dy)`` (pixels, sub-pixel accurate
  via bilinear sampling), moves along the triangle ``(0,0) -> (3,6) -> (6,0) -> (0,0)`` with a
  raised-cosine velocity profile per saccade (slow at the corners, fast in the middle, as the
  event rate of real N-MNIST recordings shows);
- pixel: log intensity ``L = log(background + I)`` with ``I`` in [0, 1] (``background`` is the
  monitor's black level); a pixel emits ON when ``L`` rises by its threshold above the level
  memorised at its last event, OFF when it falls by its threshold below it, and memorises
  the crossed level; several crossings in one frame step give several events;
- timing: ``L`` is rendered every ``frame_us`` and linearly interpolated in between, so each
  crossing gets its own microsecond timestamp inside the step;
- non-idealities: per-pixel threshold mismatch (Gaussian, relative sigma, fixed per
  ``sensor_seed`` - the same camera recorded every digit), a random initial memorised level
  per recording, a refractory period (a crossing within ``refractory_us`` of the pixel's last
  event is lost: the level is still memorised, no event is emitted), and optional shot noise
  (Poisson per pixel, random polarity).

Every random draw comes from ``numpy.random.default_rng`` seeded by ``(seed, index)``, so
recording ``index`` of a batch is the same whatever else is in the batch. A static image
(``motion=False``) gives no events except shot noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputFormatError
from ..jit import kernel
from .dtype import EVENT_DTYPE
from .frames import MAX_PIXELS, frame_kind, read_npy, read_png

_BT601 = np.array([0.299, 0.587, 0.114])  # RGB -> luminance weights (ITU-R BT.601)
#: Saccade corners (dx, dy) in pixels: an isosceles triangle spanning 6 px in x and y, so a
#: 28x28 digit fills a 34x34 sensor.
NMNIST_TRIANGLE = ((0.0, 0.0), (3.0, 6.0), (6.0, 0.0))


@dataclass(frozen=True)
class EmulatorConfig:
    """Parameters of the emulated recording set-up (defaults: N-MNIST-like)."""

    sensor: tuple[int, int] = (34, 34)  # (width, height) of the sensor in pixels
    corners: tuple[tuple[float, float], ...] = NMNIST_TRIANGLE  # saccade path, closed loop
    saccade_us: int = 100_000  # duration of one saccade (N-MNIST: ~100 ms, 3 per digit)
    frame_us: int = 2000  # rendering step; crossings are interpolated inside it
    threshold: float = 0.4  # nominal contrast threshold (log units), ON and OFF
    threshold_sigma: float = 0.05  # relative per-pixel threshold mismatch (Gaussian sigma)
    refractory_us: int = 1000  # dead time after an event at a pixel
    background: float = 0.15  # monitor black level, relative to white = 1
    shot_noise_hz: float = 0.0  # noise events per pixel per second (0: none)
    sensor_seed: int = 0  # fixes the threshold mismatch map (one camera)

    def __post_init__(self) -> None:
        w, h = self.sensor
        if w < 1 or h < 1:
            raise InputFormatError(f"emulator: sensor must be positive (width, height), got {self.sensor}")
        if self.saccade_us < 1 or self.frame_us < 1 or self.refractory_us < 0:
            raise InputFormatError("emulator: saccade_us and frame_us must be >= 1, refractory_us >= 0")
        if not self.threshold > 0 or self.threshold_sigma < 0:
            raise InputFormatError("emulator: threshold must be > 0 and threshold_sigma >= 0")
        if not self.background > 0 or self.shot_noise_hz < 0:
            raise InputFormatError("emulator: background must be > 0 and shot_noise_hz >= 0")
        if len(self.corners) < 1:
            raise InputFormatError("emulator: corners must hold at least one (dx, dy) point")

    @property
    def duration_us(self) -> int:
        """Length of one recording: one saccade per corner of the closed path."""
        return self.saccade_us * len(self.corners)


# --------------------------------------------------------------------------------------------
# Numba kernels: array-in / array-out, no Python objects.


@kernel
def _render(padded, dx, dy, height, width, background, out):
    """Log intensity seen by each sensor pixel with the image's top-left corner at (dx, dy).

    ``padded`` is the image with a one-pixel black border. Pixel (u, v) samples the image at
    (u - dx, v - dy) bilinearly; the offset is the same for every pixel, so the weights are
    too. Outside the image the monitor is black.
    """
    ih = padded.shape[0] - 2
    iw = padded.shape[1] - 2
    log_black = np.log(background)
    ox = int(np.floor(-dx))
    oy = int(np.floor(-dy))
    fx = -dx - ox
    fy = -dy - oy
    w00 = (1.0 - fy) * (1.0 - fx)
    w01 = (1.0 - fy) * fx
    w10 = fy * (1.0 - fx)
    w11 = fy * fx
    for v in range(height):
        y0 = v + oy
        for u in range(width):
            x0 = u + ox
            if y0 < -1 or y0 >= ih or x0 < -1 or x0 >= iw:
                out[v, u] = log_black
                continue
            acc = (w00 * padded[y0 + 1, x0 + 1] + w01 * padded[y0 + 1, x0 + 2]
                   + w10 * padded[y0 + 2, x0 + 1] + w11 * padded[y0 + 2, x0 + 2])
            # most of the sensor sees the black screen: skip the logarithm there
            out[v, u] = log_black if acc == 0.0 else np.log(background + acc)


@kernel
def _emulate(image, times, dxs, dys, height, width, background, th_on, th_off, ref_offset,
             refractory, out_t, out_x, out_y, out_p):
    """Run the pixel model over the rendered frames; return the number of events.

    Writes at most ``len(out_t)`` events; when the return value is larger the caller retries
    with bigger buffers (the run is deterministic). Events come frame step by frame step,
    pixel by pixel; the caller sorts them by time.
    """
    cap = out_t.shape[0]
    prev = np.empty((height, width))
    cur = np.empty((height, width))
    _render(image, dxs[0], dys[0], height, width, background, prev)
    ref = prev + ref_offset
    last = np.full((height, width), -(1 << 62), dtype=np.int64)
    n = 0
    for k in range(1, times.shape[0]):
        _render(image, dxs[k], dys[k], height, width, background, cur)
        t_a = times[k - 1]
        span = times[k] - t_a
        for v in range(height):
            for u in range(width):
                la = prev[v, u]
                lb = cur[v, u]
                if lb == la:
                    continue
                while True:
                    if lb >= ref[v, u] + th_on[v, u]:
                        level = ref[v, u] + th_on[v, u]
                        pol = 1
                    elif lb <= ref[v, u] - th_off[v, u]:
                        level = ref[v, u] - th_off[v, u]
                        pol = 0
                    else:
                        break
                    ref[v, u] = level
                    # the crossing lies in (la, lb]: interpolate its time linearly in the step
                    frac = (level - la) / (lb - la)
                    if frac < 0.0:
                        frac = 0.0
                    t = t_a + int(np.floor(frac * span))
                    if t - last[v, u] < refractory:
                        continue  # lost in the refractory period; the level is still memorised
                    last[v, u] = t
                    if n < cap:
                        out_t[n] = t
                        out_x[n] = u
                        out_y[n] = v
                        out_p[n] = pol
                    n += 1
        for v in range(height):
            for u in range(width):
                prev[v, u] = cur[v, u]
    return n


# --------------------------------------------------------------------------------------------
# Python orchestration.


def saccade_path(config: EmulatorConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame times (us, relative) and image offsets (dx, dy) along the closed saccade path."""
    corners = np.asarray(config.corners, dtype=np.float64)
    n_sacc = len(corners)
    times = np.arange(0, config.duration_us + 1, config.frame_us, dtype=np.int64)
    if times[-1] != config.duration_us:
        times = np.append(times, config.duration_us)
    k = np.minimum(times // config.saccade_us, n_sacc - 1)
    tau = (times - k * config.saccade_us) / config.saccade_us  # 0..1 within the saccade
    ease = 0.5 - 0.5 * np.cos(np.pi * tau)  # raised cosine: zero speed at the corners
    start = corners[k]
    end = corners[(k + 1) % n_sacc]
    pos = start + (end - start) * ease[:, None]
    return times, pos[:, 0].copy(), pos[:, 1].copy()


def threshold_maps(config: EmulatorConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel ON and OFF thresholds (height, width), fixed by ``sensor_seed``."""
    w, h = config.sensor
    rng = np.random.default_rng([config.sensor_seed, 0x5E45])
    mism = rng.normal(1.0, config.threshold_sigma, size=(2, h, w))
    # a threshold can never be zero or negative: clip far in the Gaussian's tail
    mism = np.maximum(mism, 0.2)
    return config.threshold * mism[0], config.threshold * mism[1]


def _as_unit_image(image: np.ndarray, sensor: tuple[int, int]) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise InputFormatError(f"emulator: an image must be 2-D (H, W), got shape {img.shape}")
    if img.shape[0] > sensor[1] or img.shape[1] > sensor[0]:
        raise InputFormatError(f"emulator: image {img.shape[1]}x{img.shape[0]} is larger than the "
                               f"sensor {sensor[0]}x{sensor[1]}")
    if not np.all(np.isfinite(img)) or img.min() < 0:
        raise InputFormatError("emulator: image values must be finite and >= 0")
    peak = img.max()
    # 8-bit images (MNIST: 0..255) are scaled to [0, 1]; [0, 1] images are kept as they are
    return img / 255.0 if peak > 1.0 else img


def emulate(image: np.ndarray, config: EmulatorConfig = EmulatorConfig(), seed: int = 0,
            index: int = 0, t0: int = 0, motion: bool = True) -> np.ndarray:
    """The events (EVENT_DTYPE, sorted by time) of one emulated recording of ``image``.

    ``image`` is 2-D, 8-bit (0..255) or [0, 1] intensities, at most the sensor size; it is
    drawn with its top-left corner at the path's offset. ``seed`` and ``index`` fix every
    random draw of this recording; ``t0`` (us) is added to all timestamps. ``motion=False``
    keeps the image at the first corner for the whole duration.
    """
    w, h = config.sensor
    img = np.pad(_as_unit_image(image, config.sensor), 1)  # black border for _render
    times, dxs, dys = saccade_path(config)
    if not motion:
        dxs = np.full_like(dxs, dxs[0])
        dys = np.full_like(dys, dys[0])
    th_on, th_off = threshold_maps(config)
    rng = np.random.default_rng([seed, index])
    # the memorised level starts anywhere between the two thresholds: no event at t = 0
    u = rng.random((h, w))
    ref_offset = -th_on + u * (th_on + th_off)
    cap = 8192
    while True:
        buf_t = np.empty(cap, np.int64)
        buf_x = np.empty(cap, np.uint16)
        buf_y = np.empty(cap, np.uint16)
        buf_p = np.empty(cap, np.uint8)
        n = _emulate(img, times, dxs, dys, h, w, float(config.background), th_on, th_off,
                     ref_offset, int(config.refractory_us), buf_t, buf_x, buf_y, buf_p)
        if n <= cap:
            break
        cap = n
    events = np.empty(n, dtype=EVENT_DTYPE)
    events["t"] = buf_t[:n]
    events["x"] = buf_x[:n]
    events["y"] = buf_y[:n]
    events["p"] = buf_p[:n]
    if config.shot_noise_hz > 0:
        events = np.concatenate([events, _shot_noise(rng, config)])
    events = events[np.argsort(events["t"], kind="stable")]
    if t0:
        events["t"] += np.int64(t0)
    return events


def _shot_noise(rng: np.random.Generator, config: EmulatorConfig) -> np.ndarray:
    """Poisson noise events: uniform in time and space, random polarity."""
    w, h = config.sensor
    lam = config.shot_noise_hz * config.duration_us * 1e-6 * w * h
    n = int(rng.poisson(lam))
    noise = np.empty(n, dtype=EVENT_DTYPE)
    noise["t"] = rng.integers(0, config.duration_us, n)
    noise["x"] = rng.integers(0, w, n)
    noise["y"] = rng.integers(0, h, n)
    noise["p"] = rng.integers(0, 2, n)
    return noise


def emulate_batch(images: np.ndarray, config: EmulatorConfig = EmulatorConfig(), seed: int = 0,
                  first_index: int = 0) -> list[np.ndarray]:
    """One recording per image of ``images`` (N, H, W); recording i uses index first_index + i."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise InputFormatError(f"emulator: images must be (N, H, W), got shape {images.shape}")
    return [emulate(img, config, seed=seed, index=first_index + i) for i, img in enumerate(images)]


def emulate_sequence(images: np.ndarray, config: EmulatorConfig = EmulatorConfig(), seed: int = 0,
                     t0: int = 0, gap_us: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """One recording of several images shown one after the other.

    Image ``i`` is recorded with index ``i`` and starts at ``t0 + i * (duration + gap_us)``.
    Returns the events (sorted by time) and each image's ``[start, end)`` window in us.
    """
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3:
        raise InputFormatError(f"emulator: images must be (H, W) or (N, H, W), got shape {images.shape}")
    if gap_us < 0:
        raise InputFormatError(f"emulator: gap_us must be >= 0, got {gap_us}")
    period = config.duration_us + int(gap_us)
    parts, windows = [], []
    for i, img in enumerate(images):
        start = int(t0) + i * period
        parts.append(emulate(img, config, seed=seed, index=i, t0=start))
        windows.append((start, start + config.duration_us))
    events = np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)
    return events, windows


def read_images(path: str) -> np.ndarray:
    """Images from a ``.npy`` file ((H, W) or (N, H, W)) or a ``.png`` (RGB -> luminance).

    Read by :mod:`eventsim.events.frames` (the package's one ``.npy``/PNG reader), detected by
    content; an RGB image becomes luminance with the ITU-R BT.601 weights.
    """
    path = str(path)
    kind = frame_kind(path)
    if kind == "npy":
        arr = read_npy(path, ndims=(2, 3))
    elif kind == "png":
        img = read_png(path)
        arr = img[0] if img.shape[0] == 1 else np.tensordot(_BT601, img, axes=1)
    else:
        raise InputFormatError(f"{path}: expected a .npy array or a .png image")
    if arr.shape[-2] * arr.shape[-1] > MAX_PIXELS:
        raise InputFormatError(f"{path}: images of {arr.shape[-1]}x{arr.shape[-2]} (WxH) are larger than "
                               f"the {MAX_PIXELS:,} pixels eventsim reads")
    return np.asarray(arr, dtype=np.float64)
