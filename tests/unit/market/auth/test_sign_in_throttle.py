"""Failed sign-ins back off per address and per IP, and the operator's listing shows them."""

from __future__ import annotations

from market.auth.sign_in_throttle import SignInThrottle

ADDRESS = "0x" + "ab" * 20


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now_s


def test_an_address_waits_after_its_free_failures_and_success_clears_it() -> None:
    clock = FakeClock()
    throttle = SignInThrottle(address_free_failures=2, ip_free_failures=100, clock=clock)
    throttle.failed(ADDRESS, "10.0.0.1")
    assert throttle.retry_after_s(ADDRESS, "10.0.0.2") == 0
    assert throttle.failed(ADDRESS, "10.0.0.1") == 1.0
    assert throttle.retry_after_s(ADDRESS.upper().replace("0X", "0x"), "10.0.0.9") == 1.0
    clock.now_s += 1.5
    assert throttle.retry_after_s(ADDRESS, "10.0.0.1") == 0
    throttle.succeeded(ADDRESS)
    assert [r.key for r in throttle.recent_failures()] == ["ip:10.0.0.1"]


def test_one_ip_guessing_many_addresses_is_throttled() -> None:
    clock = FakeClock()
    throttle = SignInThrottle(address_free_failures=100, ip_free_failures=3, clock=clock)
    for n in range(3):
        throttle.failed(f"0x{n:040x}", "10.0.0.1")
    assert throttle.retry_after_s(f"0x{99:040x}", "10.0.0.1") > 0
    assert throttle.retry_after_s(f"0x{99:040x}", "10.0.0.2") == 0


def test_recent_failures_list_counts_and_last_time() -> None:
    clock = FakeClock()
    throttle = SignInThrottle(clock=clock)
    throttle.failed(ADDRESS, "10.0.0.1")
    clock.now_s += 10
    throttle.failed(ADDRESS, "10.0.0.1")
    throttle.failed(None, "10.0.0.2")  # unparsable message: only the IP is known
    listed = {r.key: r for r in throttle.recent_failures()}
    assert listed[f"address:{ADDRESS}"].failures == 2
    assert listed[f"address:{ADDRESS}"].last_failure_at_s == clock.now_s
    assert listed["ip:10.0.0.2"].failures == 1
