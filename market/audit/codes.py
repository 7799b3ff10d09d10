"""Every finding code the auditor reports and its meaning (stable: tests and users key on it)."""

from __future__ import annotations

FINDING_CODES = {
    "bundle.unparseable": "a published bundle is not valid JSON of its schema",
    "bundle.session_mismatch": "a bundle names another session",
    "bundle.input_hash_mismatch": "keccak256(input bundle) != on-chain inputHash",
    "bundle.result_input_hash_mismatch": "result bundle's input_hash != on-chain inputHash",
    "bundle.result_root_mismatch": "result bundle's orders_root != on-chain resultRoot",
    "bundle.result_root_invalid": "orders_root is not the Merkle root of the result's orders",
    "bundle.delivery_root_mismatch": "delivery report root (from its leaves) != on-chain root",
    "bundle.delivery_root_invalid": "delivery report's root is not the root of its leaves",
    "offers.changed": "an FSP's offer set has its committed count but another root",
    "offers.added": "more offers (or an uncommitted FSP) than committed on-chain",
    "offers.dropped": "fewer offers than committed on-chain (or a committed FSP missing)",
    "prognosis.substituted": (
        "delivery was verified against a prognosis (baseline) other than the one the FSP "
        "committed with its offers"
    ),
    "portfolio.substituted": (
        "delivery counted a portfolio (meters per congestion point) other than the one the FSP "
        "committed with its offers"
    ),
    "receipts.root_not_committed": "a receipt's root is not the FSP's on-chain root",
    "receipts.proof_invalid": "a receipt's proof does not reach the on-chain root",
    "receipts.offer_missing": "an offer proven by a receipt is absent from the input bundle",
    "receipts.offer_changed": "an offer proven by a receipt differs in the input bundle",
    "uftp.binding_invalid": "a UFTP key is not bound (EIP-191) to the offer's FSP on this market",
    "uftp.signature_invalid": "a UFTP FlexOffer's Ed25519 signature does not verify",
    "uftp.offer_mismatch": "a market offer is not the conversion of its signed UFTP FlexOffer",
    "uftp.offer_missing": "an offer of the UFTP evidence (or its request) is not in the bundle",
    "clearing.input_hash_mismatch": "result names another input bundle",
    "clearing.orders_root_invalid": "result's orders root does not match its orders",
    "clearing.proof_invalid": "an FSP's order proof in the result does not verify",
    "clearing.rule_violation": "an order breaks its offer, price or budget bounds",
    "clearing.order_differs": "an order differs from the recomputed clearing",
    "clearing.result_differs": "a result field differs from the recomputed clearing",
    "clearing.solver_version_mismatch": "recomputation differs and the solver version differs",
    "clearing.objective_below_bound": (
        "the orders' welfare is below the committed gap of the recomputed bound (whatever "
        "solver version the result claims)"
    ),
    "clearing.objective_above_bound": "the orders' welfare is above the recomputed dual bound",
    "clearing.certificate_invalid": "the result's objective or dual bound is not what it claims",
    "clearing.recompute_failed": "the input bundle cannot be cleared again",
    "clearing.unproven": "the result is the greedy fallback after the solver's safety net fired",
    "requests.unknown": "a request in the input bundle is not escrowed on-chain in this session",
    "requests.hash_mismatch": "a request body does not hash to its on-chain requestHash",
    "requests.budget_mismatch": "a request's budget differs from its on-chain escrow",
    "requests.cancelled": "a cancelled request was cleared",
    "requests.dropped": "an escrowed request is missing from the input bundle",
    "reservations.missing": "a payment cap has no on-chain reservation",
    "reservations.unexpected": "an on-chain reservation has no payment cap in the result",
    "reservations.amount_mismatch": "reservation amount != payment cap for (request, FSP)",
    "reservations.over_budget": "reservations of a request exceed its budget",
    "delivery.inputs_invalid": "the delivery bundle's inputs cannot be settled",
    "delivery.bad_signature": "a reading's signature is not by the station's registered key",
    "delivery.unknown_station": "a reading of a station absent from the registry was used",
    "delivery.unsigned_reading": "an unsigned reading was used although signatures are required",
    "delivery.report_differs": "the recomputed report differs from the published one",
    "delivery.bundle_differs": "fields outside the report differ from the recomputation",
    "delivery.root_mismatch": "recomputed report root != on-chain deliveryRoot",
    "delivery.payout_above_recomputed": "on-chain payout above the recomputed payout",
    "delivery.payout_below_recomputed": "on-chain payout below the recomputed payout",
    "delivery.reservations_mismatch": "delivery inputs' reservations differ from the chain",
    "delivery.budgets_mismatch": "delivery inputs' budgets differ from the chain",
    "delivery.window_mismatch": "delivery inputs' start or ISP length differ from the chain",
    "delivery.portfolio_not_registered": "a portfolio meter is not registered to that FSP",
    "readings.not_committed": (
        "the terms require readings digests and no root was committed before attestation"
    ),
    "readings.digests_not_required": (
        "delivery paid under committed terms that do not require the CPOs' readings digests "
        "(withheld signed readings would go undetected)"
    ),
    "readings.root_mismatch": "the readings bundle's root is not the committed (or its own) root",
    "readings.bundle_invalid": "the readings bundle is not a valid readings bundle of the session",
    "readings.digest_missing": "a meter behind an order has no CPO-signed digest for an ISP",
    "readings.digest_invalid_signature": "a digest is not signed by the station's on-chain CPO",
    "readings.digest_duplicate": "two digests for one station and ISP",
    "readings.digest_foreign": "a digest names another session",
    "readings.withheld": "the delivery bundle holds fewer of a station's readings than signed",
    "readings.extra": "the delivery bundle holds more of a station's readings than signed",
    "readings.double_counted": "one signed reading is listed twice in the delivery bundle",
    "readings.digest_mismatch": "same count as the CPO signed, but other readings",
    "money.payout_credit_mismatch": "credits to an FSP at finalization != its payouts",
    "money.refund_mismatch": "refund credited (or declared) != budget - payouts",
    "money.finalized_totals_mismatch": "SessionFinalized totals != payouts and refunds",
    "money.budget_changed": "a request's budget view differs from its RequestPosted budget",
    "money.payout_exceeds_budget": "payouts of a request exceed its budget",
    "code.mismatch": (
        "the market's runtime code, a library it links, its positions contract or their wiring "
        "is not this checkout's build (immutables masked): code nobody reviewed holds the money"
    ),
    "money.balance_mismatch": "token balance of the market != escrowed + credited (events)",
    "money.escrow_total_mismatch": "totalEscrowed() != escrow derived from events",
    "money.credit_total_mismatch": "totalCredited() != credits derived from events",
    "money.netting_unbalanced": (
        "a netting period's positions do not sum to -fee or differ from settleNetting"
    ),
    "lifecycle.request_after_gate_closure": "a request was posted at or after gate closure",
    "lifecycle.offer_after_gate_closure": "an offer set was committed at or after gate closure",
    "lifecycle.closed_before_gate_closure": "the session closed before gate closure",
    "lifecycle.cleared_before_gate_closure": "clearing was posted before gate closure",
    "lifecycle.attested_before_delivery_end": "delivery attested before the delivery window ended",
    "lifecycle.finalized_in_window": "finalized before the challenge window ended",
    "lifecycle.missing_event": "a state was reached without its event",
    "lifecycle.stuck": "a step is past its deadline: the escrow stays locked until refundStuck",
    "lifecycle.refunded_before_deadline": "refundStuck released the escrow before the deadline",
    "terms.signatures_not_required": (
        "delivery paid under committed settlement rules that count unsigned readings"
    ),
    "terms.not_committed": "createSession anchored a zero terms hash: the session has no terms",
    "terms.missing": "the input (or terms) bundle carries no readable session terms",
    "terms.hash_mismatch": "the published terms do not hash to the on-chain termsHash",
    "terms.schedule_mismatch": "the chain's session times, ISP or window differ from the terms",
    "terms.out_of_bounds": "a committed term is outside its fixed bounds (MIP gap, time limit)",
    "terms.window_swapped": "the input bundle's or delivery's start, ISP or length != the terms",
    "terms.pricing_rule_swapped": "the session was cleared under another pricing rule",
    "terms.solver_swapped": "cleared with another solver, MIP gap or time limit than committed",
    "terms.grid_swapped": "the input bundle's congestion points or grid limits != the terms",
    "terms.attested_before_grace": "delivery attested before the committed meter grace ended",
    "terms.delivery_rules_swapped": (
        "delivery was settled under rules (baseline, tolerance, penalty, signatures) other "
        "than the committed ones"
    ),
    "registry.station_key_conflict": "a station the session uses is registered with two keys",
    "registry.station_invalid": "a station the session uses has an unreadable registry entry",
    "registry.station_not_cpo_registered": "no CPO registered a key for a used station on-chain",
    "registry.station_key_not_cpo": (
        "the published registry's key for a station is not the key its CPO registered on-chain "
        "(an operator's own key for someone's station)"
    ),
    "registry.station_key_after_gate": "a station's key was registered after gate closure",
    "registry.station_not_granted": (
        "a portfolio meter's station was not granted to that FSP by its CPO at gate closure"
    ),
    "registry.meter_in_two_portfolios": "one meter is in two portfolios (FSP or congestion point)",
    "receipts.unknown_session": "receipts name a session the market never created",
    "dispute.resolution_unparseable": "the arbiter's resolution bundle cannot be read",
    "dispute.inputs_changed": "the resolution changed more than adding evidence readings",
    "dispute.recompute_failed": "the attested inputs plus the evidence cannot be settled",
    "dispute.report_differs": "the resolution's report is not the recomputation",
    "dispute.root_mismatch": "the arbiter's corrected root != the recomputed root",
    "dispute.payout_above_recomputed": "a resolved payout is above the recomputed one",
    "dispute.payout_below_recomputed": "a resolved payout is below the recomputed one",
    "netting.not_recomputable": "a session was netted but its netting bundle is not published",
    "netting.bundle_mismatch": "the netting bundle names another session, chain or start time",
    "netting.contract_unsigned": "a contract the netting applied lacks a party's valid signature",
    "netting.contract_not_valid": "a contract the netting applied is not valid at the session",
    "netting.contract_template": (
        "a contract the netting applied is no instance of its template (other terms, another FSP)"
    ),
    "netting.contract_ambiguous": "two contracts the netting applied bind the same FSP and user",
    "netting.contract_duplicate": "a contract id the netting applied more than once",
    "netting.contract_set_not_committed": (
        "the netting bundle's contract set of an FSP is not the one its portfolio hash binds"
    ),
    "netting.contract_not_committed": (
        "an applied contract is not in its FSP's committed contract set (extra)"
    ),
    "netting.contract_substituted": (
        "an applied contract has other terms than the committed contract of that id"
    ),
    "netting.contract_omitted": (
        "a committed contract valid at the delivery start, with a user who contributed, was "
        "not applied"
    ),
    "netting.contributions_bad_signature": (
        "an FSP's contributions envelope does not verify under this market's domain"
    ),
    "netting.contributions_wrong_signer": (
        "a contributions envelope carries rows of another FSP than its signer (or another kind)"
    ),
    "netting.contributions_wrong_session": "a contributions envelope is for another session",
    "netting.contributions_expired": (
        "a contributions envelope expired before the session's gate closure"
    ),
    "netting.contributions_duplicate": "two contributions envelopes of one FSP in a netting",
    "netting.contributions_unsigned": (
        "the netting used a contribution its FSP did not sign (edited, added or unenveloped)"
    ),
    "netting.contributions_dropped": "a contribution its FSP signed is not used by the netting",
    "netting.mismatch": (
        "settleNetting's amounts differ from settle_period recomputed from the netting bundle"
    ),
}
# Why a check (or an input) could not run: the ``errors`` of a check, never findings.
ERROR_CODES = {
    "audit.could_not_run": "a check could not run (reason in the message)",
    "audit.check_crashed": "a check met input it could not handle (named in the message)",
    "bundle.missing": "a bundle the session's state needs is not published",
    "bundle.unreadable": "a bundle could not be fetched",
    "bundle.unsafe": "a bundle was refused before parsing (too large or too deep)",
    "registry.missing": "no station registry to check meter signatures against",
    "registry.unreadable": "the station registry is not JSON of either form",
    "registry.no_owners": "the registry names no owners: portfolio ownership cannot be checked",
    "registry.entry_invalid": "a registry entry names no station (market-wide)",
    "receipts.unreadable": "the --receipts file cannot be read or is not JSON",
    "receipts.malformed": "an item of the --receipts file is not a valid receipts object",
    "sessions.unreadable": "the bundle service's session list cannot be read",
    "dispute.resolution_missing": "a resolved session's resolution bundle is not published",
    "netting.bundle_malformed": "the session's netting bundle is not of its schema",
    "uftp.proofs_malformed": "the session's uftp bundle (UFTP offer proofs) is not readable",
}
MAX_LISTED = 12
