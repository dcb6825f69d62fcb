"""Memory-aware energy after Lemaire et al. (ICONIP 2022), for the SNN run and its dense ANN twin.

E. Lemaire, L. Cordone, A. Castagnetti, P.-E. Novac, J. Courtois, B. Miramond, "An analytical
estimation of spiking neural networks energy efficiency", ICONIP 2022 (arXiv 2210.13107), split the
energy of a layer into five terms: ``ops`` (arithmetic), ``addressing`` (computing where each weight
and potential lives), ``inout`` (reading the layer's inputs, writing its outputs), ``params``
(reading weights and biases) and ``potentials`` (reading and writing membrane potentials, SNN
only). Each memory access costs the energy of an SRAM of the size of the buffer it touches.

eventsim uses the paper's equations with its exact counts where the paper estimates them from a
firing rate: the paper's ``θ_{l-1}·C_out·k_h·k_w`` (synaptic operations of the input spikes) is the
engine's exact SOP count, which leaves out the taps that fall outside the map. Every equation, the
buffer each access touches and every other assumption are in ``docs/energy.md``.

All figures can be replaced by a user table (:meth:`MemoryCosts.from_dict`): ``add_pJ``, ``mul_pJ``,
``word_bits`` and the SRAM curve ``sram`` (a list of ``[bytes, pJ per access]`` points).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..engine.result import RunResult
from ..errors import ConfigError
from ..network.counts import dense_macs
from ..network.ir import Network, Population, Projection
from .tables import HOROWITZ_2014, CostTable, mac_pricing

LEMAIRE_2022 = ('E. Lemaire, L. Cordone, A. Castagnetti, P.-E. Novac, J. Courtois, B. Miramond, "An '
                'analytical estimation of spiking neural networks energy efficiency", ICONIP 2022, '
                "LNCS 13623, pp. 574-587 (arXiv 2210.13107)")

#: Horowitz (ISSCC 2014), 45 nm: energy of one 64-bit access to an SRAM of 8 KB, 32 KB and 1 MB.
HOROWITZ_SRAM = ((8 * 1024, 10.0), (32 * 1024, 20.0), (1024 * 1024, 100.0))

TERMS = ("ops", "addressing", "inout", "params", "potentials")
DEFAULT_WORD_BITS = 32


@dataclass(frozen=True)
class MemoryCosts:
    """The figures of the memory-aware model: arithmetic energies, word width, SRAM curve."""

    add_pJ: float  # one addition (an accumulate: a synaptic operation, an address increment)
    mul_pJ: float  # one multiplication (a MAC is mul_pJ + add_pJ)
    word_bits: int  # width of every stored value (weight, bias, potential, spike address)
    sram: tuple[tuple[float, float], ...] = HOROWITZ_SRAM  # (bytes, pJ per access), sizes increasing
    source: str = HOROWITZ_2014  # where the figures come from

    @property
    def mac_pJ(self) -> float:
        return self.mul_pJ + self.add_pJ

    def access_pJ(self, words: int) -> float:
        """Energy of one read or write in an SRAM holding ``words`` words.

        Piecewise-linear in the size between the curve's points; a memory smaller than the first
        point costs the first point's figure (no smaller SRAM is listed), one larger than the last
        extends the last segment. One word is one access, whatever its width (as Lemaire et al.).
        """
        size = words * self.word_bits / 8
        sizes = [p[0] for p in self.sram]
        costs = [p[1] for p in self.sram]
        if len(self.sram) == 1 or size <= sizes[0]:
            return costs[0] if size <= sizes[0] else costs[-1]
        if size > sizes[-1]:
            slope = (costs[-1] - costs[-2]) / (sizes[-1] - sizes[-2])
            return costs[-1] + slope * (size - sizes[-1])
        return float(np.interp(size, sizes, costs))

    def to_dict(self) -> dict:
        return {"add_pJ": self.add_pJ, "mul_pJ": self.mul_pJ, "mac_pJ": self.mac_pJ,
                "word_bits": self.word_bits, "sram": [list(p) for p in self.sram], "source": self.source}

    @classmethod
    def for_table(cls, table: CostTable, overrides: dict | None = None,
                  where: str = "energy table") -> MemoryCosts:
        """The costs of ``table`` (its add and MAC energies, its weight width), then ``overrides``."""
        # A chip's per-SOP figure (a table without a MAC) already holds that chip's memory traffic;
        # the model then prices arithmetic with the default (Horowitz) table instead.
        arith, mac_pj = mac_pricing(table)
        bits = int(table.weight_bytes * 8) if table.weight_bytes else DEFAULT_WORD_BITS
        costs = cls(add_pJ=arith.ac_pJ, mul_pJ=max(mac_pj - arith.ac_pJ, 0.0), word_bits=bits,
                    source=f"{arith.name}: {arith.citation}; SRAM: {HOROWITZ_2014}")
        return costs if not overrides else costs.with_overrides(overrides, where)

    def with_overrides(self, raw: dict, where: str = "energy table") -> MemoryCosts:
        """These costs with the fields of a user table's ``memory`` section replaced."""
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: 'memory' must be a table of fields, got {type(raw).__name__}")
        known = {"add_pJ", "mul_pJ", "word_bits", "sram", "source"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown field 'memory.{unknown[0]}' "
                              f"(known: {', '.join(sorted(known))})")
        add = _energy(raw["add_pJ"], "memory.add_pJ", where) if "add_pJ" in raw else self.add_pJ
        mul = _energy(raw["mul_pJ"], "memory.mul_pJ", where) if "mul_pJ" in raw else self.mul_pJ
        bits = self.word_bits
        if "word_bits" in raw:
            bits = raw["word_bits"]
            if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 1024:
                raise ConfigError(f"{where}: field 'memory.word_bits' must be an integer in 1..1024, "
                                  f"got {bits!r}")
        sram = _sram_points(raw["sram"], where) if "sram" in raw else self.sram
        source = self.source
        if "source" in raw:
            if not isinstance(raw["source"], str) or not raw["source"].strip():
                raise ConfigError(f"{where}: field 'memory.source' must be a non-empty string")
            source = raw["source"].strip()
        return MemoryCosts(add_pJ=add, mul_pJ=mul, word_bits=bits, sram=sram, source=source)


def _energy(value, key: str, where: str) -> float:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{where}: field {key!r} must be a finite number >= 0, got {value!r}")
    return float(value)


def _sram_points(raw, where: str) -> tuple[tuple[float, float], ...]:
    """``[[bytes, pJ], ...]``: at least one point, sizes > 0 and strictly increasing."""
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: field 'memory.sram' must be a non-empty list of [bytes, pJ] pairs")
    points: list[tuple[float, float]] = []
    for k, item in enumerate(raw):
        if not isinstance(item, list) or len(item) != 2:
            raise ConfigError(f"{where}: memory.sram[{k}] must be a [bytes, pJ] pair, got {item!r}")
        size, pj = (_energy(v, f"memory.sram[{k}]", where) for v in item)
        if points and size <= points[-1][0]:
            raise ConfigError(f"{where}: memory.sram sizes must increase (entry {k}: {size:g} bytes)")
        points.append((size, pj))
    return tuple(points)


# -- counts -----------------------------------------------------------------------------------

def _units(result: RunResult, name: str) -> int:
    """Spike units emitted by population ``name`` over the run (input: its events)."""
    counts = result.spike_counts.get(name)
    return 0 if counts is None else int(counts.sum())


def _conv_like(proj: Projection) -> bool:
    return proj.kind in ("conv2d", "sumpool2d")


def _weight_words(proj: Projection) -> int:
    """Words of stored weights a projection reads (an implicit weight 1 is not stored)."""
    if proj.weight is not None:
        return int(proj.weight.size)
    return 0 if proj.scale is None else int(proj.scale.size)


def _terms(**kw) -> dict:
    return {t: float(kw.get(t, 0.0)) for t in TERMS}


def snn_layer(result: RunResult, pop: Population, c: MemoryCosts) -> tuple[dict, dict]:
    """(terms in pJ, access and operation counts) of population ``pop`` in this run.

    Per incoming projection q with U_q source spike units and S_q SOPs, and for the N neurons of
    ``pop`` over T steps with O output spike units (the paper's θ_{l-1}, θ_l):
    ops = E_add·(ΣS_q + T·N + O) + E_mul·T·N (leak, if λ ≠ 1) + E_MAC·(encoder MACs);
    addressing = E_MAC·2·U_q (conv: the spike's window) + E_add·S_q;
    inout = E_rd(queue of q's source)·U_q + E_wr(queue of pop)·O;
    params = E_rd(W_q)·S_q + E_rd(bias)·T·N (with a bias);
    potentials = (E_rd(V) + E_wr(V))·(ΣS_q + T·N).
    """
    net, steps, n = result.network, result.timesteps, pop.size
    out_units = _units(result, pop.name) if pop.spiking else 0
    sops = enc = 0
    cnt = {"add": 0, "mul": 0, "mac": 0, "input_reads": 0, "output_writes": out_units, "weight_reads": 0,
           "bias_reads": 0, "potential_accesses": 0}
    e = _terms()
    for proj in net.incoming(pop.name):
        src = net.population(proj.source)
        s_q = int(result.sops[proj.name].sum())
        m_q = int(result.macs[proj.name].sum())
        u_q = 0 if m_q else _units(result, src.name)
        sops += s_q
        enc += m_q
        addr_macs = 2 * u_q if _conv_like(proj) else 0
        e["addressing"] += c.mac_pJ * addr_macs + c.add_pJ * s_q
        cnt["mac"] += addr_macs
        cnt["add"] += s_q
        reads = m_q if m_q else u_q  # an encoder reads one input value per MAC (no reuse)
        e["inout"] += c.access_pJ(src.size) * reads
        cnt["input_reads"] += reads
        weight_reads = (m_q + s_q) if _weight_words(proj) else 0
        e["params"] += c.access_pJ(_weight_words(proj)) * weight_reads
        cnt["weight_reads"] += weight_reads
    leak = steps * n if pop.spiking and pop.decay != 1.0 else 0
    e["ops"] = c.add_pJ * (sops + steps * n + out_units) + c.mul_pJ * leak + c.mac_pJ * enc
    cnt["add"] += sops + steps * n + out_units
    cnt["mul"] += leak
    cnt["mac"] += enc
    e["inout"] += c.access_pJ(n) * out_units
    if pop.bias is not None:
        e["params"] += c.access_pJ(pop.bias.size) * steps * n
        cnt["bias_reads"] = steps * n
    pot = sops + enc + steps * n
    e["potentials"] = 2 * c.access_pJ(n) * pot
    cnt["potential_accesses"] = 2 * pot
    return e, cnt


def ann_layer(net: Network, pop: Population, c: MemoryCosts) -> tuple[dict, dict]:
    """(terms in pJ, counts) of population ``pop`` as a dense ANN layer, one forward pass.

    Per incoming projection q with M_q dense MACs (padding taps included):
    ops = E_MAC·ΣM_q + E_add·N (with a bias);
    addressing = E_add·(C_in·H_in·W_in + N + C_out·k_h·k_w) for a conv, E_add·N_in·N for a dense map;
    inout = E_rd(input map)·M_q for a conv (no reuse), ·N_in for a dense map; + E_wr(output map)·N;
    params = E_rd(W_q)·M_q + E_rd(bias)·N; potentials = 0.
    """
    n = pop.size
    e = _terms()
    cnt = {"add": 0, "mul": 0, "mac": 0, "input_reads": 0, "output_writes": n, "weight_reads": 0,
           "bias_reads": 0, "potential_accesses": 0}
    for proj in net.incoming(pop.name):
        src = net.population(proj.source)
        m_q = dense_macs(proj, src.shape, pop.shape)
        e["ops"] += c.mac_pJ * m_q
        cnt["mac"] += m_q
        if _conv_like(proj):
            kh, kw = proj.pool_kernel if proj.kind == "sumpool2d" else proj.weight_array.shape[2:]
            addr = src.size + n + pop.shape[0] * kh * kw
            reads = m_q
        else:
            addr = src.size * n if proj.kind == "dense" else n
            reads = src.size
        e["addressing"] += c.add_pJ * addr
        cnt["add"] += addr
        e["inout"] += c.access_pJ(src.size) * reads
        cnt["input_reads"] += reads
        if _weight_words(proj):
            e["params"] += c.access_pJ(_weight_words(proj)) * m_q
            cnt["weight_reads"] += m_q
    if net.incoming(pop.name):
        e["inout"] += c.access_pJ(n) * n
    if pop.bias is not None:
        e["ops"] += c.add_pJ * n
        cnt["add"] += n
        e["params"] += c.access_pJ(pop.bias.size) * n
        cnt["bias_reads"] = n
    return e, cnt


def _side(per_layer: list[dict]) -> dict:
    terms = {t: sum(lay["terms"][t] for lay in per_layer) for t in TERMS}
    return {"pJ": sum(terms.values()), "terms": terms, "per_layer": per_layer}


def memory_energy(result: RunResult, table: CostTable, costs: MemoryCosts | None = None) -> dict:
    """``report["energy"]["memory"]`` minus the legacy keys: ``snn`` and ``ann`` with their terms."""
    costs = costs or MemoryCosts.for_table(table)
    net = result.network
    snn, ann = [], []
    for pop in net.ordered_populations():
        if pop.kind == "input":
            continue
        e, cnt = snn_layer(result, pop, costs)
        snn.append({"name": pop.name, "pJ": sum(e.values()), "terms": e, "counts": cnt})
        e, cnt = ann_layer(net, pop, costs)
        ann.append({"name": pop.name, "pJ": sum(e.values()), "terms": e, "counts": cnt})
    doc: dict = {"model": "lemaire2022", "citation": LEMAIRE_2022, "costs": costs.to_dict(),
           "snn": _side(snn), "ann": _side(ann)}
    doc["ann_over_snn"] = None if doc["snn"]["pJ"] == 0 else doc["ann"]["pJ"] / doc["snn"]["pJ"]
    return doc
