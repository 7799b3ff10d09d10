"""The follow check: power where measured, else register deltas; what is not judged."""

from __future__ import annotations

from adapters.ocpp.follow import FollowCheck, MeterSample
from adapters.ocpp.orders import DispatchStatus, EvseDispatch, IspDispatch
from adapters.ocpp.sink import MeterReading

START = 1_800_000_000 // 900 * 900


def _order(power_w: int, protocol: str = "ocpp2.1") -> EvseDispatch:
    isp = IspDispatch(START, 900, power_w, status=DispatchStatus.ACCEPTED)
    return EvseDispatch("S", 1, 1001, [isp], protocol=protocol)


def _sample(t: int, import_wh: int, power_w: int | None = None, export_wh: int = 0) -> MeterSample:
    reading = MeterReading("S", 1, t, import_wh, export_wh, power_w or 0, None, "ocpp2.1", t)
    return MeterSample(reading, power_measured=power_w is not None)


def test_register_deltas_judge_a_station_without_power() -> None:
    check, order = FollowCheck(100), _order(6_000)
    for minute, wh in enumerate((1000, 1100, 1200, 1300)):
        check.observe(order, _sample(START + 60 * minute, wh))
    assert order.isps[0].samples == 3  # the first sample only opens the first interval
    assert order.isps[0].status == DispatchStatus.ACCEPTED


def test_delta_straddling_the_isp_start_is_not_judged() -> None:
    check, order = FollowCheck(100), _order(6_000)
    check.observe(order, _sample(START - 60, 1000))
    check.observe(order, _sample(START + 60, 1000))  # (START-60, START+60]: two orders mixed
    assert order.isps[0].samples == 0


def test_export_counts_against_import_and_resets_are_skipped() -> None:
    check, order = FollowCheck(100), _order(-6_000)
    check.observe(order, _sample(START, 1000, export_wh=500))
    check.observe(order, _sample(START + 60, 1000, export_wh=600))
    check.observe(order, _sample(START + 120, 0, export_wh=0))  # register reset
    check.observe(order, _sample(START + 180, 0, export_wh=100))
    assert (order.isps[0].samples, order.isps[0].samples_following) == (2, 2)


def test_power_reporting_evse_is_not_judged_on_register_only_samples() -> None:
    check, order = FollowCheck(100), _order(6_000)
    check.observe(order, _sample(START + 60, 1000, power_w=6_000))
    check.observe(order, _sample(START + 120, 1000))  # e.g. a 1.6 meterStop: no power
    assert order.isps[0].samples == 1


def test_cap_exceeded_by_register_delta_is_not_followed() -> None:
    check, order = FollowCheck(100), _order(3_000, protocol="ocpp1.6")
    for minute in range(3):
        check.observe(order, _sample(START + 60 * minute, 1000 + 150 * minute))  # 9 kW
    assert order.isps[0].status == DispatchStatus.NOT_FOLLOWED
