"""The DSO agent: forecast the session's congestion on the grid, post FlexRequests sized
from the power flow, and report congestion before vs after the delivered flexibility.

Pure part: :meth:`DsoAgent.requests` and :meth:`DsoAgent.report`. Market part:
:meth:`DsoAgent.post_requests`, which only hands the requests to the signed client.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from adapters.grid.forecast import FlexNeed, GridForecaster, PointState, ReportRow
from adapters.grid.model import ISPS_PER_DAY
from clearing.messages import Direction, DPrognosis, FlexOrder, FlexRequest, RequestIsp
from clearing.units import payment_units_ceil
from market.agents.common import MarketSession, call, derived_id

_SIGN = {"UP": 1, "DOWN": -1}


class DsoAgentError(ValueError):
    """A session that does not fit the forecast day."""


@dataclass(frozen=True)
class DsoConfig:
    """The DSO's economics: the cost of its alternative (e.g. curtailment, load shedding or
    reinforcement per MWh) caps the price; ``headroom_pct`` widens max_power_w above need."""

    max_price_per_mwh: int = 250_000_000  # 250 EUR/MWh
    headroom_pct: int = 25
    all_or_nothing: bool = False


class DsoAgent:
    """Runs the grid forecast for one session and turns violations into requests."""

    def __init__(
        self,
        *,
        forecaster: GridForecaster,
        session: MarketSession,
        config: DsoConfig | None = None,
        first_isp: int | None = None,
    ) -> None:
        if session.isp_s != 900:
            raise DsoAgentError(f"isp_s: grid profiles are 900 s ISPs, got {session.isp_s}")
        if first_isp is None:
            start = dt.datetime.fromtimestamp(session.start_unix, dt.UTC)
            first_isp = (start.hour * 3600 + start.minute * 60 + start.second) // 900
        if first_isp + session.n_isps > ISPS_PER_DAY:
            raise DsoAgentError(
                f"session: ISPs {first_isp}..{first_isp + session.n_isps - 1} leave the day"
            )
        self.forecaster = forecaster
        self.session = session
        self.config = config or DsoConfig()
        self.first_isp = first_isp
        self.needs: list[FlexNeed] = []
        self.unresolved: list[FlexNeed] = []
        self.states: dict[int, dict[str, PointState]] = {}

    def day_isp(self, isp_index: int) -> int:
        """The profile-day ISP of a session ISP index."""
        return self.first_isp + isp_index

    def ev_load_from_prognoses(
        self, prognoses: Sequence[DPrognosis]
    ) -> dict[int, dict[int, float]]:
        """FSP baselines (per point) spread over the point's buses, keyed by day ISP."""
        per_cp: dict[str, dict[int, int]] = defaultdict(dict)
        for prog in prognoses:
            for item in prog.isps:
                day = self.day_isp(item.isp_index)
                per_cp[prog.congestion_point][day] = (
                    per_cp[prog.congestion_point].get(day, 0) + item.power_w
                )
        return self.forecaster.spread(per_cp)

    def forecast(
        self, ev_load_w: Mapping[int, Mapping[int, float]] | None = None
    ) -> list[FlexNeed]:
        """Power flow per session ISP; the flexibility each violation needs."""
        isps = range(self.first_isp, self.first_isp + self.session.n_isps)
        self.needs, self.states = self.forecaster.needs(isps, ev_load_w)
        return self.needs

    def requests(
        self, ev_load_w: Mapping[int, Mapping[int, float]] | None = None, revision: int = 0
    ) -> list[FlexRequest]:
        """One FlexRequest per congestion point and direction with violations.

        min_power_w = the power the power flow needs; max_power_w adds ``headroom_pct``;
        budget = needed energy x max price (rounded up, the DSO reserves enough).
        """
        needs = self.forecast(ev_load_w)
        # flexibility at the point cannot clear these (e.g. a fault far from any connection):
        # they are kept for the operator instead of becoming absurd requests
        self.unresolved = [n for n in needs if not n.resolved]
        grouped: dict[tuple[str, Direction], list[FlexNeed]] = defaultdict(list)
        for need in needs:
            if not need.resolved:
                continue
            direction: Direction = "UP" if need.power_w > 0 else "DOWN"
            grouped[(need.cp_id, direction)].append(need)
        out = []
        price = self.config.max_price_per_mwh
        for (cp_id, direction), items in sorted(grouped.items()):
            isps = []
            energy_ws = 0
            for need in sorted(items, key=lambda n: n.isp):
                power = abs(need.power_w)
                high = power + -(-power * self.config.headroom_pct // 100)
                isps.append(
                    RequestIsp(
                        isp_index=need.isp - self.first_isp,
                        disposition="Requested",
                        min_power_w=power,
                        max_power_w=high,
                    )
                )
                energy_ws += power * self.session.isp_s
            budget = payment_units_ceil(-(-energy_ws // 3600), price)
            out.append(
                FlexRequest(
                    request_id=derived_id(
                        "request", self.session.session_id, cp_id, direction, revision
                    ),
                    session_id=self.session.session_id,
                    congestion_point=cp_id,
                    direction=direction,
                    revision=revision,
                    expires_at=self.session.gate_closure_unix,
                    max_price_per_mwh=price,
                    budget_units=budget,
                    all_or_nothing=self.config.all_or_nothing,
                    isps=tuple(isps),
                )
            )
        return out

    def delivered_from_orders(self, orders: Sequence[FlexOrder]) -> dict[str, dict[int, int]]:
        """Signed ordered power (+ UP) per congestion point and day ISP."""
        out: dict[str, dict[int, int]] = defaultdict(dict)
        for order in orders:
            sign = _SIGN[order.direction]
            for item in order.isps:
                day = self.day_isp(item.isp_index)
                out[order.congestion_point][day] = (
                    out[order.congestion_point].get(day, 0) + sign * item.power_w
                )
        return dict(out)

    def report(
        self,
        delivered_w: Mapping[str, Mapping[int, int]],
        ev_load_w: Mapping[int, Mapping[int, float]] | None = None,
    ) -> list[ReportRow]:
        """Before vs after per congestion point and ISP, for every ISP that had a violation
        or a delivery. ``delivered_w``: cp -> day ISP -> signed W (+ UP)."""
        isps = {n.isp for n in self.needs}
        for per_isp in delivered_w.values():
            isps.update(per_isp)
        up = self.forecaster.spread(delivered_w)
        return self.forecaster.before_after(sorted(isps), up, ev_load_w)

    async def post_requests(
        self, client: object, ev_load_w: Mapping[int, Mapping[int, float]] | None = None
    ) -> list[FlexRequest]:
        """Forecast, then post every request through the signed client."""
        requests = self.requests(ev_load_w)
        for req in requests:
            await call(client, "post_request", req)
        return requests
