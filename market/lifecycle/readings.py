"""The meter oracle's readings digests: published and committed on-chain before it attests.

Why: under terms with ``readings_digests_required`` a payout may only follow a reading set that
the stations' CPOs vouched for (``clearing/readings_digest.py``).  So before ``attestDelivery``
the oracle takes the CPOs' signed digests from its ``DigestSource``, compares its own delivery
inputs with them (it does not attest a reading set they contradict), publishes them as the
session's ``readings`` bundle and commits the bundle's root with ``commitReadingsDigests``,
which the contract accepts only while the session is Cleared.  Without digests it refuses,
with a ``SettlementError`` the verify step records as BLOCKED, unless no meter is behind an
order and no reading is listed (a session without orders): then it commits the empty bundle,
so the auditor still sees a root committed before attestation.  Resumable: a bundle published
or a root committed before a crash is reused exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from clearing.encoding import canonical_json, hex32, uuid_to_bytes32
from clearing.messages import FlexOrder
from clearing.readings_digest import (
    ReadingsBundle,
    ReadingsDigest,
    check_readings,
    expected_keys,
    parse_bundle,
    readings_bundle,
)
from clearing.settlement.delivery import required_reading_window
from clearing.settlement.report import DeliveryInputs
from clearing.settlement.rules import SettlementError
from clearing.terms import SessionTerms
from market.bundles import BundleStore
from market.errors import NotFound
from market.ledger import Ledger

__all__ = ["DigestSource", "commit_readings"]

#: (session id, reading window [lo, hi], delivery start, ISP length) -> the CPOs' signed digests.
DigestSource = Callable[[str, tuple[int, int], int, int], Sequence[ReadingsDigest]]


def _published(bundles: BundleStore, session_id: str) -> ReadingsBundle | None:
    try:
        raw = bundles.get(session_id, "readings")
    except NotFound:
        return None
    return parse_bundle(json.loads(raw))


def _check(
    ledger: Ledger,
    bundle: ReadingsBundle,
    delivery_bundle: bytes,
    orders: Sequence[FlexOrder],
    terms: SessionTerms,
    window: tuple[int, int],
) -> None:
    inputs = DeliveryInputs.model_validate_json(
        canonical_json(json.loads(delivery_bundle)["inputs"])
    )
    expected = expected_keys(
        inputs.portfolios,
        orders,
        window=window,
        delivery_start=terms.delivery_start,
        isp_s=terms.isp_s,
    )
    stations = {d.station for d in bundle.digests} | {s for s, _ in expected}
    stations |= {r.station for r in inputs.readings}
    cpo_of = {st: ledger.market.station(st).cpo.lower() for st in sorted(stations)}
    findings = check_readings(
        bundle,
        inputs.readings,
        expected=expected,
        cpo_of=cpo_of,
        window=window,
        delivery_start=terms.delivery_start,
        isp_s=terms.isp_s,
        domain=(ledger.chain_id, ledger.market_address),
    )
    if findings:
        first = "; ".join(f"{f.code} {f.subject} ({f.detail})" for f in findings[:3])
        raise SettlementError(
            f"the delivery's readings differ from the CPOs' digests in {len(findings)} "
            f"place(s), first: {first}; not attesting"
        )


def commit_readings(
    *,
    ledger: Ledger,
    bundles: BundleStore,
    terms: SessionTerms | None,
    delivery_bundle: bytes,
    orders: Sequence[FlexOrder],
    source: DigestSource | None,
    oracle: str,
) -> str | None:
    """Publish and commit the session's readings digests when its terms require them; returns
    their root (None when not required).  Raises SettlementError naming what is missing."""
    if terms is None or not terms.readings_digests_required:
        return None
    sid = terms.session_id
    window = required_reading_window(terms.settlement, terms.delivery_start, terms.delivery_end)
    bundle = _published(bundles, sid)
    if bundle is None:
        digests = list(source(sid, window, terms.delivery_start, terms.isp_s)) if source else []
        bundle = readings_bundle(sid, digests)
        if not digests:  # fine only when no meter is behind an order and no reading is listed
            try:
                _check(ledger, bundle, delivery_bundle, orders, terms, window)
            except SettlementError as exc:
                raise SettlementError(
                    "the session's terms require the CPOs' readings digests and none were "
                    f"supplied; not attesting ({exc})"
                ) from exc
    _check(ledger, bundle, delivery_bundle, orders, terms, window)
    bundles.publish(sid, "readings", bundle.to_canonical())  # idempotent for the same bytes
    committed = ledger.session_events("ReadingsDigestsCommitted", sid)
    if committed:
        onchain = hex32(bytes(committed[0].args["root"]))
        if onchain != bundle.root:
            raise SettlementError(
                f"readings digests root on-chain {onchain} is not the published {bundle.root}"
            )
    else:
        ledger.market.commit_readings_digests(
            uuid_to_bytes32(sid), bytes.fromhex(bundle.root.removeprefix("0x")), sender=oracle
        )
    return bundle.root
