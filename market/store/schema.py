"""Every table the market store's migrations create, as the metadata Alembic compares with.

Three families share one database: the SQLModel tables (market/store/models), the meter tables
the OCPP adapter defines (adapters/ocpp/sink.py) and the clearing-house tables
(market/store/models/clearing_house.py).
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlmodel import SQLModel

import market.store.models  # noqa: F401  (registers the SQLModel tables)
from adapters.ocpp.sink import metadata as meter_metadata
from market.store.models.clearing_house import metadata as clearing_house_metadata


def target_metadata() -> list[MetaData]:
    """The metadata objects whose tables the migrations must produce, exactly."""
    return [SQLModel.metadata, meter_metadata, clearing_house_metadata]
