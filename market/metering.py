"""The market store as the OCPP adapter's ReadingSink: same ``meter_readings`` table.

The CSMS hands every accepted sample to a sink; pointing adapters.ocpp's batched SQL sink at
the market's engine makes those readings visible through ``GET /meter-readings`` and to the
delivery verification, with no copy in between.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from adapters.ocpp.sink import ReadingSink, SqlReadingSink


def store_sink(engine: Engine, **kw: object) -> ReadingSink:
    """A ReadingSink writing into the market store (tables created by our migrations)."""
    return SqlReadingSink(engine, create_tables=False, **kw)  # type: ignore[arg-type]
