"""The gateway's grid: load the DSO's network and name its congestion points by the market's
codes, so the agent's requests carry the codes the market registered.

Why renamed here: the grid adapter names points after the network (``ean.…``); the market knows
only the codes its operator registered. Only the configured points are watched.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from adapters.grid.congestion import CongestionPoint, build_congestion_points
from adapters.grid.forecast import GridForecaster
from adapters.grid.model import GridModel, GridModelError, load_grid
from market.dso.config import DsoConfigError, DsoGatewayConfig


@dataclass
class DsoGrid:
    """The loaded network, its watched points (by market code) and the flexibility buses."""

    model: GridModel
    points: list[CongestionPoint]
    flex_buses: list[int] | None
    load_scale: float
    pv_scale: float
    profile_date: dt.date | None

    def forecaster(self, day: dt.date) -> GridForecaster:
        """A fresh forecaster for ``day`` (the profile date when configured)."""
        return GridForecaster(
            self.model,
            date=self.profile_date or day,
            load_scale=self.load_scale,
            pv_scale=self.pv_scale,
            points=list(self.points),
            flex_buses=self.flex_buses,
        )


def load_dso_grid(cfg: DsoGatewayConfig) -> DsoGrid:
    """Load ``cfg.grid`` and match every configured point; raise DsoConfigError by path."""
    try:
        model = load_grid(cfg.grid.source)
    except GridModelError as exc:
        raise DsoConfigError("grid.source", str(exc)) from exc
    except Exception as exc:  # simbench/pandapower raise their own types for an unknown code
        raise DsoConfigError("grid.source", f"cannot load {cfg.grid.source!r}: {exc}") from exc
    found = build_congestion_points(model.net, model.name)
    rename: dict[str, str] = {}
    chosen: list[tuple[CongestionPoint, float]] = []
    for i, spec in enumerate(cfg.congestion_points):
        match = next(
            (
                p
                for p in found
                if p.kind == spec.element
                and (
                    p.trafo == spec.index
                    if spec.element == "transformer"
                    else spec.index in p.lines
                )
            ),
            None,
        )
        if match is None:
            raise DsoConfigError(
                f"congestion_points[{i}].index",
                f"no {spec.element} with index {spec.index} in {model.name}",
            )
        if match.cp_id in rename:
            raise DsoConfigError(
                f"congestion_points[{i}].index", f"same grid point as {rename[match.cp_id]!r}"
            )
        rename[match.cp_id] = spec.code
        chosen.append((match, float(spec.limit_pct)))
    points = [
        dataclasses.replace(
            p,
            cp_id=rename[p.cp_id],
            parent_id=rename.get(p.parent_id) if p.parent_id else None,
            max_loading_pct=limit,
        )
        for p, limit in chosen
    ]
    flex: list[int] | None = None
    if cfg.grid.flex_buses:
        by_name = {str(n): int(i) for i, n in model.net.bus["name"].items()}
        flex = []
        for j, name in enumerate(cfg.grid.flex_buses):
            if name not in by_name:
                raise DsoConfigError(f"grid.flex_buses[{j}]", f"no bus named {name!r}")
            flex.append(by_name[name])
    return DsoGrid(
        model=model,
        points=points,
        flex_buses=flex,
        load_scale=cfg.grid.load_scale_ppm / 1_000_000,
        pv_scale=cfg.grid.pv_scale_ppm / 1_000_000,
        profile_date=cfg.grid.profile_date,
    )
