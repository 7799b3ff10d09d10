"""Typed Python client of the market API: signs every write (EIP-712) and sends it.

Agents, replays and the API benchmark use exactly this client. Errors come back as
``ApiError`` carrying the RFC 9457 problem (type, status, field, detail). Answers are
untrusted input: larger than ``MAX_ANSWER_BYTES`` or nested deeper than ``MAX_ANSWER_DEPTH``
they raise ``UnsafeAnswer`` before any JSON parser sees them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, cast

import httpx
from pydantic import BaseModel

from clearing.json_limits import JsonLimitError, check_json
from clearing.messages import DPrognosis, FlexOffer, FlexRequest
from market.api.problems import PROBLEM_BASE
from market.api.schemas import (
    AssetCreate,
    CongestionPointCreate,
    DispatchAckCreate,
    DispatchStatusCreate,
    MeterReadingCreate,
    ParticipantCreate,
    SessionCreate,
    StationStatusCreate,
)
from market.auth import eip712, siwe
from market.bundles import offer_tree
from market.event_stream import MarketEventMessage, follow


class ApiError(Exception):
    """A problem+json answer from the market API."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.type = str(problem.get("type", ""))
        self.slug = self.type.removeprefix(PROBLEM_BASE)
        self.field = problem.get("field")
        super().__init__(f"{status} {self.slug}: {problem.get('detail', '')}")


MAX_ANSWER_BYTES = 256 * 1024 * 1024  # the biggest answers are delivery bundles of big days
MAX_ANSWER_DEPTH = 64


class UnsafeAnswer(JsonLimitError):
    """An answer refused before parsing: its JSON is too deep or it is too large."""


def _refuse_large(response: httpx.Response) -> None:
    """Response hook: refuse from Content-Length, before the body is read into memory."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        response.close()
        raise UnsafeAnswer(
            "too_large",
            MAX_ANSWER_BYTES,
            f"{response.request.method} {response.request.url.path}: answer of {declared} "
            f"bytes is larger than {MAX_ANSWER_BYTES} bytes",
        )


def _json(response: httpx.Response) -> Any:
    """The answer's JSON, checked for size and depth first."""
    try:
        check_json(response.content, max_depth=MAX_ANSWER_DEPTH, max_bytes=MAX_ANSWER_BYTES)
    except JsonLimitError as exc:
        where = f"{response.request.method} {response.request.url.path}"
        raise UnsafeAnswer(exc.reason, exc.limit, f"{where}: {exc}") from exc
    return response.json()


def _dump(body: BaseModel | dict[str, Any]) -> dict[str, Any]:
    return body.model_dump(mode="json") if isinstance(body, BaseModel) else body


class MarketClient:
    """One participant's connection to the market (a key is needed only for writes)."""

    def __init__(
        self,
        base_url: str,
        private_key: str | None = None,
        *,
        http_client: httpx.Client | None = None,
        timeout_s: float = 30.0,
        message_ttl_s: int = 600,
        now: Any = time.time,
    ) -> None:
        # ``http_client`` lets tests pass e.g. starlette's TestClient (in-process ASGI).
        self._http = http_client or httpx.Client(
            base_url=base_url, timeout=timeout_s, event_hooks={"response": [_refuse_large]}
        )
        self.private_key = private_key
        self.address = eip712.address_of(private_key) if private_key else None
        self.message_ttl_s = message_ttl_s
        self._now = now
        self._info: dict[str, Any] | None = None
        self.token: str | None = None
        self._isp_s: dict[str, int] = {}  # session id -> ISP length (s), never changes

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MarketClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plumbing ----------------------------------------------------------------------

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            try:
                problem = _json(response)
                if not isinstance(problem, dict):
                    raise ValueError("not a problem document")
            except UnsafeAnswer:
                raise
            except ValueError:
                problem = {"detail": response.text}
            raise ApiError(response.status_code, problem)
        return response

    def _get(self, path: str, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        clean = {k: v for k, v in params.items() if v is not None}
        return _json(self._check(self._http.get(path, params=clean, headers=headers)))

    def _get_object(self, path: str, **params: Any) -> dict[str, Any]:
        """A GET whose documented answer is one JSON object."""
        return cast(dict[str, Any], self._get(path, **params))

    def _get_objects(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """A GET whose documented answer is a JSON array of objects."""
        return cast(list[dict[str, Any]], self._get(path, **params))

    def market_info(self) -> dict[str, Any]:
        """EIP-712 domain and SIWE settings of the market (cached)."""
        if self._info is None:
            self._info = self._get("/market")
        return self._info

    def domain(self) -> eip712.Domain:
        info = self.market_info()
        return eip712.Domain(info["chain_id"], info["market_address"])

    def sign(
        self,
        kind: str,
        body: BaseModel | dict[str, Any],
        *,
        message_id: str | None = None,
        expiry: int | None = None,
    ) -> dict[str, Any]:
        """A signed envelope for ``body`` (not sent)."""
        if self.private_key is None:
            raise ValueError("private_key: this client was created without a signing key")
        dumped = _dump(body)
        return eip712.sign_message(
            self.domain(),
            self.private_key,
            kind=kind,
            body=dumped,
            expiry=expiry if expiry is not None else int(self._now()) + self.message_ttl_s,
            message_id=message_id,
            isp_s=self.isp_s_of(dumped.get("session_id")) if kind == "offer" else None,
        )

    def isp_s_of(self, session_id: Any) -> int | None:
        """A session's ISP length (an offer's summary shows its energy in Wh), read once;
        None for a session the market does not know (it refuses such an offer anyway)."""
        if not isinstance(session_id, str):
            return None
        if session_id not in self._isp_s:
            try:
                self._isp_s[session_id] = int(self.session(session_id)["isp_s"])
            except ApiError as exc:
                if exc.status != 404:
                    raise
                return None
        return self._isp_s[session_id]

    def send_envelope(self, path: str, envelope: dict[str, Any]) -> dict[str, Any]:
        return cast(dict[str, Any], _json(self._check(self._http.post(path, json=envelope))))

    def send(
        self,
        path: str,
        kind: str,
        body: BaseModel | dict[str, Any],
        *,
        message_id: str | None = None,
        expiry: int | None = None,
    ) -> dict[str, Any]:
        """Sign and POST; returns the stored resource (the first result on a replayed id)."""
        return self.send_envelope(path, self.sign(kind, body, message_id=message_id, expiry=expiry))

    # ---- signed writes -------------------------------------------------------------------

    def create_session(self, body: SessionCreate, **kw: Any) -> dict[str, Any]:
        return self.send("/sessions", "session", body, **kw)

    def register_participant(self, body: ParticipantCreate, **kw: Any) -> dict[str, Any]:
        return self.send("/participants", "participant", body, **kw)

    def create_congestion_point(self, body: CongestionPointCreate, **kw: Any) -> dict[str, Any]:
        return self.send("/congestion-points", "congestion_point", body, **kw)

    def register_asset(self, body: AssetCreate, **kw: Any) -> dict[str, Any]:
        return self.send("/assets", "asset", body, **kw)

    def report_station_status(self, body: StationStatusCreate, **kw: Any) -> dict[str, Any]:
        """Stations' OCPP status as the FSP's CSMS sees them (kind ``station_status``)."""
        return self.send("/station-status", "station_status", body, **kw)

    def station_status(self, fsp: str | None = None) -> list[dict[str, Any]]:
        """The latest reported status of each station (of one FSP with ``fsp``)."""
        return self._get_objects("/station-status", fsp=fsp)

    def post_request(self, body: FlexRequest, **kw: Any) -> dict[str, Any]:
        return self.send("/requests", "request", body, **kw)

    def post_prognosis(self, body: DPrognosis, **kw: Any) -> dict[str, Any]:
        return self.send("/prognoses", "prognosis", body, **kw)

    def post_offer(
        self, body: FlexOffer, *, proof: dict[str, str] | None = None, **kw: Any
    ) -> dict[str, Any]:
        """``proof``: a UFTP offer's proof (``market.uftp.proof.OfferProof``), beside the body."""
        if proof is None:
            return self.send("/offers", "offer", body, **kw)
        return self.send_envelope("/offers", {**self.sign("offer", body, **kw), "proof": proof})

    def post_meter_reading(self, body: MeterReadingCreate, **kw: Any) -> dict[str, Any]:
        return self.send("/meter-readings", "meter_reading", body, **kw)

    def report_dispatch(self, body: DispatchStatusCreate, **kw: Any) -> dict[str, Any]:
        return self.send("/dispatch", "dispatch_status", body, **kw)

    # ---- sign-in and private reads -----------------------------------------------------------

    def sign_in(self) -> str:
        """Sign-In with Ethereum; the token is kept and sent on every later read."""
        if self.private_key is None or self.address is None:
            raise ValueError("private_key: this client was created without a signing key")
        info = self.market_info()
        nonce = self._get("/auth/nonce")["nonce"]
        from eth_utils.address import to_checksum_address

        text = siwe.build_message(
            domain=info["siwe_domain"],
            address=to_checksum_address(self.address),
            uri=info["siwe_uri"],
            chain_id=info["chain_id"],
            nonce=nonce,
            now=self._now(),
        )
        answer = _json(
            self._check(
                self._http.post(
                    "/auth/siwe",
                    json={"message": text, "signature": siwe.sign_text(self.private_key, text)},
                )
            )
        )
        self.token = answer["token"]
        return self.token

    def sign_out(self) -> None:
        """Revoke the session token on the server (every API process refuses it after)."""
        if self.token is not None:
            headers = {"Authorization": f"Bearer {self.token}"}
            self._check(self._http.post("/auth/signout", headers=headers))
            self.token = None

    def offers(self, session_id: str, fsp: str | None = None) -> list[dict[str, Any]]:
        return self._get_objects(f"/sessions/{session_id}/offers", fsp=fsp)

    def offer(self, offer_id: str) -> dict[str, Any]:
        return self._get_object(f"/offers/{offer_id}")

    def receipts(self, session_id: str) -> list[dict[str, Any]]:
        return self._get_objects(f"/sessions/{session_id}/receipts")

    # ---- public reads -----------------------------------------------------------------------

    def session(self, session_id: str) -> dict[str, Any]:
        return self._get_object(f"/sessions/{session_id}")

    def sessions(self, state: str | None = None) -> list[dict[str, Any]]:
        return self._get_objects("/sessions", state=state)

    def participants(self) -> list[dict[str, Any]]:
        return self._get_objects("/participants")

    def congestion_points(self) -> list[dict[str, Any]]:
        return self._get_objects("/congestion-points")

    def assets(self, owner: str | None = None) -> list[dict[str, Any]]:
        return self._get_objects("/assets", owner=owner)

    def requests(self, session_id: str) -> list[dict[str, Any]]:
        return self._get_objects(f"/sessions/{session_id}/requests")

    def prognoses(self, session_id: str) -> list[dict[str, Any]]:
        return self._get_objects(f"/sessions/{session_id}/prognoses")

    def orders(self, session_id: str, fsp: str | None = None) -> list[dict[str, Any]]:
        return self._get_objects(f"/sessions/{session_id}/orders", fsp=fsp)

    def dispatch(self, session_id: str) -> list[dict[str, Any]]:
        return self._get_objects(f"/sessions/{session_id}/dispatch")

    def settlements(self, session_id: str, fsp: str | None = None) -> list[dict[str, Any]]:
        return self._get_objects(f"/sessions/{session_id}/settlements", fsp=fsp)

    def meter_readings(self, station_id: str | None = None) -> list[dict[str, Any]]:
        return self._get_objects("/meter-readings", station_id=station_id)

    def bundle(self, session_id: str, kind: str) -> bytes:
        """A published bundle's exact bytes (hash them to compare with the chain)."""
        return self._check(self._http.get(f"/sessions/{session_id}/bundles/{kind}")).content

    # ---- settlement: disputes and the clearing house -----------------------------------------

    def post_dispute_evidence(
        self, session_id: str, readings: Sequence[Any], *, reason: str = "", **kw: Any
    ) -> dict[str, Any]:
        """Evidence for a dispute (after ``dispute`` on-chain): own signed meter readings."""
        body = {
            "session_id": session_id,
            "reason": reason,
            "readings": [_dump(r) for r in readings],
        }
        return self.send(
            f"/sessions/{session_id}/disputes/evidence", "dispute_evidence", body, **kw
        )

    def post_readings_digests(
        self, session_id: str, digests: Sequence[Any], **kw: Any
    ) -> dict[str, Any]:
        """A CPO's signed readings digests of its stations for a session."""
        body = {"session_id": session_id, "digests": [_dump(d) for d in digests]}
        return self.send(f"/sessions/{session_id}/readings-digests", "readings_digests", body, **kw)

    def post_revenue_contract(self, signed_contract: Any, **kw: Any) -> dict[str, Any]:
        """A revenue-sharing contract signed by all its parties (sent by its FSP)."""
        return self.send("/clearing-house/contracts", "revenue_contract", signed_contract, **kw)

    def post_contributions(
        self, session_id: str, contributions: Sequence[Any], *, nonce: int = 0, **kw: Any
    ) -> dict[str, Any]:
        """An FSP's signed contributions of a session; a greater ``nonce`` replaces its
        previous post (0 is left out of the body, as before nonces existed)."""
        body: dict[str, Any] = {
            "session_id": session_id,
            "contributions": [_dump(c) for c in contributions],
        }
        if nonce:
            body["nonce"] = nonce
        return self.send("/clearing-house/contributions", "user_contributions", body, **kw)

    def disputes(self, session_id: str) -> dict[str, Any]:
        return self._get_object(f"/sessions/{session_id}/disputes")

    def resolution_bundle(self, session_id: str) -> bytes:
        """The arbiter's corrected delivery bundle, byte-exact."""
        path = f"/sessions/{session_id}/disputes/resolution/bundle"
        return self._check(self._http.get(path)).content

    def netted_periods(self, participant: str | None = None) -> list[str]:
        """The periods (session ids) the clearing house netted (public), or those holding a
        statement of ``participant``."""
        params = {"participant": participant} if participant else None
        return [str(p) for p in _json(self._check(self._http.get("/statements", params=params)))]

    def statement(self, period: str, *, fmt: str = "json", participant: str | None = None) -> Any:
        """Own statement of a period (sign in first): dict for json, text for csv / xml."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        params = {"format": fmt, **({"participant": participant} if participant else {})}
        resp = self._check(self._http.get(f"/statements/{period}", params=params, headers=headers))
        return _json(resp) if fmt == "json" else resp.text

    def dso_statement(self, period: str, *, fmt: str = "json", dso: str | None = None) -> Any:
        """A DSO's statement of a session id or a month ``YYYY-MM`` (sign in first): dict for
        json, text for csv / xml; ``dso`` is for the operator reading another's."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        params = {"format": fmt, **({"dso": dso} if dso else {})}
        resp = self._check(
            self._http.get(f"/dso-statements/{period}", params=params, headers=headers)
        )
        return _json(resp) if fmt == "json" else resp.text

    def earnings(self, period: str, ev_user: str | None = None) -> list[dict[str, Any]]:
        return self._get_objects(f"/statements/{period}/earnings", ev_user=ev_user)

    # ---- deployment ------------------------------------------------------------------------

    def post_commitment(self, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Hand an EIP-712-signed offer commitment to the operator's relay (the signature is
        the authentication: the body is not wrapped in a signed envelope)."""
        return self.send_envelope(f"/sessions/{session_id}/commitments", body)

    def commitments(self, session_id: str) -> list[dict[str, Any]]:
        return self._get_objects(f"/sessions/{session_id}/commitments")

    def deployment(self) -> dict[str, Any]:
        """Chain id, contract addresses, deploy block and ABI hashes (``GET /deployment``)."""
        return self._get_object("/deployment")

    def abi(self, contract: str) -> list[dict[str, Any]]:
        """One contract's ABI (``FlexMarket``, ``SettlementToken`` or ``FlexPositions``)."""
        return self._get_objects(f"/deployment/abi/{contract}")

    # ---- events and dispatch -----------------------------------------------------------------

    def follow_events(
        self,
        *,
        after: int = 0,
        session_id: str | None = None,
        fsp: str | None = None,
        reconnect: bool = True,
    ) -> Iterator[MarketEventMessage]:
        """``GET /events`` after event id ``after``, live, resuming by id after a disconnect."""
        return follow(self._http, after=after, session_id=session_id, fsp=fsp, reconnect=reconnect)

    def ack_dispatch(self, session_id: str, order_ids: Sequence[str], **kw: Any) -> dict[str, Any]:
        """Take over dispatch of own orders (kind ``dispatch_ack``); answers those acknowledged."""
        body = DispatchAckCreate(session_id=session_id, order_ids=list(order_ids))
        return self.send(f"/sessions/{session_id}/dispatch-acks", "dispatch_ack", body, **kw)

    def dispatch_acks(self, session_id: str) -> list[dict[str, Any]]:
        """Per FSP: its orders acknowledged for dispatch and those not (yet)."""
        return self._get_objects(f"/sessions/{session_id}/dispatch-acks")

    # ---- request drafts (a DSO gateway in manual approval) -----------------------------------

    def post_request_draft(self, body: BaseModel | dict[str, Any], **kw: Any) -> dict[str, Any]:
        """Draft a request for the DSO's approval (kind ``request_draft``; nothing escrowed)."""
        return self.send("/request-drafts", "request_draft", body, **kw)

    def request_drafts(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """The signed-in DSO's drafts with their status (needs :meth:`sign_in`)."""
        return self._get_objects("/request-drafts", session_id=session_id)

    def decide_request_draft(
        self, draft_id: str, decision: str, note: str = "", **kw: Any
    ) -> dict[str, Any]:
        """Approve or reject an own draft (kind ``request_draft_decision``)."""
        body = {"draft_id": draft_id, "decision": decision, "note": note}
        return self.send(
            f"/request-drafts/{draft_id}/{decision}", "request_draft_decision", body, **kw
        )


def offer_commitment(offers: Sequence[FlexOffer]) -> tuple[bytes, int]:
    """(root, count) an FSP commits on-chain for its offers of one session."""
    tree = offer_tree((o.offer_id, o.to_canonical()) for o in offers)
    return tree.root, len(offers)
