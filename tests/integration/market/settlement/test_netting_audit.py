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


def _netted_session(chain, runtime, clients, tmp_path, *, contract=None) -> tuple[str, str]:
    """A FINAL session where FSP A shares revenue with an EV user, a CPO and the platform,
    settled by the clearing house; returns (session id, station-keys file)."""
    _arbiter, house = register_roles(chain)
    sid = deliver_and_finalize(chain, runtime, clients, b_delivers=True, again=False)
    signed, user, _cpo, platform, _key = signed_revenue_contract(
        chain, runtime, "fsp_a", 0xA0,
        user_incentive_ppm=100_000, cpo_fee_per_kwh_units=1_000, platform_fee_ppm=10_000,
    )  # fmt: skip
    fsp_a = chain.addresses["fsp_a"].lower()
    a_client = clients("fsp_a")
    a_client.post_revenue_contract(signed)
    chain.contracts.market.name_netting_payees(contract_payees([signed]), sender=fsp_a)
    a_client.post_contributions(
        sid,
        [
            UserContribution(
                session_id=sid, fsp=fsp_a, ev_user=user, shifted_wh=5_000, discharged_wh=0
            )
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


def test_honest_netting_is_recomputed_and_passes(chain, runtime, clients, api, tmp_path) -> None:
    sid, keys = _netted_session(chain, runtime, clients, tmp_path)
    raw = runtime.bundles.get(sid, "netting")
    bundle = NettingBundle.model_validate_json(raw)
    assert bundle.to_canonical() == raw  # canonical JSON: the same inputs give the same bytes
    assert api.get(f"/sessions/{sid}/bundles/netting").content == raw  # public, byte-exact
    assert len(bundle.contracts) == 1 and len(bundle.contributions) == 1
    assert len(bundle.contracts[0].signatures) == 4
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

    def with_forged(engine):
        return forged

    monkeypatch.setattr(service.store, "load_contracts", with_forged)
    monkeypatch.setattr(period_module, "verify_contract_signatures", lambda *a, **k: [])
    _sid, keys = _netted_session(chain, runtime, clients, tmp_path, contract=forge)
    monkeypatch.undo()
    report = _audit(chain, runtime, keys)
    assert report.exit_code == 1, report.to_json()
    assert "netting.contract_unsigned" in _codes(report)


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
