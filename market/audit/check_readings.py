"""Check ``readings``: every order's reading set against the CPO-signed readings digests.

Why: a reading proves its own content, not that the delivery bundle holds all of them.  Under
terms with ``readings_digests_required`` the stations' CPOs signed, per station and ISP, how
many readings they received and their Merkle root; the meter oracle published those digests
(the ``readings`` bundle) and committed their root on-chain while the session was Cleared.
This check verifies the root against ``ReadingsDigestsCommitted``, each digest's signature
against the station's CPO as the chain registered it (never the operator's registry), and then
compares the delivery bundle's readings of every meter behind an order with the digests
(``clearing/readings_digest.py: check_readings``): withheld, extra, double-counted or other
readings, and missing digests are each named.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from adapters.chain.types import SessionState
from clearing.encoding import hex32
from clearing.readings_digest import Domain, expected_keys, parse_bundle
from clearing.readings_digest import check_readings as compare
from clearing.settlement.delivery import required_reading_window
from market.audit.chain_view import AuditedSession
from market.audit.check_delivery import no_registry, parse_delivery
from market.audit.check_terms import committed_terms_of
from market.audit.cpo_registry import station_hash
from market.audit.findings import CheckResult
from market.audit.registry import StationRegistry
from market.audit.session_bundles import SessionBundles

__all__ = ["check_readings"]


def check_readings(
    cs: AuditedSession,
    sb: SessionBundles,
    readings_bytes: bytes | None,
    registry: StationRegistry | None,
    registry_error: str | None = None,
    *,
    domain: Domain,
) -> CheckResult:
    """The readings check of one session; ``domain`` is the audited deployment (chain id,
    market address).  Terms that do not require digests are a finding
    (``readings.digests_not_required``) once delivery paid anything, since an operator could
    leave the requirement off from the start; with nothing paid the check is skipped."""
    res = CheckResult("readings")
    terms = committed_terms_of(cs, sb)
    committed = cs.named("ReadingsDigestsCommitted")
    required = terms is not None and terms.readings_digests_required
    if not required and not committed:
        paid = sum(cs.attested()[1]) + sum(cs.payouts)
        if terms is not None and paid > 0:  # no terms at all: check_terms names that
            res.add(
                "readings.digests_not_required",
                f"the committed terms do not require the CPOs' readings digests, yet delivery "
                f"paid {paid} units: withheld signed readings (issue 16, 'signed readings "
                "withheld') would go undetected",
                sb.session_id or hex32(cs.session_id),
            )
            return res
        return res.skip("the session's terms do not require readings digests and nothing was paid")
    if cs.chain.state < SessionState.VERIFIED:
        return res.skip("delivery not attested yet")
    attested = cs.named("DeliveryAttested")
    if not attested:
        return res.skip("never attested: the escrow was released by refundStuck")
    if sb.delivery is None or sb.result is None or terms is None:
        return res.skip("committed terms, result and delivery bundles needed")
    sid = sb.session_id or hex32(cs.session_id)
    first = (attested[0].block_number, attested[0].log_index)
    before = [e for e in committed if (e.block_number, e.log_index) < first]
    if not before:
        res.add(
            "readings.not_committed",
            "no ReadingsDigestsCommitted before DeliveryAttested although the terms require it",
            sid,
        )
    if readings_bytes is None:
        res.add("readings.digest_missing", "no readings bundle published", sid)
        return res
    try:
        bundle = parse_bundle(json.loads(readings_bytes))
    except (ValidationError, ValueError) as exc:
        res.add("readings.bundle_invalid", f"cannot parse: {exc}"[:300], sid)
        return res
    if bundle.session_id != sb.session_id:
        res.add("readings.bundle_invalid", f"names session {bundle.session_id}", sid)
    if before and hex32(bytes(before[0].args["root"])) != bundle.root:
        res.add(
            "readings.root_mismatch",
            f"bundle root {bundle.root} != on-chain {hex32(bytes(before[0].args['root']))}",
            sid,
        )
    if registry is None or registry.cpo is None:
        if registry is None:
            return no_registry(res, registry_error)
        return res.error("the chain's CPO registry was not read: digests cannot be checked")
    parsed = parse_delivery(sb.delivery, res, "delivery.inputs_invalid")
    if parsed is None:
        return res
    inputs, _rules = parsed
    window = required_reading_window(terms.settlement, terms.delivery_start, terms.delivery_end)
    expected = expected_keys(
        inputs.portfolios,
        sb.result.orders,
        window=window,
        delivery_start=terms.delivery_start,
        isp_s=terms.isp_s,
    )
    stations = {d.station for d in bundle.digests} | {s for s, _ in expected}
    stations |= {r.station for r in inputs.readings}
    cpo_of = {}
    for st in stations:
        entry = registry.cpo.stations.get(station_hash(st))
        if entry is not None:
            cpo_of[st] = entry.cpo
    for f in compare(
        bundle,
        inputs.readings,
        expected=expected,
        cpo_of=cpo_of,
        window=window,
        delivery_start=terms.delivery_start,
        isp_s=terms.isp_s,
        domain=domain,
    ):
        res.add(f"readings.{f.code}", f.detail, f.subject)
    res.notes.append(
        f"{len(bundle.digests)} digests, {len(expected)} (station, ISP) pairs behind orders"
    )
    return res
