"""The order of the benches' alternating rounds (bench/func_runtimes.round_order) and how the cold
start bench reads its paired runs (bench/func_cold_start.paired_ratio)."""

from __future__ import annotations

import statistics

import pytest

from bench.func_cold_start import paired_ratio
from bench.func_runtimes import round_order


def test_the_floor_keeps_its_place_and_the_others_swap_every_other_turn() -> None:
    names = ["floor", "chain", "froussard"]
    assert [round_order(names, turn) for turn in range(3)] == [
        ["floor", "chain", "froussard"],
        ["floor", "froussard", "chain"],
        ["floor", "chain", "froussard"],
    ]


def test_without_a_floor_every_name_swaps() -> None:
    assert round_order(["floor", "ingest"], 1, floor_first=False) == ["ingest", "floor"]
    assert round_order(["floor", "ingest"], 0, floor_first=False) == ["floor", "ingest"]


def test_the_turn_before_the_first_is_an_odd_one() -> None:
    # func_runtimes spends turn -1 (its first) on the threaded instrument, in the swapped order
    assert round_order(["floor", "chain"], -1) == ["floor", "chain"]
    assert round_order(["floor", "a", "b"], -1) == ["floor", "b", "a"]


def test_a_cold_start_ratio_pairs_each_run_with_the_bare_start_before_it() -> None:
    # the machine is slow for three bare starts; one run of ours already sees it fast again
    bare = [100.0, 140.0, 140.0, 140.0, 100.0]
    mine = [130.0, 182.0, 182.0, 130.0, 130.0]
    assert paired_ratio(mine, bare) == pytest.approx(1.3)
    assert statistics.median(mine) / statistics.median(bare) == pytest.approx(130 / 140)  # what medians read
    with pytest.raises(ValueError, match="longer"):
        paired_ratio([1.0], [1.0, 2.0])
