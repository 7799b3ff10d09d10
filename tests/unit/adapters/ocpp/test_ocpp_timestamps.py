"""Strict RFC 3339 parsing and the date-time fields of OCPP requests."""

from __future__ import annotations

import pytest

from adapters.ocpp.timestamps import TimestampError, check_timestamps, parse_rfc3339

T = 1796296576  # 2026-12-03T11:16:16Z


@pytest.mark.parametrize(
    ("text", "unix"),
    [
        ("2026-12-03T11:16:16Z", T),
        ("2026-12-03t11:16:16z", T),  # RFC 3339 5.6 NOTE: t and z may be lower case
        ("2026-12-03T11:16:16.999Z", T),  # fractions truncated
        ("2026-12-03T12:46:16+01:30", T),
        ("2026-12-03T06:16:16-05:00", T),
        ("2016-12-31T23:59:60Z", 1483228800),  # a leap second: the POSIX second after it
        ("2016-12-31T18:59:60-05:00", 1483228800),
        ("2024-02-29T00:00:00Z", 1709164800),
    ],
)
def test_valid_timestamps(text: str, unix: int) -> None:
    assert parse_rfc3339(text) == unix


@pytest.mark.parametrize(
    "text",
    ["yesterday", "", "2026-12-03", "2026-12-03T11:16:16", "2026-12-03 11:16:16Z",
     "2026-12-03T11:16Z", "2026-13-03T11:16:16Z", "2026-00-03T11:16:16Z",
     "2026-02-29T11:16:16Z", "2026-12-32T11:16:16Z", "2026-12-03T24:00:00Z",
     "2026-12-03T11:60:16Z", "2026-12-03T11:16:60Z", "2026-12-03T11:16:61Z",
     "2026-12-03T11:16:16+0100", "2026-12-03T11:16:16+24:00", "2026-12-03T11:16:16+01:60",
     "0000-01-01T00:00:00Z", "2026-12-03T11:16:16Z ", " 2026-12-03T11:16:16Z",
     "２０２６-12-03T11:16:16Z", "2026-12-03T11:16:16.Z"],
)  # fmt: skip
def test_invalid_timestamps(text: str) -> None:
    with pytest.raises(TimestampError):
        parse_rfc3339(text)


@pytest.mark.parametrize("value", [None, 5, 1.5, ["2026-12-03T11:16:16Z"]])
def test_non_strings_refused(value: object) -> None:
    with pytest.raises(TimestampError):
        parse_rfc3339(value)  # type: ignore[arg-type]


def test_every_date_time_field_of_a_request_is_checked() -> None:
    event = {
        "eventType": "Updated",
        "timestamp": "2026-12-03T11:16:16Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 1,
        "transactionInfo": {"transactionId": "t"},
        "meterValue": [
            {"timestamp": "2026-12-03T11:16:16Z", "sampledValue": [{"value": 1}]},
            {"timestamp": "noon", "sampledValue": [{"value": 2}]},
        ],
    }
    with pytest.raises(TimestampError, match=r"meterValue\[1\]\.timestamp"):
        check_timestamps("2.0.1", "TransactionEvent", event)
    event["meterValue"] = event["meterValue"][:1]  # type: ignore[index]
    check_timestamps("2.0.1", "TransactionEvent", event)
    with pytest.raises(TimestampError, match="timestamp"):
        check_timestamps("1.6", "StatusNotification", {"timestamp": "12:00"})
    check_timestamps("1.6", "Heartbeat", {})
