"""A HiGHS failure falls back to CBC explicitly: logged, and recorded in the result bundle.

The failure is real: HiGHS' scheduler started with two threads before the clearing's
single-thread solve makes that solve stop with "Not Set" (what ``pin_highs_threads`` prevents
in the service). It runs in a child process so this process's scheduler stays untouched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from clearing_builders import FSP_B, bundle, offer, option, request

from clearing.bundle import ResultBundle
from clearing.engine import clear_run

_CHILD = textwrap.dedent(
    """
    import json, logging, sys
    import highspy, numpy as np
    from clearing.engine import clear_run
    from clearing.solvers.highs_api import new_highs

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
    h = new_highs()  # its banner goes to stderr, not into the JSON on stdout
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 2)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = 1, 0
    lp.col_cost_ = np.array([-1.0])
    lp.col_lower_, lp.col_upper_ = np.array([0.0]), np.array([1.0])
    h.passModel(lp)
    h.run()
    sys.stdout.buffer.write(clear_run(json.loads(sys.stdin.read())).result.to_canonical())
    """
)


def _hand_case():  # type: ignore[no-untyped-def]
    return bundle(
        [request("r")],
        [
            offer("o1", [option("x", {0: 60_000}, 50)]),
            offer("o2", [option("x", {0: 60_000}, 100, min_ppm=100_000)], fsp=FSP_B),
        ],
    )


def _clear_in_child(bundle_json: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=bundle_json.encode(),
        capture_output=True,
        check=True,
        timeout=300,
    )


def test_forced_highs_failure_is_recorded_and_logged() -> None:
    b = _hand_case()
    normal = clear_run(b).result
    child = _clear_in_child(b.model_dump_json())
    fallback = ResultBundle.model_validate_json(child.stdout)
    assert fallback.solver.name == "cbc"
    assert fallback.solver.fallback_reason is not None
    assert "Not Set" in fallback.solver.fallback_reason
    assert b"clearing.engine" in child.stderr and b"clearing with CBC instead" in child.stderr
    # the published bytes carry the reason, and survive a round trip unchanged
    assert json.loads(child.stdout)["solver"]["fallback_reason"] == fallback.solver.fallback_reason
    assert fallback.to_canonical() == child.stdout
    # same awards as HiGHS: the fallback changes who solved, not what was cleared
    assert [(o.order_id, o.activation_ppm) for o in fallback.orders] == [
        (o.order_id, o.activation_ppm) for o in normal.orders
    ]


def test_normal_run_has_no_fallback_field() -> None:
    result = clear_run(_hand_case()).result
    assert result.solver.name == "highs"
    assert result.solver.fallback_reason is None
    assert "fallback_reason" not in json.loads(result.to_canonical())["solver"]
    assert "fallback_reason" not in json.loads(result.model_dump_json())["solver"]


def test_an_envelope_lp_solved_first_leaves_the_clearing_on_highs() -> None:
    """The agents' envelope LP (``market.agents.flex_lp``) takes its HiGHS from ``new_highs``
    without setting threads; solved first in a process (an FSP gateway, a test worker), it
    must not start HiGHS' scheduler multi-threaded and push the clearing to CBC."""
    child = _CHILD.replace('h.setOptionValue("threads", 2)\n', "")
    assert child != _CHILD
    out = subprocess.run(
        [sys.executable, "-c", child],
        input=_hand_case().model_dump_json().encode(),
        capture_output=True,
        check=True,
        timeout=300,
    )
    result = ResultBundle.model_validate_json(out.stdout)
    assert (result.solver.name, result.solver.fallback_reason) == ("highs", None)
