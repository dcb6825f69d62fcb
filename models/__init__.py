"""PyTorch definitions of the Ternary Spike networks (training side; needs torch).

Faithful to the paper's reference code (github.com/yfguo91/Ternary-Spike): the same LIF
dynamics, the same wrapper modules and therefore the same state-dict names, so checkpoints of
either load into the other and into ``eventsim convert``.

Tensor layout: a model takes ``(B, C, H, W)`` (a static image, repeated over the ``T`` steps,
as the paper does) or ``(B, T, C, H, W)`` (event input); inside, time is the leading axis,
``(T, B, C, H, W)``, and the logits are the mean over T of the per-step classifier outputs.
"""
