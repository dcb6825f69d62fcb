"""The engine benchmark of ``eventsim bench``: the scatter kernel figure and the end-to-end speed-up
over dense PyTorch.

(a) Kernel: one 128-channel 3x3 conv (padding 1) at 32x32, a random input spike map of 5%
    density (signed +/-1), float32: SOPs per second on one core of ``kernels.scatter_conv`` on
    the spike list in the order neurons emit it (pixel-major). Best of 500 calls (~1 s in all, so
    that a burst of load from other processes on the shared L3 does not decide the figure); the
    SOP count is the kernel's own. Weight and current buffers are 64-byte aligned, as the engine
    allocates them (``plan.aligned_zeros``).
(b) End to end: a Ternary-Spike ResNet-19-style network built directly in the IR with random
    (He-normal) weights -- stem conv 128, stages of 3/3/2 basic blocks at 128/256/512 channels
    (stride 2 and a 1x1 conv shortcut entering stages 2 and 3), global average pool folded into
    the dense readout (10 classes) -- on a 2x48x48 event input, T = 10, ternary LIF neurons
    (decay 0.25, hard reset). Per target density d the thresholds are calibrated layer by layer
    (bisection on the dense PyTorch model) so that every layer fires on about a fraction d of
    its neurons per step; the input has density d too. Both sides run the same network:
    eventsim ``Simulator`` (float32, and the int engine) vs PyTorch CPU dense inference, batch 1,
    the faster of two modes: all T steps in one convolution per layer (T folded into the batch,
    as the Ternary Spike reference code does) and step by step. Two tables: both tools on all
    cores (``--threads``, default all; PyTorch with ``torch.set_num_threads``), then both on one
    thread; the thread scaling of the engine is the ratio of the two. Times are the best of
    ``--repeat`` runs after a warm-up, the sides alternating (so that load from other processes
    affects both alike); the first engine run (Numba compile or cache load) is reported
    separately, as is a cold compile in a fresh process with an empty Numba cache (``--cold``).

Layout: :mod:`eventsim.bench.engine` builds the networks, times the engine, renders the tables;
:mod:`eventsim.bench.dense` is the dense PyTorch twin (the one module of the package that imports
torch, an optional extra: it is imported only when the end-to-end comparison runs, and its
absence is a one-line ConfigError). ``tools/bench.py`` is the same with argparse.
"""
