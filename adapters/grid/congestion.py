"""Congestion points of an LV grid: each transformer, and each feeder beneath it.

A feeder is a line leaving the transformer's LV busbar plus everything downstream of it
(lines fed through another feeder's busbar are merged into one feeder when they meet).
Points carry a loading limit (percent) and a voltage band, and EAN-style string ids that
are stable for a given grid and element, so the market and the chain hash the same id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import networkx as nx
import pandapower as pp
import pandapower.topology as top

if TYPE_CHECKING:
    import pandas as pd

EAN_PREFIX = "871685"  # GS1 country/company prefix used by the Dutch grid-connection register


@dataclass(frozen=True)
class CongestionPoint:
    """One congestion point; ``parent_id`` is the transformer point above a feeder."""

    cp_id: str
    name: str
    kind: Literal["transformer", "feeder"]
    parent_id: str | None
    trafo: int  # pandapower trafo index the point sits under
    lines: tuple[int, ...]  # lines whose loading counts (all lines below a transformer)
    buses: tuple[int, ...]  # LV buses whose voltage counts and where flexibility can act
    upstream_bus: dict[int, int]  # line -> its end nearer the busbar (to tell flow direction)
    max_loading_pct: float
    vm_min_pu: float
    vm_max_pu: float


def ean18(grid_name: str, element: str) -> str:
    """An 18-digit EAN (GS1 mod-10 check digit) derived from grid name and element, prefixed
    ``ean.`` as in USEF congestion-point ids."""
    digest = int.from_bytes(hashlib.sha256(f"{grid_name}/{element}".encode()).digest()[:8], "big")
    body = EAN_PREFIX + f"{digest % 10**11:011d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return f"ean.{body}{(10 - total % 10) % 10}"


def build_congestion_points(
    net: pp.pandapowerNet,
    grid_name: str,
    *,
    max_loading_pct: float | None = None,
    vm_min_pu: float | None = None,
    vm_max_pu: float | None = None,
) -> list[CongestionPoint]:
    """Transformer and feeder points, parents first. Limits default to the net's own
    ``max_loading_percent`` / bus ``min_vm_pu``/``max_vm_pu`` columns, else 100 % and 0.9–1.1."""
    graph = top.create_nxgraph(net, respect_switches=True, include_trafos=False)
    points: list[CongestionPoint] = []
    for t_idx in sorted(net.trafo.index[net.trafo.in_service]):
        busbar = int(net.trafo.at[t_idx, "lv_bus"])
        sub = nx.node_connected_component(graph, busbar)
        lv_buses = tuple(sorted(int(b) for b in sub))
        depth = nx.single_source_shortest_path_length(graph.subgraph(sub), busbar)
        sub_lines = [
            int(li)
            for li in net.line.index[net.line.in_service]
            if int(net.line.at[li, "from_bus"]) in sub
        ]
        upstream = {li: _upstream_end(net, li, depth) for li in sub_lines}
        band = _band(net, lv_buses, vm_min_pu, vm_max_pu)
        t_limit = _limit(net.trafo, t_idx, max_loading_pct)
        t_id = ean18(grid_name, f"trafo/{t_idx}")
        points.append(
            CongestionPoint(
                cp_id=t_id,
                name=str(net.trafo.at[t_idx, "name"] or f"trafo {t_idx}"),
                kind="transformer",
                parent_id=None,
                trafo=int(t_idx),
                lines=tuple(sorted(sub_lines)),
                buses=lv_buses,
                upstream_bus=upstream,
                max_loading_pct=t_limit,
                vm_min_pu=band[0],
                vm_max_pu=band[1],
            )
        )
        below = graph.subgraph(sub - {busbar})
        for comp in sorted(nx.connected_components(below), key=min):
            comp_lines = tuple(
                li
                for li in sorted(sub_lines)
                if int(net.line.at[li, "from_bus"]) in comp
                or int(net.line.at[li, "to_bus"]) in comp
            )
            if not comp_lines:
                continue
            heads = [
                li
                for li in comp_lines
                if busbar in (int(net.line.at[li, "from_bus"]), int(net.line.at[li, "to_bus"]))
            ]
            head = heads[0] if heads else comp_lines[0]
            limit = min(_limit(net.line, li, max_loading_pct) for li in comp_lines)
            f_band = _band(net, tuple(comp), vm_min_pu, vm_max_pu)
            points.append(
                CongestionPoint(
                    cp_id=ean18(grid_name, f"feeder/{head}"),
                    name=f"feeder {net.line.at[head, 'name'] or head}",
                    kind="feeder",
                    parent_id=t_id,
                    trafo=int(t_idx),
                    lines=comp_lines,
                    buses=tuple(sorted(int(b) for b in comp)),
                    upstream_bus={li: upstream[li] for li in comp_lines},
                    max_loading_pct=limit,
                    vm_min_pu=f_band[0],
                    vm_max_pu=f_band[1],
                )
            )
    return points


def feeder_of_bus(points: list[CongestionPoint], bus: int) -> CongestionPoint | None:
    """The feeder point a bus belongs to (None for a busbar or an unknown bus)."""
    for cp in points:
        if cp.kind == "feeder" and bus in cp.buses:
            return cp
    return None


def _upstream_end(net: pp.pandapowerNet, line: int, depth: dict[int, int]) -> int:
    fb, tb = int(net.line.at[line, "from_bus"]), int(net.line.at[line, "to_bus"])
    return fb if depth.get(fb, 10**9) <= depth.get(tb, 10**9) else tb


def _limit(table: pd.DataFrame, idx: int, override: float | None) -> float:
    if override is not None:
        return float(override)
    if "max_loading_percent" in table.columns:
        cell: Any = table.at[idx, "max_loading_percent"]  # pandas types a cell as any scalar
        value = float(cell)
        if value == value and value > 0:  # not NaN
            return value
    return 100.0


def _band(
    net: pp.pandapowerNet, buses: tuple[int, ...], lo: float | None, hi: float | None
) -> tuple[float, float]:
    def col(name: str, default: float, pick: Callable[[Iterable[float]], float]) -> float:
        if name not in net.bus.columns:
            return default
        values = net.bus.loc[list(buses), name].dropna()
        return float(pick(values)) if len(values) else default

    return (
        lo if lo is not None else col("min_vm_pu", 0.9, max),
        hi if hi is not None else col("max_vm_pu", 1.1, min),
    )
