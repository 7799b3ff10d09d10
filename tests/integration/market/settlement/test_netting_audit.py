"""Issue 16: the auditor recomputes a session's netting from the published ``netting`` bundle
(signed contracts, contributions, fee recipient) and the report the money followed. A clearing
house dishonest from the start - consistent calldata, amounts moved among the same parties, or
a contract whose signatures do not hold - is named; the honest twin passes (real anvil, store,
service functions and auditor)."""

from __future__ import annotations

import pytest
from service_settlement_helpers import (
    deliver_and_finalize,
    register_roles,
    signed_revenue_contract,
    station_keys_file,
)

import market.clearing_house.period as period_module
import market.clearing_house.service as service
from clearing.settlement.revenue import UserContribution
from market.audit.runner import run_audit
from market.clearing_house.netting_bundle import NettingBundle
from market.clearing_house.period import SignedContract, contract_payees

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _netted_session(
    chain, runtime, clients, tmp_path, *, contract=None, users=1, uncovered=()
) -> tuple[str, str]:
    """A FINAL session where FSP A shares revenue with ``users`` EV users (each with its own
    CPO and platform), settled by the clearing house; returns (session id, station-keys
    file). FSP A posts the contracts before it commits (its commitment binds the set);
    ``contract(signed)`` runs after the contributions, before the netting; ``uncovered``:
    users who contributed under no contract."""
    _arbiter, house = register_roles(chain)
    made = [
        signed_revenue_contract(
            chain,
            runtime,
            "fsp_a",
            0xA0 + 0x10 * i,
            user_incentive_ppm=100_000,
            cpo_fee_per_kwh_units=1_000,
            platform_fee_ppm=10_000,
        )
        for i in range(users)
    ]
    signed, _user, _cpo, platform, _key = made[0]
    sid = deliver_and_finalize(
        chain, runtime, clients, b_delivers=True, again=False,
        contracts={"fsp_a": [m[0] for m in made]},
    )  # fmt: skip
    fsp_a = chain.addresses["fsp_a"].lower()
    chain.contracts.market.name_netting_payees(contract_payees([m[0] for m in made]), sender=fsp_a)
    clients("fsp_a").post_contributions(
        sid,
        [
            UserContribution(
                session_id=sid, fsp=fsp_a, ev_user=m[1], shifted_wh=5_000, discharged_wh=0
            )
            for m in made
        ]
        + [
            UserContribution(
                session_id=sid, fsp=fsp_a, ev_user=u, shifted_wh=5_000, discharged_wh=0
            )
            for u in uncovered
        ],
    )
    if contract is not None:
        contract(signed)
    out = service.settle_session(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        session_id=sid,
        clearing_house=house,
        fee_recipient=platform,
    )
    assert out["action"] == "settled"
    keys = station_keys_file(chain, tmp_path)
    return sid, keys


def _audit(chain, runtime, keys: str):
    return run_audit(
        rpc=chain.node.rpc_url,
        market=chain.contracts.market.address,
        bundles=str(runtime.bundles.directory),
        station_keys=keys,
    )


def _codes(report) -> set[str]:
    codes = {f.code for f in report.findings}
    assert all(c.startswith("netting.") for c in codes), report.to_json()  # nothing else
    return codes


def _dishonest_inputs(monkeypatch, *, rows=lambda r: r, envelopes=lambda e: e) -> None:
    """A clearing house that nets other inputs than the stored ones (and freezes nothing)."""
    store = service.contribution_store
    honest = store.netting_inputs_of

    def lying(engine, session_id):
        kept = honest(engine, session_id)
        return store.NettingInputs(rows(kept.contributions), envelopes(kept.envelopes))

    monkeypatch.setattr(store, "netting_inputs_of", lying)
    monkeypatch.setattr(store, "freeze_netting_inputs", lambda *a: True)


def test_honest_netting_is_recomputed_and_passes(chain, runtime, clients, api, tmp_path) -> None:
    sid, keys = _netted_session(chain, runtime, clients, tmp_path)
    raw = runtime.bundles.get(sid, "netting")
    bundle = NettingBundle.model_validate_json(raw)
    assert bundle.to_canonical() == raw  # canonical JSON: the same inputs give the same bytes
    assert api.get(f"/sessions/{sid}/bundles/netting").content == raw  # public, byte-exact
    assert len(bundle.contracts) == 1 and len(bundle.contributions) == 1
    assert len(bundle.contracts[0].signatures) == 4
    [envelope] = bundle.contribution_envelopes  # the FSP's signature over its rows
    fsp_a = chain.addresses["fsp_a"].lower()
    sets = {c.fsp: c.contracts for c in bundle.committed_contracts}
    assert sets[fsp_a] == (bundle.contracts[0].contract,)  # the set its commitment binds
    assert sets[chain.addresses["fsp_b"].lower()] == ()  # B committed the empty set
    assert envelope.signer.lower() == bundle.contributions[0].fsp
    report = _audit(chain, runtime, keys)
    assert report.exit_code == 0, report.to_json()
    (session,) = report.sessions
    assert session.check("netting").status == "pass"


def test_amounts_moved_among_the_parties_are_a_netting_mismatch(
    chain, runtime, clients, tmp_path, monkeypatch
) -> None:
    """The clearing house pays the CPO 7 units more and the EV user 7 less; the calldata and
    the bundle's netted amounts agree with each other (and conserve value)."""
    honest = service.session_period

    def dishonest(**kw):
        result = honest(**kw)
        onchain = result.onchain
        amounts = list(onchain.net_amounts)
        contract = kw["contracts"][0].contract
        user = onchain.members.index(contract.ev_user)
        cpo = onchain.members.index(contract.cpo)
        amounts[user] -= 7
        amounts[cpo] += 7
        moved = onchain.model_copy(update={"net_amounts": tuple(amounts)})
        return result.model_copy(update={"onchain": moved})

    monkeypatch.setattr(service, "session_period", dishonest)
    _sid, keys = _netted_session(chain, runtime, clients, tmp_path)
    report = _audit(chain, runtime, keys)
    assert report.exit_code == 1, report.to_json()
    assert "netting.mismatch" in _codes(report)
    assert {f.code for f in report.market_checks[0].findings} == set()  # value conserved


def test_a_contract_with_a_forged_signature_is_named(
    chain, runtime, clients, tmp_path, monkeypatch
) -> None:
    """The clearing house applies a contract the user never signed (a 1 % incentive instead of
    10 %: the user's signature is the one over the real terms)."""
    forged: list[SignedContract] = []

    def forge(signed: SignedContract) -> None:
        changed = signed.contract.model_copy(update={"user_incentive_ppm": 10_000})
        forged.append(SignedContract(contract=changed, signatures=signed.signatures))

    def with_forged(engine, bundles, session_id):
        return forged

    monkeypatch.setattr(service, "_contracts", with_forged)
    monkeypatch.setattr(period_module, "verify_contract_signatures", lambda *a, **k: [])
    _sid, keys = _netted_session(chain, runtime, clients, tmp_path, contract=forge)
    monkeypatch.undo()
    report = _audit(chain, runtime, keys)
    assert report.exit_code == 1, report.to_json()
    assert {"netting.contract_unsigned", "netting.contract_substituted"} <= _codes(report)


def test_contributions_the_fsp_did_not_sign_are_named(
    chain, runtime, clients, tmp_path, monkeypatch
) -> None:
    """The clearing house nets (and publishes) 10x the user's signed energy: the bundle is
    consistent with the calldata, but the rows are not the ones in the FSP's envelope."""

    def inflated(rows):
        return [c.model_copy(update={"shifted_wh": c.shifted_wh * 10}) for c in rows]

    _dishonest_inputs(monkeypatch, rows=inflated)
    _sid, keys = _netted_session(chain, runtime, clients, tmp_path)
    report = _audit(chain, runtime, keys)
    assert report.exit_code == 1, report.to_json()
    assert {"netting.contributions_unsigned", "netting.contributions_dropped"} <= _codes(report)
    assert "netting.mismatch" not in _codes(report)  # the arithmetic itself is right


def test_an_envelope_edited_after_signing_is_named(
    chain, runtime, clients, tmp_path, monkeypatch
) -> None:
    """The clearing house edits the FSP's envelope to match the rows it nets: the signature
    then no longer holds."""

    def edited_rows(rows):
        return [c.model_copy(update={"shifted_wh": 1}) for c in rows]

    def edited(envelopes):
        for env in envelopes:
            for row in env["body"]["contributions"]:
                row["shifted_wh"] = 1
        return envelopes

    _dishonest_inputs(monkeypatch, rows=edited_rows, envelopes=edited)
    _sid, keys = _netted_session(chain, runtime, clients, tmp_path)
    report = _audit(chain, runtime, keys)
    assert report.exit_code == 1, report.to_json()
    assert "netting.contributions_bad_signature" in _codes(report)


def _later_contract(chain, runtime, signed: SignedContract) -> SignedContract:
    """Another contract FSP A and the same user signed (a 50 % incentive), posted only after
    the commitment: it is not in the committed set."""
    other, *_ = signed_revenue_contract(
        chain, runtime, "fsp_a", 0xA0,
        user_incentive_ppm=500_000, cpo_fee_per_kwh_units=1_000, platform_fee_ppm=10_000,
    )  # fmt: skip
    assert other.contract.ev_user == signed.contract.ev_user
    return other


def test_a_contract_outside_the_committed_set_is_named(
    chain, runtime, clients, tmp_path, monkeypatch
) -> None:
    """FSP A committed one contract; later it signs another with the same user. The clearing
    house applies the later one (validly signed by all parties) instead: extra and omitted."""
    later: list[SignedContract] = []

    def substitute(signed: SignedContract) -> None:
        other = _later_contract(chain, runtime, signed)
        clients("fsp_a").post_revenue_contract(other)
        later.append(other)

    monkeypatch.setattr(service, "_contracts", lambda *a: later)
    _sid, keys = _netted_session(chain, runtime, clients, tmp_path, contract=substitute)
    report = _audit(chain, runtime, keys)
    assert report.exit_code == 1, report.to_json()
    codes = _codes(report)
    assert {"netting.contract_not_committed", "netting.contract_omitted"} <= codes, codes
    assert "netting.contract_unsigned" not in codes  # every party did sign it


def test_a_committed_contract_omitted_is_named(
    chain, runtime, clients, tmp_path, monkeypatch
) -> None:
    """FSP A committed contracts with two users, both contributed; the clearing house leaves
    out the second user's contract (and so its row): the FSP keeps that user's share."""

    def without_second(rows):
        return rows[:1] if len(rows) == 2 else rows

    _dishonest_inputs(monkeypatch, rows=without_second)
    sid, keys = _netted_session(chain, runtime, clients, tmp_path, users=2)
    assert (
        len(NettingBundle.model_validate_json(runtime.bundles.get(sid, "netting")).contracts) == 1
    )
    report = _audit(chain, runtime, keys)
    assert report.exit_code == 1, report.to_json()
    assert {"netting.contract_omitted", "netting.contributions_dropped"} <= _codes(report)


def test_a_published_contract_set_other_than_the_committed_one_is_named(
    chain, runtime, clients, tmp_path, monkeypatch
) -> None:
    """The clearing house applies A's contract but publishes A's committed set as empty (an
    operator hiding which contracts exist): the published set does not hash, with A's
    portfolio, to A's on-chain portfolio hash."""
    honest = service.committed_contract_sets

    def applied(engine, bundles, session_id):
        return [c for cs in (honest(engine, bundles, session_id) or {}).values() for c in cs]

    def emptied(engine, bundles, session_id):
        return {fsp: [] for fsp in honest(engine, bundles, session_id) or {}}

    monkeypatch.setattr(service, "_contracts", applied)
    monkeypatch.setattr(service, "committed_contract_sets", emptied)
    _sid, keys = _netted_session(chain, runtime, clients, tmp_path)
    report = _audit(chain, runtime, keys)
    assert report.exit_code == 1, report.to_json()
    assert "netting.contract_set_not_committed" in _codes(report)


def test_the_committed_set_is_the_one_at_commitment(chain, runtime, clients, tmp_path) -> None:
    """A contract FSP A signs after its commitment is not applied by the honest clearing
    house (the committed one is), and the audit passes."""

    def post_later(signed: SignedContract) -> None:
        clients("fsp_a").post_revenue_contract(_later_contract(chain, runtime, signed))

    sid, keys = _netted_session(chain, runtime, clients, tmp_path, contract=post_later)
    bundle = NettingBundle.model_validate_json(runtime.bundles.get(sid, "netting"))
    assert [c.contract.user_incentive_ppm for c in bundle.contracts] == [100_000]
    report = _audit(chain, runtime, keys)
    assert report.exit_code == 0, report.to_json()


def test_a_netted_session_without_its_bundle_is_not_recomputable(
    chain, runtime, clients, tmp_path
) -> None:
    sid, keys = _netted_session(chain, runtime, clients, tmp_path)
    runtime.bundles.path(sid, "netting").unlink()
    report = _audit(chain, runtime, keys)
    assert report.exit_code == 1, report.to_json()
    assert "netting.not_recomputable" in _codes(report)


def test_a_malformed_bundle_is_a_coded_error_not_a_traceback(
    chain, runtime, clients, tmp_path
) -> None:
    sid, keys = _netted_session(chain, runtime, clients, tmp_path)
    runtime.bundles.path(sid, "netting").write_text('{"kind": "netting", "contracts": 3}')
    report = _audit(chain, runtime, keys)
    (session,) = report.sessions
    assert "netting.bundle_malformed" in session.error_codes, report.to_json()
    assert report.exit_code in (1, 2)


def test_a_signed_row_without_a_committed_contract_is_left_out_and_the_audit_passes(
    chain, runtime, clients, tmp_path
) -> None:
    """A user whose contract FSP A never committed (a claim issued after its commitment): the
    row is not shared, nobody's netting waits for it, and the auditor accepts the rule."""
    stranger = "0x" + "5e" * 20
    sid, keys = _netted_session(chain, runtime, clients, tmp_path, uncovered=(stranger,))
    bundle = NettingBundle.model_validate_json(runtime.bundles.get(sid, "netting"))
    assert stranger not in {c.ev_user for c in bundle.contributions}
    assert len(bundle.contributions) == 1
    (envelope,) = bundle.contribution_envelopes
    assert stranger in {r["ev_user"] for r in envelope.body["contributions"]}
    assert chain.contracts.market.credits(stranger) == 0
    report = _audit(chain, runtime, keys)
    assert report.exit_code == 0, report.to_json()
    notes = report.sessions[0].check("netting").notes
    assert any("without a committed contract" in n for n in notes), notes
