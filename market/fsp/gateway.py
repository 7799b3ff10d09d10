"""The FSP gateway's loop: bid, verify and dispatch orders, relay readings, withdraw, share.

Why passes over its own store: each step first reads what the store says was done (offers,
orders and their checks, schedules, acks, outbox rows, withdrawals), so a gateway killed at any
point repeats nothing that changed the market and finishes what it began. ``GET /events`` only
wakes the loop early; a pass reads the session states, so a missed event is no loss.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from adapters.ocpp.charging_needs import EvChargingNeeds
from adapters.ocpp.csms import Csms
from adapters.ocpp.orders import IspSetpoint
from clearing.bundle import ResultBundle
from clearing.encoding import hex32, uuid_to_bytes32
from clearing.messages import FlexOffer, FlexOrder
from clearing.settlement.rules import SettlementRules
from market.agents.common import as_message
from market.agents.fleet import EV
from market.agents.fsp import FspAgent
from market.api.schemas import AssetCreate
from market.client import ApiError
from market.fsp.checks import verify_orders
from market.fsp.config import FspGatewayConfig, NettingConfig
from market.fsp.consent import Purpose
from market.fsp.cpo import CpoDigests
from market.fsp.ev_store import EvUserStore
from market.fsp.fleet_state import EvseState, announced_fleet_ev, fleet, market_session
from market.fsp.netting import NettingGate, RevenueSharing, post_contracts
from market.fsp.outbox import relay
from market.fsp.sharing_queue import SharingQueue
from market.fsp.statements import build_statements, keep_itemised, write_statement_files
from market.fsp.store import GatewayStore
from market.participant.errors import ParticipantError
from market.participant.participant import CLEARED_STATES, Participant, api_step, once

Log = Callable[[dict[str, Any]], None]

_DISPATCH_STATE = {"Accepted": "ACCEPTED", "Confirmed": "ACCEPTED", "Pending": "SENT"}


def json_log(event: dict[str, Any]) -> None:
    """One JSON object per line on stdout: what a supervisor or ``jq`` reads."""
    print(json.dumps(event, sort_keys=True, default=str), flush=True)


@dataclass
class FspGateway:
    """One FSP's gateway: its participant, its own store, its CSMS and its config."""

    cfg: FspGatewayConfig
    participant: Participant
    store: GatewayStore
    csms: Csms
    now: Callable[[], float]
    log: Log = json_log
    resent: set[str] = field(default_factory=set)  # sessions whose plan this process sent
    checked: set[str] = field(default_factory=set)  # sessions whose orders were fetched
    warned: set[tuple[str, str, str]] = field(default_factory=set)  # preference issues logged
    statements_dir: Path | None = None  # statements also written here as JSON files
    campaigned: set[str] = field(default_factory=set)  # sessions recorded as campaigns
    woken: Callable[[], bool] = lambda: False  # a market event came: relaying yields the pass
    cpo: CpoDigests | None = None  # the CSMS signing readings digests for the stations' CPO
    sharing: RevenueSharing = field(init=False)  # after dispatch, queued in the store
    gate: NettingGate = field(init=False)  # whether the market nets: share, wait, withdraw
    ev: EvUserStore = field(init=False)

    def __post_init__(self) -> None:
        self.ev = EvUserStore(self.store.engine, now=lambda: self.store.now())
        self.sharing = RevenueSharing(SharingQueue(self.store.engine, now=self.now))
        final = partial(self.store.state_since, state="FINAL")
        self.gate = NettingGate(self.cfg.netting, self.cfg.netting_wait_s, final, self.log)

    # ---- set-up -------------------------------------------------------------------------------

    def register_assets(self) -> int:
        """Register every configured EVSE (idempotent: the same message id every start)."""
        n = 0
        for sid, station in sorted(self.cfg.csms.stations.items()):
            for evse in station.evses:
                self.participant.register_asset(
                    AssetCreate(
                        asset_id=self.cfg.asset_id(sid, evse),
                        congestion_point=evse.congestion_point,
                        station_id=sid,
                        evse_id=evse.evse_id,
                        max_import_w=evse.max_import_w,
                        max_export_w=evse.max_export_w,
                        meter_public_key=station.meter_public_key,
                    )
                )
                n += 1
        return n

    # ---- the fleet ----------------------------------------------------------------------------

    def evse_states(self) -> dict[tuple[str, int], EvseState]:
        """Plugged EVSEs from the CSMS (status or a transaction) with their latest reading
        and charging needs; an EVSE the CSMS has not heard of since a restart counts as
        plugged if its latest reading in the outbox shows an SoC (an EV reported it)."""
        out: dict[tuple[str, int], EvseState] = {}
        needs_db = self.store.charging_needs()
        for sid, station in self.cfg.csms.stations.items():
            session = self.csms.sessions.get(sid)
            for evse in station.evses:
                key = (sid, evse.evse_id)
                known = session.evses.get(evse.evse_id) if session is not None else None
                last = self.csms.last_reading(sid, evse.evse_id)
                if last is None:
                    last = self.store.last_reading(sid, evse.evse_id)
                plugged = (
                    known.transaction_id is not None or known.status == "Occupied"
                    if known is not None
                    else last is not None and last.soc_pct is not None
                )
                needs = self.csms.charging_needs(sid, evse.evse_id)
                if needs is None and key in needs_db:
                    needs = EvChargingNeeds(**needs_db[key])
                out[key] = EvseState(plugged=plugged, last=last, needs=needs)
        return out

    def fleet(self, row: dict[str, Any]) -> list[EV]:
        """The session's EVs: the stays EV users announced (``ev_stays``, planned as the
        replay plans them, :func:`market.agents.stays.announced_ev`) and any other EVSE the
        CSMS sees plugged in. An EV user who has not given consent (or withdrew it) is never
        bid, whatever their preferences say; EVSEs without a user are the FSP's own."""
        sid = str(row["id"])
        start, end, now = int(row["delivery_start"]), int(row["delivery_end"]), int(self.now())
        prefs: dict[str, dict[str, Any]] = {}
        stored = self.store.all_preferences()
        consenting = self.ev.consenting(Purpose.FLEXIBILITY_BIDDING)
        for uid in self.cfg.ev_users:
            p = stored.get(uid, {})
            campaigns = p.get("campaigns") or {}
            opt_in = bool(campaigns.get(sid, p.get("opt_in", True))) and uid in consenting
            prefs[uid] = {**p, "opt_in": opt_in}
        states = self.evse_states()
        evs = [
            announced_fleet_ev(stay, states.get((stay.station, stay.evse_id)), prefs, start)
            for stay in self.cfg.ev_stays
            if stay.overlaps(start, end)
        ]
        announced = {(s.station, s.evse_id) for s in self.cfg.ev_stays}
        evs += fleet(
            self.cfg,
            {k: v for k, v in states.items() if k not in announced},
            prefs,
            now=now,
            session_start=start,
            session_end=end,
        )
        return sorted(evs, key=lambda e: e.ev_id)

    def agent(self, row: dict[str, Any]) -> FspAgent:
        """The session's agent over the fleet its bid planned (kept), else the fleet now."""
        evs = self.ev.fleet(str(row["id"]))
        return FspAgent(
            fsp_address=self.participant.address,
            session=market_session(row),
            evs=evs if evs is not None else self.fleet(row),
        )

    # ---- before gate closure ------------------------------------------------------------------

    def bid(self, row: dict[str, Any]) -> None:
        """Prognoses and offers for an OPEN session within ``offers.lead_s`` of gate closure;
        commit then submit, each step recorded so a restart resumes it."""
        sid, gate = str(row["id"]), int(row["gate_closure"])
        record = self.store.offer_record(sid)
        if record is not None and record["status"] in ("posted", "late"):
            return
        now = int(self.now())
        if now >= gate:
            if record is not None:
                self.store.set_offers(sid, "late", record["offers"], record["root"])
                self.log({"event": "bid_late", "session_id": sid, "status": record["status"]})
            else:
                self.no_bid(sid, "gate_closed", gate=gate, now=now)
            return
        if record is None:
            if gate - now > self.cfg.offers.lead_s:
                self.no_bid(sid, "before_lead", gate=gate, now=now, lead_s=self.cfg.offers.lead_s)
                return
            agent = self.agent(row)  # the fleet planned once: offers bid what the prognosis says
            if not agent.evs:
                start, end = int(row["delivery_start"]), int(row["delivery_end"])
                stays = sum(s.overlaps(start, end) for s in self.cfg.ev_stays)
                plugged = sum(s.plugged for s in self.evse_states().values())
                self.no_bid(sid, "no_ev", announced_in_delivery=stays, plugged=plugged)
                return
            self.ev.put_fleet(sid, agent.evs)
            self.ev.put_nominations(
                sid,
                {
                    (f.ev.station_id, f.ev.evse_id): list(f.baseline_w)
                    for f in agent.portfolio.frames.values()
                },
            )
            self.post_prognoses(sid, agent)
            requests = self.participant.requests(sid)
            offers = agent.offers(requests)
            for issue in [*agent.preference_issues, *agent.offer_issues]:
                key = (sid, issue.ev_id, issue.constraint)
                if key not in self.warned:  # once per session, not every pass
                    self.warned.add(key)
                    self.log({"event": "preference_issue", "session_id": sid, **issue.__dict__})
            if not offers:  # nothing to offer (yet): the next pass looks again
                self.no_bid(
                    sid,
                    "no_offer" if requests else "no_request",
                    evs=len(agent.evs),
                    requests=dict(sorted(agent.no_offer.items())),
                )
                return
            bodies = [o.model_dump(mode="json") for o in offers]
            self.store.set_offers(sid, "planned", bodies)
            record = {"status": "planned", "root": None, "offers": bodies}
        offers = [as_message(FlexOffer, b) for b in record["offers"]]
        root = record["root"]
        if record["status"] == "planned":  # the contracts first: the commitment binds their set
            sharing = self.sharing
            post_contracts(self.participant, self.cfg.netting, sharing.posted, sharing.claims())
            root = self.participant.commit_offers(offers)
            self.store.set_offers(sid, "committed", record["offers"], root)
        self.participant.post_offers(offers)
        self.store.set_offers(sid, "posted", record["offers"], root)
        self.log({"event": "offered", "session_id": sid, "offers": len(offers), "root": root})

    def no_bid(self, sid: str, reason: str, **detail: Any) -> None:
        """Say why no offer was made for ``sid`` (once per session, reason and process): a
        gateway that never bids must name its cause in its log, not leave an operator to guess."""
        key = (sid, "no_bid", reason)
        if key in self.warned:
            return
        self.warned.add(key)
        self.log({"event": "no_bid", "session_id": sid, "reason": reason, **detail})

    def post_prognoses(self, sid: str, agent: FspAgent) -> None:
        """Each congestion point's prognosis once per session (as the store records): a later
        pass, whose fleet may have changed, never re-posts it under the same message id. A
        refusal is logged once and kept; it never stops the offers."""
        for prognosis in agent.prognoses():
            cp = prognosis.congestion_point
            if self.ev.prognosis_outcome(sid, cp) is not None:
                continue
            try:
                self.participant.post_prognosis(prognosis)
            except ParticipantError as exc:
                self.ev.put_prognosis_outcome(sid, cp, f"refused: {exc.field}: {exc.reason}")
                self.log(
                    {
                        "event": "prognosis_refused",
                        "session_id": sid,
                        "congestion_point": cp,
                        "field": exc.field,
                        "reason": exc.reason,
                        "level": "error",
                    }
                )
                continue
            self.ev.put_prognosis_outcome(sid, cp, "posted")

    # ---- after clearing -----------------------------------------------------------------------

    def take_orders(self, row: dict[str, Any]) -> None:
        """Fetch own orders once per process; keep each with its check against the chain."""
        sid = str(row["id"])
        if sid in self.checked:
            return
        orders = self.participant.orders(sid)
        if orders:
            result: ResultBundle | None
            try:
                with api_step("session_id"):
                    raw = self.participant.client.bundle(sid, "result")
                result = ResultBundle.model_validate_json(raw)
            except (ParticipantError, ValueError):
                result = None
            roots = self.participant.chain.market.session_roots(uuid_to_bytes32(sid))
            if result is None or not any(roots.result_root):
                # not anchored or not published yet: nothing is kept, the next pass retries
                self.log({"event": "orders_unverifiable_yet", "session_id": sid})
                return
            checked = verify_orders(
                orders, result, hex32(roots.result_root), self.participant.address
            )
            for order, reason in checked:
                body = order.model_dump(mode="json")
                if self.store.add_order(
                    order.order_id, sid, body, verified=not reason, reason=reason
                ):
                    event = "order_verified" if not reason else "order_rejected"
                    entry = {"event": event, "session_id": sid, "order_id": order.order_id}
                    if reason:
                        entry.update(level="error", reason=reason)
                    self.log(entry)
        self.checked.add(sid)

    def plan(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """The session's schedules: the stored ones, else disaggregated now and stored."""
        sid = str(row["id"])
        stored = self.store.plan(sid)
        if stored is not None:
            return stored
        verified = [
            as_message(FlexOrder, o["body"]) for o in self.store.orders_of(sid) if o["verified"]
        ]
        result = self.agent(row).dispatch(verified)
        for cp, shortfalls in result.shortfalls.items():
            self.log(
                {
                    "event": "shortfall",
                    "session_id": sid,
                    "congestion_point": cp,
                    "shortfalls": [s.__dict__ for s in shortfalls],
                }
            )
        schedules = [
            {
                "station_id": st,
                "evse_id": evse,
                "setpoints": [[s.start_unix, s.duration_s, s.power_w] for s in points],
            }
            for (st, evse), points in sorted(result.schedules.items())
        ]
        # queued before the plan is kept (a restart that re-plans keeps the first rows), and
        # whether or not the market nets now: shared after dispatch once it does
        self.sharing.add(self.participant, self.cfg.netting or NettingConfig(), sid, result)
        self.store.set_plan(sid, schedules)
        return schedules

    async def dispatch(self, row: dict[str, Any]) -> None:
        """Send the schedules (once per process: after a restart they are sent again, as
        they were), record per (order, station), acknowledge the verified orders."""
        sid = str(row["id"])
        stored = await asyncio.to_thread(self.store.orders_of, sid)
        verified = [o for o in stored if o["verified"]]
        if not verified or int(self.now()) >= int(row["delivery_end"]):
            return
        if sid not in self.resent:
            schedules = await asyncio.to_thread(self.plan, row)
            setpoints = {
                (s["station_id"], int(s["evse_id"])): [IspSetpoint(*p) for p in s["setpoints"]]
                for s in schedules
            }
            result = await self.csms.dispatcher.dispatch(setpoints) if setpoints else {}
            self.resent.add(sid)
            await asyncio.to_thread(self._record_dispatch, sid, verified, result)
        unacked = sorted(o["order_id"] for o in verified if not o["acked"])
        if unacked:
            await asyncio.to_thread(self._ack, sid, unacked)

    def _record_dispatch(
        self, sid: str, verified: list[dict[str, Any]], result: dict[tuple[str, int], Any]
    ) -> None:
        for o in verified:
            cp = o["body"]["congestion_point"]
            for st, station in sorted(self.cfg.csms.stations.items()):
                evses = [e.evse_id for e in station.evses if e.congestion_point == cp]
                if not evses:
                    continue
                states = []
                for evse in evses:
                    isps = result.get((st, evse)) or []
                    status = str(isps[0].status) if isps else "NotPlanned"
                    states.append(f"{evse}:{status}")
                worst = {_DISPATCH_STATE.get(s.split(":", 1)[1], "FAILED") for s in states}
                state = next((x for x in ("FAILED", "SENT") if x in worst), "ACCEPTED")
                self.store.record_dispatch(
                    sid, o["order_id"], st, state, "EVSE " + ", ".join(states)
                )
        self.log({"event": "dispatched", "session_id": sid, "orders": len(verified)})

    def _ack(self, sid: str, order_ids: list[str]) -> None:
        with api_step("dispatch_ack"):
            self.participant.client.ack_dispatch(
                sid, order_ids, message_id=once("dispatch_ack", f"{sid}:{','.join(order_ids)}")
            )
        self.store.mark_acked(order_ids)
        self.log({"event": "acked", "session_id": sid, "orders": order_ids})

    # ---- after FINAL --------------------------------------------------------------------------

    def settle(self, row: dict[str, Any]) -> None:
        """Withdraw the credits once per FINAL session (netted first when the market nets:
        ``gate``); share its payout among the EVSEs by the flexibility each delivered and keep
        each EV user's statement (also under ``statements_dir``). A restart finishes it."""
        sid = str(row["id"])
        record = self.ev.payout(sid)
        if record is not None and "shares" in record:
            return
        if record is None and not self.gate.may_withdraw(self.participant, sid, self.now()):
            return  # withdrawn before the netting, the credit could not pay the netting's debits
        if record is None:
            rows = self.participant.settlements(sid)
            payout = sum(int(r.get("payout_units", 0)) for r in rows if "reserved_units" in r)
            amount, tx = self.store.withdrawn(sid), None
            if amount is None:
                credits = self.participant.chain.credits_units()
                amount, tx = self.participant.chain.withdraw_with_tx() if credits > 0 else (0, None)
                self.store.record_withdrawal(sid, amount)
            record = {"payout_units": payout, "withdrawn_units": amount, "payout_tx": tx}
            self.ev.put_payout(sid, record)
        shares = self._share(row, record)
        self.ev.put_payout(sid, {**record, "shares": shares})
        self.log(
            {
                "event": "settled",
                "session_id": sid,
                "payout_units": record["payout_units"],
                "withdrawn_units": record["withdrawn_units"],
                "shares": shares,
            }
        )

    def _share(self, row: dict[str, Any], record: dict[str, Any]) -> dict[str, int]:
        sid = str(row["id"])
        orders = [
            as_message(FlexOrder, o["body"]) for o in self.store.orders_of(sid) if o["verified"]
        ]
        rules = SettlementRules(isp_s=int(row["isp_s"]))  # no order: nothing was delivered
        order_payouts: dict[str, int] = {}
        if orders:  # the rules the settlement used, from the published delivery bundle
            with api_step("session_id"):
                report = json.loads(self.participant.client.bundle(sid, "delivery"))["report"]
            rules = SettlementRules.model_validate(report["rules"])
            order_payouts = {o["order_id"]: int(o["payout_units"]) for o in report["orders"]}
        roots = self.participant.chain.market.session_roots(uuid_to_bytes32(sid))
        keys = [(st, e.evse_id) for st, c in self.cfg.csms.stations.items() for e in c.evses]
        shares, statements = build_statements(
            self.cfg,
            session=row,
            orders=orders,
            rules=rules,
            readings={k: self.store.readings(*k) for k in keys},
            nominations=self.ev.nominations(sid),
            payout_units=int(record["payout_units"]),
            anchors={
                "delivery_root": hex32(roots.delivery_root),
                "payout_tx": record["payout_tx"],
                "withdrawn_units": record["withdrawn_units"],
                "order_payouts": order_payouts,
            },
        )
        statements = keep_itemised(statements, self.ev.consenting(Purpose.REVENUE_STATEMENTS))
        for uid, body in statements.items():
            self.store.put_statement(sid, uid, body)
        if self.statements_dir is not None:
            write_statement_files(self.statements_dir, statements)
        return {uid: shares[f"{u.station}/{u.evse_id}"] for uid, u in self.cfg.ev_users.items()}

    # ---- the pass -----------------------------------------------------------------------------

    async def run_pass(self) -> None:
        """One pass over the sessions; then relay the outbox until a market event (``woken``)
        calls for the next pass: orders must not wait seconds behind a meter interval's relay."""
        rows = await asyncio.to_thread(self.participant.sessions)
        for row in sorted(rows, key=lambda r: (int(r["gate_closure"]), str(r["id"]))):
            sid, state = str(row["id"]), str(row["state"])
            if await asyncio.to_thread(self.store.see_session, sid, state):
                self.log({"event": "session", "session_id": sid, "state": state})
                self.campaigned.discard(sid)
            if sid not in self.campaigned:
                await asyncio.to_thread(self.ev.put_campaign, row)
                self.campaigned.add(sid)
            try:
                if state == "OPEN":
                    await asyncio.to_thread(self.bid, row)
                elif state in CLEARED_STATES and state != "FINAL":
                    await asyncio.to_thread(self.take_orders, row)
                    await self.dispatch(row)
                    if self.cpo is not None:
                        await asyncio.to_thread(self.cpo.step, row, self.participant)
                elif state == "FINAL":
                    await asyncio.to_thread(self.settle, row)
            except ParticipantError as exc:
                refused = {"event": "refused", "session_id": sid, "field": exc.field}
                self.log({**refused, "reason": exc.reason, "level": "error"})
            except ApiError as exc:
                refused = {"event": "refused", "session_id": sid, "reason": str(exc)}
                self.log({**refused, "level": "error"})
        if (netting := await asyncio.to_thread(self.gate.config, self.participant)) is not None:
            await asyncio.to_thread(self.sharing.retry, self.participant, netting, self.log)
        windows = [(int(r["delivery_start"]), int(r["delivery_end"])) for r in rows]
        hold = await asyncio.to_thread(self.cpo.hold, rows) if self.cpo else None
        args = (self.store, self.participant, self.log)
        sent = await asyncio.to_thread(relay, *args, windows=windows, stop=self.woken, hold=hold)
        if sent:
            self.log({"event": "relayed", "readings": sent})
