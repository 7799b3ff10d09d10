"""The highspy array model and the PuLP model are the same model: same awards on the same bundles.

Also: CBC (PuLP) as fallback agrees on a hand case, results are byte-identical across processes,
and the synthetic generator is pure.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from clearing_builders import FSP_B, bundle, offer, option, request

from clearing.bundle import SolverSpec, bundle_hash
from clearing.encoding import hex32
from clearing.engine import clear, clear_run
from clearing.synthetic import generate_session


def _awards(run) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    return [(o.order_id, o.activation_ppm) for o in run.result.orders]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_highspy_arrays_equal_pulp_model(seed: int) -> None:
    b = generate_session(40, seed, mip_gap_ppm=0, time_limit_s=60)
    a = clear_run(b, backend="highspy")
    p = clear_run(b, backend="pulp-highs")
    assert a.result.status == p.result.status == "optimal"
    assert _awards(a) and _awards(a) == _awards(p)
    assert a.result.welfare_units == p.result.welfare_units


def test_cbc_fallback_agrees_on_hand_case() -> None:
    b = bundle(
        [request("r")],
        [
            offer("o1", [option("x", {0: 60_000}, 50)]),
            offer("o2", [option("x", {0: 60_000}, 100, min_ppm=100_000)], fsp=FSP_B),
        ],
    )
    cbc = clear_run(b, backend="pulp-cbc")
    assert cbc.result.solver.name == "cbc"
    assert _awards(cbc) == _awards(clear_run(b, backend="highspy"))


def test_rules_can_ask_for_cbc() -> None:
    b = bundle([request("r")], [offer("o1", [option("x", {0: 60_000}, 50)])])
    b = b.model_copy(
        update={"rules": b.rules.model_copy(update={"solver": SolverSpec(name="cbc")})}
    )
    assert clear(b).solver.name == "cbc"


def test_byte_identical_across_processes() -> None:
    code = textwrap.dedent(
        """
        from clearing.synthetic import generate_session
        from clearing.engine import clear
        from clearing.encoding import keccak256
        r = clear(generate_session(300, 7, mip_gap_ppm=0, time_limit_s=60))
        print(keccak256(r.to_canonical()).hex(), r.status)
        """
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
        ).stdout.strip()
        for _ in range(2)
    }
    local = clear(generate_session(300, 7, mip_gap_ppm=0, time_limit_s=60))
    from clearing.encoding import keccak256

    assert outs == {f"{keccak256(local.to_canonical()).hex()} {local.status}"}


def test_synthetic_is_pure() -> None:
    assert hex32(bundle_hash(generate_session(50, 3))) == hex32(
        bundle_hash(generate_session(50, 3))
    )
    assert bundle_hash(generate_session(50, 3)) != bundle_hash(generate_session(50, 4))
