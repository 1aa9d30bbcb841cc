"""`benchmark_reference`'s timing on a small photo with a tiny model: the three runs are timed in turn, and the time
beyond automatic colouring is the median of the per-round differences, not the difference of the medians."""

from __future__ import annotations

from pseudocolor.experiments.scripts import benchmark_reference
from tests.deploy_helpers import tiny_colorizer


def test_the_time_beyond_automatic_is_the_median_of_per_round_differences(monkeypatch):
    # per round: automatic, region, whole photo (the first round is not counted); region - automatic over the four
    # counted rounds: 20, 90, 30, 30 -> median 30, where the difference of the medians would be 57.5 - 10 = 47.5
    scripted = iter([99, 99, 99, 10, 30, 5, 10, 100, 5, 50, 80, 5, 5, 35, 5])
    results = []

    def timed(run):
        results.append(run())  # each run really colours the photo
        return next(scripted)

    monkeypatch.setattr(benchmark_reference, "_ms", timed)
    photo = benchmark_reference._photo("kodim05.jpg", 64)
    timings = benchmark_reference.time_reference(tiny_colorizer(), photo, repeats=4)
    assert timings == {
        "automatic": 10,
        "region from reference": 57.5,
        "whole photo from reference": 5,
        "region, beyond automatic": 30,
    }
    assert len(results) == 15 and all(result.shape == photo.shape for result in results)
