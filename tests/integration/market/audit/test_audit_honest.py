"""Honest sessions pass; unreachable RPC and missing bundles exit 2 with a message saying so."""

from __future__ import annotations

import json

import pytest
from audit_helpers import audit, stage

from market.audit.runner import run_audit

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_honest_session_passes_every_check(chain, route) -> None:
    staged = stage(chain, route)
    report = audit(chain, route, staged)
    assert report.exit_code == 0, report.to_json()
    (session,) = report.sessions
    assert session.session_id == staged.session_id and session.state == "FINAL"
    assert {c.name: c.status for c in session.checks} == {
        "bundle_hashes": "pass",
        "offers": "pass",
        "clearing": "pass",
        "reservations": "pass",
        "delivery": "pass",
        "fsp_data": "pass",
        "readings": "pass",  # its terms require readings digests (the default)
        "money": "pass",
        "lifecycle": "pass",
        "terms": "pass",
    }
    assert report.market_checks[0].status == "pass"
    assert json.loads(json.dumps(report.to_json()))["result"] == "pass"


def test_fsp_receipts_prove_inclusion_and_catch_a_changed_offer(chain, route) -> None:
    staged = stage(chain, route)
    fsp = chain.addresses["fsp_a"].lower()
    path = route.folder / "receipts.json"
    path.write_text(json.dumps(staged.receipts(fsp)))
    assert audit(chain, route, staged, receipts=path).exit_code == 0

    from audit_helpers import edit_json

    target = staged.committed[fsp][0]

    def bump(data: dict) -> None:
        for offer in data["offers"]:
            if offer["offer_id"] == target:
                offer["options"][0]["price_per_mwh"] += 1

    edit_json(staged.path("input"), bump)
    report = audit(chain, route, staged, receipts=path)
    found = [f for f in report.findings if f.code == "receipts.offer_changed"]
    assert [f.subject for f in found] == [f"{fsp}/{target}"]


def test_unreachable_rpc_exits_2_and_says_so(tmp_path) -> None:
    report = run_audit(rpc="http://127.0.0.1:9", market="0x" + "11" * 20, bundles=str(tmp_path))
    assert report.exit_code == 2
    assert "unreachable" in report.message


def test_missing_bundle_exits_2_naming_it(chain, route) -> None:
    staged = stage(chain, route)
    staged.path("delivery").unlink()
    report = audit(chain, route, staged)
    assert report.exit_code == 2, report.to_json()
    assert "delivery bundle" in report.message and staged.session_id in report.message


def _only_unrecomputable_netting(report) -> bool:
    """A netting posted by hand, with no netting bundle: the auditor cannot recompute it
    (issue 16), and that is its only finding."""
    return report.exit_code == 1 and {f.code for f in report.findings} == {
        "netting.not_recomputable"
    }


def test_sessions_in_several_states_and_a_netting_period_reconcile(chain, tmp_path) -> None:
    """A FINAL and a CLEARED session side by side (escrow still held), then a netting period
    settled by a clearing house: balance, contract totals and zero-sum netting all agree."""
    from audit_helpers import Route

    from clearing.encoding import keccak256, uuid_to_bytes32

    route = Route(name="dir", folder=tmp_path, bundles=str(tmp_path))
    final = stage(chain, route)
    cleared = stage(chain, route, deliver=False)
    market, a = chain.contracts.market, chain.addresses
    market.register_participant(
        a["outsider"], keccak256(b"ch"), [market.role("CLEARING_HOUSE")], sender=a["operator"]
    )
    fsp_credit = market.credits(a["fsp_a"])
    # settleNetting nets one FINAL session between its parties (issue 16): fsp_a, committed to
    # it, is debited and names the payees; members go in ascending address order.
    market.name_netting_payees([a["dso"], a["operator"]], sender=a["fsp_a"])
    by_address = sorted([(a["dso"], 900), (a["fsp_a"], -1_000)], key=lambda m: int(m[0], 16))
    market.settle_netting(
        uuid_to_bytes32(final.session_id),
        [m for m, _ in by_address],
        [x for _, x in by_address],
        100,
        a["operator"],
        sender=a["outsider"],
    )
    assert market.credits(a["fsp_a"]) == fsp_credit - 1_000
    report = audit(chain, route, final)
    # the market reconciles; only the netting's inputs are missing (no netting bundle)
    assert _only_unrecomputable_netting(report), report.to_json()
    states = {s.session_id: s.state for s in report.sessions}
    assert states == {final.session_id: "FINAL", cleared.session_id: "CLEARED"}
    by_id = {s.session_id: s for s in report.sessions}
    assert by_id[cleared.session_id].check("delivery").status == "skip"
    money = report.market_checks[0]
    assert money.status == "pass" and "1 netting period(s)" in money.notes[0]
    assert f"escrowed {sum(r.budget_units for r in cleared.input.requests)} " in money.notes[0]


def test_session_netting_period_is_not_read_as_refunds(chain, route) -> None:
    """The clearing house nets a session under a period id equal to the session id
    (``netting_period_id`` of its UUID): the netting credits are not refunds, the per-member
    positions match settleNetting's input and the market still reconciles."""
    from clearing.encoding import keccak256, uuid_to_bytes32
    from clearing.settlement.netting import netting_period_id

    staged = stage(chain, route)
    period = bytes.fromhex(netting_period_id(staged.session_id)[2:])
    assert period == uuid_to_bytes32(staged.session_id)
    market, a = chain.contracts.market, chain.addresses
    market.register_participant(
        a["outsider"], keccak256(b"ch2"), [market.role("CLEARING_HOUSE")], sender=a["operator"]
    )
    market.name_netting_payees([a["dso"]], sender=a["fsp_a"])  # a party of the session
    by_address = sorted([(a["dso"], 650), (a["fsp_a"], -700)], key=lambda m: int(m[0], 16))
    members, amounts = [m for m, _ in by_address], [x for _, x in by_address]
    market.settle_netting(period, members, amounts, 50, a["fsp_b"], sender=a["outsider"])
    report = audit(chain, route, staged)
    assert _only_unrecomputable_netting(report), report.to_json()
    (session,) = [s for s in report.sessions if s.session_id == staged.session_id]
    assert session.check("money").status == "pass"
    money = report.market_checks[0]
    assert money.status == "pass" and "moving 700 units" in money.notes[0], money.notes
    from market.audit.chain_view import read_chain

    view = read_chain(chain.client, market)
    (declared,) = [n for n in view.netting_inputs.values() if n.period_id == period]
    assert declared.net_amounts == amounts and declared.fee == 50
    assert declared.fee_recipient == a["fsp_b"].lower()
