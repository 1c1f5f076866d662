"""bench/edge.py's pure parts: the Zipf workload and how an old page is told apart."""

from __future__ import annotations

from collections import Counter

from bench.edge import generated_at, last_old_after, zipf_paths


def test_zipf_paths_favour_low_ranks_by_one_over_rank() -> None:
    routes = [f"/r{i}" for i in range(1, 101)]
    counts = Counter(zipf_paths(routes, 50_000))
    assert counts["/r1"] > counts["/r2"] > counts["/r10"]
    assert 1.7 < counts["/r1"] / counts["/r2"] < 2.3
    assert set(counts) <= set(routes)


def test_zipf_paths_are_the_same_for_the_same_seed() -> None:
    routes = ["/a", "/b", "/c"]
    assert zipf_paths(routes, 100) == zipf_paths(routes, 100)


def test_the_generation_time_is_read_from_the_footer_stamp_not_other_dates() -> None:
    body = (
        b'<article><time datetime="2025-11-20">Nov 20</time></article><footer>'
        b'<p class="generated" data-phase="request"><strong>Rendered on request</strong> '
        b'<time datetime="2026-12-04T05:00:01.250Z">Dec 4</time></p></footer>'
    )
    assert generated_at(body) == 1796360401.25
    assert generated_at(b"<p>a prerendered page with no stamp</p>") is None


def test_the_last_old_page_is_timed_from_the_revalidation() -> None:
    sent = 1000.5
    samples = [(999.0, 990.0), (1000.6, 990.0), (1001.2, 990.0), (1001.4, 1001.0), (1002.0, 1001.0)]
    assert last_old_after(samples, sent) == 1001.2 - sent


def test_a_page_generated_in_the_same_second_as_the_revalidation_is_not_old() -> None:
    assert last_old_after([(1000.7, 1000.2), (1001.0, 1000.9)], 1000.5) == 0.0


def test_an_old_page_at_the_end_of_the_run_means_never() -> None:
    assert last_old_after([(1001.0, None), (1002.0, None)], 1000.5) is None
