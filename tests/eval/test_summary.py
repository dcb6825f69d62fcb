"""Summary statistics from hand-made records: accuracy, confusion, stats, failed samples."""

from __future__ import annotations

import numpy as np

from eventsim.eval.render import format_csv, format_text
from eventsim.eval.summary import stats, summarize


def _rec(index, label, pred, sops, seconds=0.01):
    return {"index": index, "path": f"s{index}", "label": label, "prediction": pred,
            "correct": label == pred, "output": [0.0, 1.0], "events": 10 * index, "spikes": sops // 2,
            "sops": sops, "macs": 0, "multiplications": 0, "energy_pJ": 0.9 * sops,
            "layers": [{"name": "input", "spikes_pos": 10 * index, "spikes_neg": 0, "sops": 0},
                       {"name": "h", "spikes_pos": sops // 2, "spikes_neg": 1, "sops": sops}],
            "seconds": seconds}


def test_summary_counts_and_confusion():
    recs = [_rec(3, 1, 1, 40, 0.5), _rec(0, 0, 0, 10), _rec(1, 0, 1, 20), _rec(2, 1, 1, 30),
            {"index": 4, "path": "s4", "label": 0, "error": "InputFormatError: bad", "seconds": 0.0}]
    doc = summarize(recs, ["zero", "one"], n_outputs=3)
    # 4 samples ran: true 0 -> {0, 1}, true 1 -> {1, 1}: 3 correct of 4
    assert (doc["samples"], doc["evaluated"], doc["errors"], doc["correct"]) == (5, 4, 1, 3)
    assert doc["accuracy"] == 0.75
    assert doc["confusion"]["labels"] == ["zero", "one", "2"]
    assert doc["confusion"]["matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    assert [(c["label"], c["samples"], c["correct"], c["errors"]) for c in doc["classes"]] == [
        (0, 2, 1, 1), (1, 2, 2, 0)]
    assert doc["per_sample"]["sops"]["mean"] == 25.0
    assert doc["layers"][1]["sops"] == stats([10, 20, 30, 40])
    assert doc["layers"][1]["spikes"]["max"] == 21  # 40 // 2 + 1 negative
    assert [s["index"] for s in doc["slowest"]] == [3, 0, 1, 2, 4][:4]
    assert doc["failed"] == [{"index": 4, "path": "s4", "error": "InputFormatError: bad"}]
    text = format_text({**doc, "model": "m", "dataset": "d"})
    assert "accuracy: 0.7500 (3 / 4)" in text and "failed: s4: InputFormatError: bad" in text
    rows = format_csv(recs, ["input", "h"]).splitlines()
    assert rows[0].endswith("input_spikes,input_sops,h_spikes,h_sops")
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2", "3", "4"]  # sorted by index


def test_stats_match_numpy():
    a = np.random.default_rng(1).integers(0, 1000, 57)
    s = stats(a)
    assert s["std"] == float(np.std(a)) and s["p95"] == float(np.percentile(a, 95))
    assert stats([]) is None


def test_summary_independent_of_record_order():
    recs = [_rec(i, i % 2, (i // 2) % 2, 10 * i + 1) for i in range(9)]
    assert summarize(recs, ["a", "b"]) == summarize(recs[::-1], ["a", "b"])


def test_latency_distribution_and_records_without_it():
    # decision steps 0, 2, 2 (index 3 is a record of an older eventsim, without latency fields);
    # spike-count output: index 1 never fired
    recs = [_rec(i, 0, p, 10) for i, p in enumerate([0, 1, 0, 0])]
    for r, step, spike in zip(recs, [0, 2, 2], [1, None, 3]):
        r.update(timesteps=5, decision_step=step, first_output_spike=spike)
    doc = summarize(recs, ["a", "b"])
    lat = doc["latency"]
    d, f = lat["decision_step"], lat["first_output_spike"]
    assert lat["steps"] == 5
    assert (d["samples"], d["never"], d["without"]) == (3, 0, 1)
    assert d["histogram"] == {"all": [1, 0, 2, 0, 0], "correct": [1, 0, 1, 0, 0]}  # index 1 is wrong
    assert d["stats"]["mean"] == 4 / 3 and d["stats"]["median"] == 2.0 and d["correct"]["max"] == 2.0
    assert (f["samples"], f["never"], f["without"]) == (2, 1, 1)
    assert f["histogram"]["all"] == [0, 1, 0, 1, 0]
    text = format_text({**doc, "model": "m", "dataset": "d"})
    assert "first output spike: the output never fired in 1 sample(s)" in text
    assert "decision step: not recorded for 1 sample(s) (results written by an older eventsim)" in text
    assert summarize(recs[3:], ["a", "b"])["latency"] == {"steps": 0, "decision_step": None,
                                                         "first_output_spike": None}
