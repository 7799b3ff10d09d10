"""A hypothesis state machine over the money path: session -> request -> offer -> clearing.

Why a state machine: operations fuzzed one by one rarely hit an id that exists, so the handlers
behind a real session (escrow checks, gate closure, clearing, orders, statements) stay dark.
Here each step links to the ids earlier steps created, with fuzzed amounts, times and roles,
and optional chain hooks escrow budgets, commit offers and move time so the worker clears.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from eth_utils.crypto import keccak
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from clearing.settlement.meter import sign_reading
from market.auth import eip712
from market.client import ApiError
from market.fuzz.identities import ANONYMOUS, ROLES, Identity, sign_in
from market.fuzz.tally import TalliedHttp

CONGESTION_POINT = "EAN-FUZZ-0001"
POWER_W = st.integers(-1_000, 2_000_000)
UNITS = st.integers(-1, 2**63)


@dataclass
class MoneyPathHooks:
    """Chain-side steps the API cannot do (all optional; each returns False when refused)."""

    escrow: Callable[[dict[str, Any]], bool] | None = None
    commit: Callable[[str, list[dict[str, Any]]], bool] | None = None
    advance: Callable[[int], None] | None = None
    # (station id, meter address): its CPO registers the key on-chain and grants it to the FSP
    station: Callable[[str, str], bool] | None = None


@dataclass
class MoneyPathContext:
    """What every step needs: the served API, the signed-in roles, the domain, the clock."""

    base_url: str
    http: TalliedHttp
    identities: dict[str, Identity]
    domain: eip712.Domain
    now: Callable[[], float]
    hooks: MoneyPathHooks = field(default_factory=MoneyPathHooks)

    def send(self, path: str, kind: str, role: str, body: dict[str, Any]) -> dict[str, Any]:
        """Sign ``body`` as ``role``, POST it, return the envelope (for replays). An offer's
        summary shows its energy in Wh, from its session's ISP length (read here)."""
        who = self.identities[role]
        assert who.private_key is not None
        isp_s = None
        if kind == "offer":
            session = self.read(f"/sessions/{body['session_id']}", "operator")
            isp_s = int(session["isp_s"]) if isinstance(session, dict) else None
        envelope = eip712.sign_message(
            self.domain,
            who.private_key,
            kind=kind,
            body=body,
            expiry=int(self.now()) + 600,
            isp_s=isp_s,
        )
        self.post(path, envelope, label=f"POST {path} ({kind} as {role})")
        return envelope

    def post(self, path: str, envelope: dict[str, Any], *, label: str) -> None:
        self.http.call("POST", path, label=label, json=envelope)

    def read(self, path: str, role: str, **params: Any) -> Any:
        who = self.identities.get(role, ANONYMOUS)
        response = self.http.call(
            "GET", path, label=f"GET {path} as {role}", token=who.token, params=params or None
        )
        return response.json() if response is not None and response.status_code == 200 else None


def _isps(n: int, low: int, high: int) -> list[dict[str, Any]]:
    return [
        {"isp_index": i, "disposition": "Requested", "min_power_w": low, "max_power_w": high}
        for i in range(n)
    ]


def money_path_machine(ctx: MoneyPathContext) -> type[RuleBasedStateMachine]:
    """A state machine class bound to ``ctx`` (hypothesis instantiates it per example)."""

    class MoneyPath(RuleBasedStateMachine):
        sessions = Bundle("sessions")
        requests = Bundle("requests")
        offers = Bundle("offers")

        @initialize()
        def market_exists(self) -> None:
            ctx.send("/participants", "participant", "operator", {"name": "Fuzz operator"})
            ctx.send(
                "/congestion-points",
                "congestion_point",
                "operator",
                {"code": CONGESTION_POINT, "name": "Fuzz feeder"},
            )

        @initialize(
            target=sessions,
            gate_in_s=st.integers(600, 3_600),
            isps=st.integers(1, 4),
            power=st.integers(1, 20_000),
            price=st.integers(1, 400_000_000),
            budget=st.integers(0, 10**9),
        )
        def first_market_day(
            self, gate_in_s: int, isps: int, power: int, price: int, budget: int
        ) -> dict[str, Any]:
            """Every run starts with one whole money path, fuzzed amounts but well-formed:
            session, escrowed request, committed offer, gate closure, clearing, reads."""
            session = cast(dict[str, Any], self.create_session(gate_in_s, 900, isps))
            request = self.post_request(
                session, budget, 400_000_000, 0, 20_000, isps, "UP", escrowed=True
            )
            offer = self.post_offer(request, power, price, 500_000, "fsp", "fsp", committed=True)
            self.time_passes(gate_in_s + 1)
            self.read_session(session, "dso", None)
            self.read_session(session, "fsp", "fsp")
            self.read_offer(offer, "operator")
            self.deliver(session, power * 900 // 3_600, tamper=False)
            self.read_session(session, "operator", None)
            return dict(session)

        @rule(
            target=sessions,
            gate_in_s=st.integers(-120, 7_200),
            isp_s=st.sampled_from([900, 300, 60, 0, 3_601]),
            isps=st.integers(0, 8),
        )
        def create_session(self, gate_in_s: int, isp_s: int, isps: int) -> dict[str, Any]:
            gate = int(ctx.now()) + gate_in_s
            body = {
                "session_id": str(uuid.uuid4()),
                "gate_closure": gate,
                "delivery_start": gate,
                "delivery_end": gate + isp_s * isps,
                "isp_s": isp_s,
                "challenge_window_s": 300,
            }
            ctx.send("/sessions", "session", "operator", body)
            if ctx.hooks.advance is not None:
                ctx.hooks.advance(0)  # the worker opens the session on-chain
            return body

        @rule(
            target=requests,
            session=sessions,
            budget=UNITS,
            price=UNITS,
            low=POWER_W,
            high=POWER_W,
            isps=st.integers(0, 6),
            direction=st.sampled_from(["UP", "DOWN", "up"]),
            escrowed=st.booleans(),
        )
        def post_request(
            self,
            session: dict[str, Any],
            budget: int,
            price: int,
            low: int,
            high: int,
            isps: int,
            direction: str,
            escrowed: bool,
        ) -> dict[str, Any]:
            body = {
                "request_id": str(uuid.uuid4()),
                "session_id": session["session_id"],
                "congestion_point": CONGESTION_POINT,
                "direction": direction,
                "revision": 1,
                "expires_at": session["gate_closure"],
                "max_price_per_mwh": price,
                "budget_units": budget,
                "all_or_nothing": False,
                "isps": _isps(isps, low, high),
            }
            if escrowed and ctx.hooks.escrow is not None:
                ctx.hooks.escrow(body)
            ctx.send("/requests", "request", "dso", body)
            return body

        @rule(
            target=offers,
            request=requests,
            power=POWER_W,
            price=UNITS,
            ppm=st.integers(-1, 1_000_001),
            signer=st.sampled_from(["fsp", "dso", "operator"]),
            claim_fsp=st.sampled_from(["fsp", "dso"]),
            committed=st.booleans(),
        )
        def post_offer(
            self,
            request: dict[str, Any],
            power: int,
            price: int,
            ppm: int,
            signer: str,
            claim_fsp: str,
            committed: bool,
        ) -> dict[str, Any]:
            isps = [{"isp_index": i["isp_index"], "power_w": power} for i in request["isps"]]
            body = {
                "offer_id": str(uuid.uuid4()),
                "session_id": request["session_id"],
                "fsp": ctx.identities[claim_fsp].address,
                "request_id": request["request_id"],
                "congestion_point": CONGESTION_POINT,
                "direction": request["direction"],
                "expires_at": request["expires_at"],
                "options": [
                    {
                        "option_ref": "full",
                        "isps": isps or [{"isp_index": 0, "power_w": power}],
                        "price_per_mwh": price,
                        "min_activation_ppm": ppm,
                    }
                ],
            }
            envelope = ctx.send("/offers", "offer", signer, body)
            if committed and ctx.hooks.commit is not None:
                ctx.hooks.commit(request["session_id"], [body])
            return envelope

        @rule(session=sessions, power=POWER_W, isps=st.integers(0, 4))
        def post_prognosis(self, session: dict[str, Any], power: int, isps: int) -> None:
            body = {
                "prognosis_id": str(uuid.uuid4()),
                "session_id": session["session_id"],
                "fsp": ctx.identities["fsp"].address,
                "congestion_point": CONGESTION_POINT,
                "isps": [{"isp_index": i, "power_w": power} for i in range(isps)],
            }
            ctx.send("/prognoses", "prognosis", "fsp", body)

        @rule(offer=offers)
        def replay_offer(self, offer: dict[str, Any]) -> None:
            """The same envelope again: idempotent, never a second row or a 5xx."""
            ctx.post("/offers", offer, label="POST /offers (replayed envelope)")

        @rule(
            session=sessions,
            role=st.sampled_from([*ROLES, "anonymous"]),
            fsp=st.sampled_from([None, "fsp", "dso"]),
        )
        def read_session(self, session: dict[str, Any], role: str, fsp: str | None) -> None:
            sid = session["session_id"]
            who = ctx.identities[fsp].address if fsp else None
            ctx.read(f"/sessions/{sid}", role)
            for part in ("requests", "prognoses", "receipts", "dispatch", "disputes"):
                ctx.read(f"/sessions/{sid}/{part}", role)
            for part in ("offers", "orders", "settlements"):
                ctx.read(f"/sessions/{sid}/{part}", role, fsp=who)
            ctx.read(f"/statements/{sid}", role)

        @rule(offer=offers, role=st.sampled_from([*ROLES, "anonymous"]))
        def read_offer(self, offer: dict[str, Any], role: str) -> None:
            ctx.read(f"/offers/{offer['body']['offer_id']}", role)

        @rule(
            session=sessions,
            wh_per_isp=st.integers(0, 50_000),
            tamper=st.booleans(),
        )
        def deliver(self, session: dict[str, Any], wh_per_isp: int, tamper: bool) -> None:
            """The FSP's station meters the delivery; once delivered, the oracle posts the signed
            readings (``tamper``: a register changed after signing, which the API refuses);
            time runs to the end of the challenge window so the worker verifies and pays."""
            if "oracle" not in ctx.identities:
                return
            sid = session["session_id"]
            station_key = "0x" + keccak(text=f"fuzz-station-{sid}").hex()
            station = f"CS-FUZZ-{sid[:8]}"
            if ctx.hooks.station is not None:  # POST /assets needs the CPO's grant
                ctx.hooks.station(station, eip712.address_of(station_key))
            ctx.send(
                "/assets",
                "asset",
                "fsp",
                {
                    "asset_id": str(uuid.uuid4()),
                    "congestion_point": CONGESTION_POINT,
                    "station_id": station,
                    "evse_id": 1,
                    "max_import_w": 22_000,
                    "max_export_w": 22_000,
                    "meter_public_key": eip712.address_of(station_key),
                },
            )
            start, isp_s = session["delivery_start"], max(1, session["isp_s"])
            ahead_s = session["delivery_end"] - int(ctx.now())
            if ctx.hooks.advance is not None and ahead_s > 0:  # posted once metered, not before
                ctx.hooks.advance(ahead_s)
            for n, t in enumerate(range(start, session["delivery_end"] + 1, isp_s)):
                signed = sign_reading(
                    station_key,
                    station=station,
                    evse=1,
                    timestamp=t,
                    import_wh=n * wh_per_isp,
                    export_wh=0,
                )
                body = {
                    "station_id": station,
                    "evse_id": 1,
                    "timestamp": t,
                    "import_wh": n * wh_per_isp + (1 if tamper else 0),
                    "export_wh": 0,
                    "signed_data": signed.payload().decode(),
                    "signature": signed.signature,
                    "public_key": eip712.address_of(station_key),
                }
                ctx.send("/meter-readings", "meter_reading", "oracle", body)
            if ctx.hooks.advance is not None:
                ctx.hooks.advance(61)  # past the meter grace: the worker verifies
                ctx.hooks.advance(session["challenge_window_s"] + 1)

        @rule(seconds=st.sampled_from([0, 60, 900, 3_600, 7_200]))
        def time_passes(self, seconds: int) -> None:
            """Gate closure, delivery and the challenge window pass; the worker clears."""
            if ctx.hooks.advance is not None:
                ctx.hooks.advance(seconds)

        @rule(role=st.sampled_from(ROLES))
        def sign_out_and_in(self, role: str) -> None:
            who = ctx.identities[role]
            ctx.http.call("POST", "/auth/signout", label="POST /auth/signout", token=who.token)
            ctx.read("/auth/failures", role)  # the revoked token: 401
            assert who.private_key is not None
            try:
                ctx.identities[role] = sign_in(ctx.base_url, role, who.private_key, ctx.now)
            except ApiError as exc:
                if exc.status != 429:
                    raise
                # the fuzzed garbage sign-ins throttled this client IP: go on anonymously
                ctx.identities[role] = Identity(role, who.private_key, who.address, None)

    return MoneyPath


def run_money_path(ctx: MoneyPathContext, *, examples: int, steps: int, seed_value: int) -> None:
    """Run ``examples`` sequences of up to ``steps`` linked steps (fixed seed)."""
    machine = seed(seed_value)(money_path_machine(ctx))
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        ),
    )
