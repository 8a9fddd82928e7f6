"""The order of the benches' alternating rounds (bench/func_runtimes.round_order)."""

from __future__ import annotations

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
