"""Failed-login backoff: free tries, then doubling delays up to a cap; success clears."""

from __future__ import annotations

from adapters.ocpp.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_delays_double_after_the_free_failures_and_are_capped() -> None:
    clock = Clock()
    throttle = LoginThrottle(free_failures=2, base_delay_s=1.0, max_delay_s=8.0, clock=clock)
    delays = [throttle.failed("CS1") for _ in range(7)]
    assert delays == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert throttle.retry_after_s("CS1") == 8.0
    assert throttle.retry_after_s("CS2") == 0.0  # other keys are not affected
    clock.now_s += 8.0
    assert throttle.retry_after_s("CS1") == 0.0
    assert throttle.total_failures == 7 and throttle.total_throttled == 1


def test_success_clears_and_old_failures_are_forgotten() -> None:
    clock = Clock()
    throttle = LoginThrottle(free_failures=1, forget_after_s=60.0, clock=clock)
    throttle.failed("CS1")
    throttle.failed("CS1")
    throttle.succeeded("CS1")
    assert throttle.retry_after_s("CS1") == 0.0
    throttle.failed("CS2")
    clock.now_s += 61.0
    assert throttle.failed("CS2") == 1.0  # counted from one again, not from two
    assert throttle.status()["keys"] == {"CS2": {"failures": 1, "blocked_for_s": 1.0}}


def test_the_number_of_remembered_keys_is_bounded() -> None:
    throttle = LoginThrottle(max_keys=10)
    for i in range(100):
        throttle.failed(f"CS{i}")
    assert len(throttle.status(top=1000)["keys"]) == 10  # type: ignore[arg-type]
