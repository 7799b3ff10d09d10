"""The FSP agent (EMSP / EV-fleet operator): baseline prognosis, offers from the envelope,
disaggregation of orders into per-EVSE schedules, and user incentives.

The computing part is pure (:class:`FspAgent` methods return messages and plans); the
market part is :meth:`FspAgent.submit` / :meth:`FspAgent.fetch_orders`, which only pass
those messages to the signed client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from clearing.messages import (
    BaselineIsp,
    DPrognosis,
    FlexOffer,
    FlexOfferOption,
    FlexOrder,
    FlexRequest,
    IspPower,
)
from clearing.units import PPM, payment_units
from market.agents.common import MarketSession, as_message, call, derived_id
from market.agents.fleet import (
    EV,
    EvFrame,
    FleetPolicy,
    Portfolio,
    PreferenceIssue,
    build_portfolio,
)
from market.agents.flex_lp import (
    BlockOption,
    Disaggregation,
    Envelope,
    RequirementMiss,
    Schedules,
    Setpoint,
    Shortfall,
    best_block,
    disaggregate,
    envelope,
)

_SIGN = {"UP": 1, "DOWN": -1}


@dataclass(frozen=True)
class PricingConfig:
    """Offer price = degradation per kWh cycled + user compensation + margin (all integers).

    ``degradation_per_kwh_units`` is token minor units per kWh discharged; the other two are
    per MWh of flexibility. ``shapes`` are the block shapes offered as exclusive options.
    """

    degradation_per_kwh_units: int = 60_000  # 0.06 EUR per kWh cycled
    user_compensation_per_mwh: int = 30_000_000  # 30 EUR/MWh floor paid to users
    margin_per_mwh: int = 10_000_000
    min_activation_ppm: int = 100_000
    shapes: tuple[str, ...] = ("shaped", "flat", "peak")


@dataclass(frozen=True)
class Incentive:
    """What one EV user earned for an order: energy shifted x the user's rate."""

    ev_id: str
    shifted_wh: int
    discharged_wh: int
    rate_per_mwh: int
    amount_units: int


@dataclass
class DispatchPlan:
    """The outcome of disaggregating the awarded orders at every congestion point."""

    schedules: Schedules
    by_point: dict[str, Disaggregation]
    shortfalls: dict[str, list[Shortfall]]
    misses: list[RequirementMiss]
    incentives: list[Incentive]


@dataclass
class _OfferRecord:
    ev_ids: tuple[str, ...]
    options: dict[str, BlockOption] = field(default_factory=dict)


class FspAgent:
    """An FSP's portfolio of EVs in one session, and what it says to the market."""

    def __init__(
        self,
        *,
        fsp_address: str,
        session: MarketSession,
        evs: Sequence[EV],
        policy: FleetPolicy | None = None,
        pricing: PricingConfig | None = None,
    ) -> None:
        self.fsp_address = fsp_address
        self.session = session
        self.policy = policy or FleetPolicy()
        self.pricing = pricing or PricingConfig()
        self.evs = list(evs)
        self.portfolio: Portfolio = build_portfolio(self.evs, session.horizon, self.policy)
        self.offer_issues: list[PreferenceIssue] = []
        self.no_offer: dict[str, str] = {}  # request id -> why :meth:`offers` made none
        self._offers: dict[str, _OfferRecord] = {}

    # ------------------------------------------------------------------ before bidding
    @property
    def preference_issues(self) -> list[PreferenceIssue]:
        """EVs whose preferences cannot be met; they are never part of an offer."""
        return list(self.portfolio.issues)

    def prognoses(self) -> list[DPrognosis]:
        """Uncontrolled-charging baseline per congestion point (W per session ISP)."""
        out = []
        for cp in self.portfolio.congestion_points:
            base = self.portfolio.baseline_w(cp)
            out.append(
                DPrognosis(
                    prognosis_id=self.prognosis_id(cp),
                    session_id=self.session.session_id,
                    fsp=self.fsp_address,
                    congestion_point=cp,
                    isps=tuple(BaselineIsp(isp_index=k, power_w=w) for k, w in enumerate(base)),
                )
            )
        return out

    def prognosis_id(self, congestion_point: str) -> str:
        return derived_id("prognosis", self.session.session_id, self.fsp_address, congestion_point)

    def envelope(self, congestion_point: str, isps: Sequence[int] | None = None) -> Envelope:
        """Max UP/DOWN deviation per ISP of the point's flexible EVs (LP per ISP)."""
        isps = list(range(self.session.n_isps)) if isps is None else list(isps)
        frames = self.portfolio.at(congestion_point, flexible_only=True)
        return envelope(frames, self.session.horizon, isps, congestion_point)

    # ------------------------------------------------------------------ offers
    def offers(self, requests: Sequence[FlexRequest]) -> list[FlexOffer]:
        """One offer per request at a point where this FSP has flexible EVs; its options are
        the block shapes of :class:`PricingConfig`, each jointly feasible by LP and never
        above the envelope. EVs whose user minimum price exceeds what the request pays are
        left out and reported in ``offer_issues``."""
        out = []
        self.offer_issues = []
        self.no_offer = {}
        for req in requests:
            offer = self._offer_for(req)
            if offer is not None:
                out.append(offer)
        return out

    def _none(self, req: FlexRequest, reason: str) -> FlexOffer | None:
        """No offer for ``req``, and why (kept in ``no_offer`` for the gateway's log)."""
        self.no_offer[req.request_id] = reason
        return None

    def _offer_for(self, req: FlexRequest) -> FlexOffer | None:
        if req.session_id != self.session.session_id:
            return self._none(req, f"request of session {req.session_id}")
        pricing = self.pricing
        ceiling = req.max_price_per_mwh - pricing.margin_per_mwh
        frames = []
        for f in self.portfolio.at(req.congestion_point, flexible_only=True):
            if f.ev.preferences.min_price_per_mwh > ceiling:
                self.offer_issues.append(
                    PreferenceIssue(
                        f.ev.ev_id,
                        "min_price_per_mwh",
                        f"user asks {f.ev.preferences.min_price_per_mwh}/MWh, request "
                        f"{req.request_id} pays at most {req.max_price_per_mwh}/MWh",
                    )
                )
                continue
            frames.append(f)
        if not frames:
            mine = sorted(self.portfolio.congestion_points)
            return self._none(
                req,
                f"no flexible EV at {req.congestion_point} (this FSP's EVs are at "
                f"{', '.join(mine) or 'no congestion point'})",
            )
        direction = _SIGN[req.direction]
        n = self.session.n_isps
        requested = [
            i
            for i in req.isps
            if i.disposition == "Requested" and i.max_power_w > 0 and i.isp_index < n
        ]
        if not requested:
            return self._none(req, "no requested ISP inside the session")
        horizon = self.session.horizon
        env = envelope(frames, horizon, [i.isp_index for i in requested], req.congestion_point)
        env_dir = env.up_w if direction > 0 else env.down_w
        caps = {i.isp_index: min(i.max_power_w, env_dir[i.isp_index]) for i in requested}
        caps = {k: v for k, v in caps.items() if v > 0}
        if not caps:
            return self._none(
                req, f"the fleet's {req.direction} envelope is 0 in every requested ISP"
            )
        record = _OfferRecord(ev_ids=tuple(f.ev.ev_id for f in frames))
        options = []
        user_rate = max(
            [pricing.user_compensation_per_mwh]
            + [f.ev.preferences.min_price_per_mwh for f in frames]
        )
        seen: set[tuple[tuple[int, int], ...]] = set()
        wanted = {i.isp_index: i.max_power_w for i in requested}
        for shape in pricing.shapes:
            if shape == "shaped":
                block = best_block(frames, horizon, direction, "shaped", caps)
            elif shape == "flat":
                # one level over every requested ISP, never above the envelope anywhere
                level_cap = max(wanted.values())
                block = best_block(
                    frames, horizon, direction, "flat", {k: env_dir[k] for k in wanted}, level_cap
                )
            elif shape == "peak":
                # one level over the ISPs that need at least half the largest request
                top = max(i.min_power_w for i in requested)
                core = {i.isp_index for i in requested if 2 * i.min_power_w >= top}
                block = best_block(
                    frames,
                    horizon,
                    direction,
                    "flat",
                    {k: env_dir[k] for k in core},
                    max(wanted[k] for k in core),
                )
            else:
                raise ValueError(f"shapes: unknown block shape {shape!r}")
            if block is None:
                continue
            block = BlockOption(
                shape, block.direction, block.power_w, block.rebound_w, block.discharge_wh
            )
            if block is None:
                continue
            block = self._verified(self._within_envelope(block, env_dir), frames)
            if block is None:
                continue
            key = tuple(sorted(block.power_w.items()))
            if key in seen or not any(block.power_w.values()):
                continue
            seen.add(key)
            price = self._price(block, horizon.isp_s, user_rate)
            if price > req.max_price_per_mwh:
                continue
            options.append(
                FlexOfferOption(
                    option_ref=shape,
                    isps=tuple(
                        IspPower(isp_index=k, power_w=w) for k, w in sorted(block.power_w.items())
                    ),
                    price_per_mwh=price,
                    min_activation_ppm=pricing.min_activation_ppm,
                    rebound=tuple(
                        IspPower(isp_index=k, power_w=w) for k, w in sorted(block.rebound_w.items())
                    ),
                )
            )
            record.options[shape] = block
        if not options:
            return self._none(req, "no block shape is feasible at or below the request's price")
        offer_id = derived_id("offer", self.session.session_id, self.fsp_address, req.request_id)
        self._offers[offer_id] = record
        return FlexOffer(
            offer_id=offer_id,
            session_id=self.session.session_id,
            fsp=self.fsp_address,
            request_id=req.request_id,
            congestion_point=req.congestion_point,
            direction=req.direction,
            baseline_ref=self.prognosis_id(req.congestion_point),
            expires_at=self.session.gate_closure_unix,
            options=tuple(options),
        )

    @staticmethod
    def _within_envelope(block: BlockOption, env_dir: dict[int, int]) -> BlockOption:
        """Clip to the envelope; the LP already respects it, this guards rounding."""
        clipped = {k: min(w, env_dir.get(k, 0)) for k, w in block.power_w.items()}
        if block.shape in ("flat", "peak"):
            level = min(clipped.values())
            clipped = dict.fromkeys(clipped, level)
        return BlockOption(
            block.shape, block.direction, clipped, block.rebound_w, block.discharge_wh
        )

    def _verified(self, block: BlockOption, frames: list[EvFrame]) -> BlockOption | None:
        """Prove the whole-watt block deliverable by the disaggregation LP itself; shave 1 %
        until it is (integers only ever round toward promising less)."""
        for _ in range(5):
            order = {k: block.direction * w for k, w in block.power_w.items()}
            result = disaggregate(frames, self.session.horizon, order)
            if not result.shortfalls and not result.misses:
                return block
            shaved = {k: w * 99 // 100 for k, w in block.power_w.items()}
            if not any(shaved.values()):
                return None
            block = BlockOption(
                block.shape, block.direction, shaved, block.rebound_w, block.discharge_wh
            )
        return None

    def _price(self, block: BlockOption, isp_s: int, user_rate: int) -> int:
        """Price per MWh in integers, rounded up (the FSP never sells below its costs):
        degradation per kWh x discharged Wh / flexibility Wh, + user rate + margin."""
        flex_ws = sum(block.power_w.values()) * isp_s  # W·s; flex Wh = flex_ws / 3600
        degradation = 0
        if block.discharge_wh > 0 and flex_ws > 0:
            per_mwh = self.pricing.degradation_per_kwh_units * 1000
            degradation = -(-per_mwh * block.discharge_wh * 3600 // flex_ws)
        return degradation + user_rate + self.pricing.margin_per_mwh

    # ------------------------------------------------------------------ after award
    def dispatch(
        self, orders: Sequence[FlexOrder], fleet_now: Sequence[EV] | None = None
    ) -> DispatchPlan:
        """Disaggregate the orders (per point) into per-EVSE schedules.

        ``fleet_now`` is the fleet as it is at dispatch; EVs bid with but gone now, or
        leaving earlier than planned, are named as the cause of any shortfall.
        """
        horizon = self.session.horizon
        now = (
            build_portfolio(list(fleet_now), horizon, self.policy)
            if fleet_now is not None
            else self.portfolio
        )
        targets: dict[str, dict[int, int]] = {}
        bid_evs: dict[str, set[str]] = {}
        for order in orders:
            if (
                order.fsp.lower() != self.fsp_address.lower()
                or order.session_id != self.session.session_id
            ):
                continue
            sign = _SIGN[order.direction]
            per_isp = targets.setdefault(order.congestion_point, {})
            for item in order.isps:
                per_isp[item.isp_index] = per_isp.get(item.isp_index, 0) + sign * item.power_w
            record = self._offers.get(order.offer_id)
            ids = (
                record.ev_ids
                if record
                else tuple(
                    f.ev.ev_id
                    for f in self.portfolio.at(order.congestion_point, flexible_only=True)
                )
            )
            bid_evs.setdefault(order.congestion_point, set()).update(ids)
        schedules: Schedules = {}
        by_point: dict[str, Disaggregation] = {}
        shortfalls: dict[str, list[Shortfall]] = {}
        misses: list[RequirementMiss] = []
        incentives: list[Incentive] = []
        for cp in now.congestion_points + sorted(set(targets) - set(now.congestion_points)):
            ordered = targets.get(cp, {})
            present = {f.ev.ev_id: f for f in now.at(cp)}
            flexible = [present[i] for i in sorted(bid_evs.get(cp, set())) if i in present]
            flexible = [f for f in flexible if f.ev.ev_id in set(now.flexible_ids)]
            causes = self._changes(cp, bid_evs.get(cp, set()), present)
            result = disaggregate(flexible, horizon, ordered, missing_causes=causes)
            by_point[cp] = result
            if result.shortfalls:
                shortfalls[cp] = result.shortfalls
            misses.extend(result.misses)
            schedules.update(result.schedules())
            incentives.extend(self._incentives(result, ordered, present))
            # EVs not taking part keep their baseline (uncontrolled) charging
            for ev_id, f in present.items():
                if ev_id in result.power_w:
                    continue
                schedules[f.ev.evse] = [
                    Setpoint(horizon.isp_start(k), horizon.isp_s, p)
                    for k, p in enumerate(f.baseline_w)
                ]
        return DispatchPlan(schedules, by_point, shortfalls, misses, incentives)

    def _changes(self, cp: str, bid_ids: set[str], present: dict[str, EvFrame]) -> list[str]:
        causes = []
        for ev_id in sorted(bid_ids):
            if ev_id not in present:
                causes.append(f"EV {ev_id} left before delivery (not plugged at dispatch)")
                continue
            before = self.portfolio.frames.get(ev_id)
            if before is None:
                continue
            now = present[ev_id]
            if sum(now.plugged) < sum(before.plugged):
                causes.append(f"EV {ev_id} plugged for fewer ISPs than at bidding")
            elif now.soc0 < before.soc0:
                causes.append(f"EV {ev_id} has less SoC than at bidding")
        return causes

    def _incentives(
        self, result: Disaggregation, ordered: dict[int, int], present: dict[str, EvFrame]
    ) -> list[Incentive]:
        """Energy shifted in the ordered ISPs (|scheduled - baseline|) x the user's rate."""
        out = []
        isp_s = self.session.isp_s
        for ev_id, powers in result.power_w.items():
            f = present[ev_id]
            shifted_ws = sum(abs(powers[k] - f.baseline_w[k]) * isp_s for k in ordered)
            discharged_ws = sum(max(0, -p) * isp_s for p in powers)
            shifted_wh = shifted_ws // 3600
            rate = max(f.ev.preferences.min_price_per_mwh, self.pricing.user_compensation_per_mwh)
            out.append(
                Incentive(
                    ev_id=ev_id,
                    shifted_wh=shifted_wh,
                    discharged_wh=discharged_ws // 3600,
                    rate_per_mwh=rate,
                    amount_units=payment_units(shifted_wh, rate),
                )
            )
        return out

    @staticmethod
    def order_power(order: FlexOrder) -> dict[int, int]:
        """Signed ordered deviation per ISP (+ UP)."""
        sign = _SIGN[order.direction]
        return {i.isp_index: sign * i.power_w for i in order.isps}

    # ------------------------------------------------------------------ transport
    async def submit(
        self, client: object, requests: Sequence[FlexRequest] | None = None
    ) -> list[FlexOffer]:
        """Send the prognoses, then offers for ``requests`` (default: the session's open
        requests read from the market) through the signed client."""
        for prognosis in self.prognoses():
            await call(client, "post_prognosis", prognosis)
        if requests is None:
            rows = await call(client, "requests", self.session.session_id)
            requests = [as_message(FlexRequest, row) for row in rows]
        offers = self.offers(requests)
        for offer in offers:
            await call(client, "post_offer", offer)
        return offers

    async def fetch_and_dispatch(
        self, client: object, fleet_now: Sequence[EV] | None = None
    ) -> DispatchPlan:
        """Fetch this FSP's orders of the session from the market and disaggregate them."""
        rows = await call(client, "orders", self.session.session_id, self.fsp_address)
        return self.dispatch([as_message(FlexOrder, row) for row in rows], fleet_now)


def activation_scaled(option_w: int, activation_ppm: int) -> int:
    """Ordered W of an option activated at ``activation_ppm`` (floor, as the clearing does)."""
    return option_w * activation_ppm // PPM
