"""What both sides of the gateway share: config, journal, the market's reads, one participant
per peer (its market key) and a signed UFTP client per peer.

Why one place: the inbound endpoint and the outbound pass act for the same peers with the same
keys; outbound UFTP messages get deterministic MessageIDs here, so a pass that is repeated
after a crash re-sends the same message, which the peer can recognise as a re-send.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shapeshifter_uftp.client import ShapeshifterAgrDsoClient, ShapeshifterDsoAgrClient
from shapeshifter_uftp.uftp import PayloadMessage

from market.client import MarketClient
from market.participant.connect import connect
from market.participant.participant import Participant
from market.uftp.config import Peer, UftpConfig
from market.uftp.convert import ConvertError, Window
from market.uftp.journal import Journal

Log = Callable[[dict[str, Any]], None]


def json_log(event: dict[str, Any]) -> None:
    """One JSON object per line on stdout."""
    print(json.dumps(event, sort_keys=True, default=str), flush=True)


def out_id(*parts: str) -> str:
    """A deterministic MessageID for an outbound message."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "flexmarket-uftp:" + ":".join(parts)))


@dataclass
class GatewayContext:
    """Shared state of one gateway process."""

    cfg: UftpConfig
    signing_key: str  # the market's UFTP Ed25519 private key (base64)
    market_keys: Mapping[tuple[str, str], str]  # (domain, role) -> the peer's market key
    journal: Journal
    log: Log = json_log
    now: Callable[[], float] = time.time  # the UFTP clock (wall time, as the peers stamp)
    timeout_s: float = 30.0
    _reader: MarketClient | None = None
    _participants: dict[tuple[str, str], Participant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def reader(self) -> MarketClient:
        """An unsigned client for the market's public reads."""
        if self._reader is None:
            self._reader = MarketClient(self.cfg.api_url, timeout_s=self.timeout_s)
        return self._reader

    def participant(self, peer: Peer) -> Participant:
        """The market participant acting for ``peer`` (connected once, with an RPC)."""
        key = (peer.domain, peer.role)
        with self._lock:
            if key not in self._participants:
                self._participants[key] = connect(
                    self.cfg.api_url,
                    self.market_keys[key],
                    rpc_url=self.cfg.rpc_url,
                    timeout_s=self.timeout_s,
                )
            return self._participants[key]

    def window(self, row: dict[str, Any]) -> Window:
        return Window.of(row, self.cfg.time_zone)

    def send(self, peer: Peer, message: PayloadMessage) -> None:
        """Sign ``message`` with the market's UFTP key and POST it to ``peer``'s endpoint in the
        role flexmarket plays towards it (DSO towards an AGR, AGR towards a DSO)."""
        cls = ShapeshifterDsoAgrClient if peer.role == "AGR" else ShapeshifterAgrDsoClient
        client = cls(
            sender_domain=self.cfg.domain,
            signing_key=self.signing_key,
            recipient_domain=peer.domain,
            recipient_endpoint=peer.endpoint,
            recipient_signing_key=peer.public_key,
        )
        client.request_timeout = int(self.timeout_s)
        client._send_message(message)
        self.log(
            {
                "event": "sent",
                "to": peer.domain,
                "kind": type(message).__name__,
                "message_id": message.message_id,
            }
        )

    def peers(self, role: str) -> list[Peer]:
        return [p for p in self.cfg.peers if p.role == role]


def send_once(
    ctx: GatewayContext,
    peer: Peer,
    key: str,
    session_id: str,
    ref: str,
    build: Callable[[], PayloadMessage],
) -> None:
    """Build and send the message ``key`` names unless it was sent (a message that cannot be
    built, e.g. a session spanning two local days, is logged and skipped)."""
    if ctx.journal.was_sent(key):
        return
    try:
        message = build()
    except ConvertError as exc:
        ctx.log({"event": "skipped", "to": peer.domain, "key": key, "reason": str(exc)})
        return
    message.message_id = out_id(key)
    message.conversation_id = message.conversation_id or out_id(key, "conversation")
    # recorded first: the peer may answer before the POST returns; undone if it fails
    ctx.journal.sent(key, str(message.message_id), peer.domain, session_id, ref)
    try:
        ctx.send(peer, message)
    except Exception:
        ctx.journal.unsend(key)
        raise
