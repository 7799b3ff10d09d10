"""The clearing pauses the cyclic garbage collector and always gives it back."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from clearing import engine
from clearing.bundle import InputBundle
from clearing.errors import ClearingError
from clearing.gc_pause import gc_paused
from clearing.model import ModelArrays, SolveOutcome
from clearing.prepare import Prepared, prepare
from clearing.solvers.highs import solve_highspy
from clearing.synthetic import generate_session


@pytest.fixture(autouse=True)
def _collector_enabled() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_nested_pauses_enable_the_collector_only_when_the_outer_one_ends() -> None:
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()


def test_an_exception_inside_still_enables_the_collector() -> None:
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_overlapping_pauses_in_threads_enable_it_when_the_last_ends() -> None:
    first_in, second_done = threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with gc_paused():
            first_in.set()
            second_done.wait(10)
            seen.append(gc.isenabled())  # the other thread's pause ended before this one

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    with gc_paused():
        pass
    second_done.set()
    thread.join(10)
    assert seen == [False]
    assert gc.isenabled()


def test_a_clearing_builds_paused_solves_unpaused_and_gives_the_collector_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enabled_while_preparing: list[bool] = []

    def prepare_and_look(bundle: InputBundle) -> Prepared:
        enabled_while_preparing.append(gc.isenabled())
        return prepare(bundle)

    enabled_while_solving: list[bool] = []

    def solve_and_look(model: ModelArrays, **kwargs: Any) -> SolveOutcome:
        enabled_while_solving.append(gc.isenabled())
        return solve_highspy(model, **kwargs)

    monkeypatch.setattr(engine, "prepare", prepare_and_look)
    monkeypatch.setattr(engine, "solve_highspy", solve_and_look)
    run = engine.clear_run(generate_session(40, seed=3))
    assert run.result.status == "optimal"
    assert enabled_while_preparing == [False]
    assert enabled_while_solving == [True]  # a long solve must not hold the collector off
    assert gc.isenabled()


def test_a_refused_bundle_gives_the_collector_back() -> None:
    with pytest.raises(ClearingError):
        engine.clear_run({"session_id": "not a bundle"})
    assert gc.isenabled()
