"""Shared set-up of the service settlement tests: a cleared two-FSP session, signed readings."""

from __future__ import annotations

import sys

import market_helpers
from coincurve import PrivateKey
from eth_utils import keccak
from market_helpers import (
    CP,
    commit,
    cpo_grants,
    escrow,
    make_offer,
    make_request,
    make_worker,
    new_id,
    open_session,
    setup_market,
)
from sqlmodel import Session, select

from adapters.chain.types import SessionState
from clearing.messages import BaselineIsp, DPrognosis
from clearing.settlement.meter import SignedMeterReading, sign_reading
from clearing.settlement.rules import SettlementRules
from clearing.terms import SessionTerms
from market.api.schemas import AssetCreate, ParticipantCreate
from market.clearing_house.verification import readings_from_rows
from market.store import models as m

RULES = SettlementRules()  # 900 s ISPs, nominated baseline, 5 % tolerance, penalty factor 1
BASELINE_W = 10_000
ORDER_W = 5_000
PRICE_A, PRICE_B = 100_000_000, 200_000_000
STATION_KEYS = {"ST-A": "0x" + "11" * 32, "ST-B": "0x" + "22" * 32}


def pubkey(private: str) -> str:
    return "0x" + PrivateKey(bytes.fromhex(private[2:])).public_key.format(compressed=False).hex()


def energy(power_w: int, seconds: int) -> int:
    return power_w * seconds // 3600


def readings(station: str, start: int, power_by_isp: list[int], *, skip=()) -> list:
    """Signed cumulative import readings every 300 s from start-900 to end+900."""
    out, reg = [], 100_000
    t = start - 900
    end = start + 900 * len(power_by_isp)
    while t <= end + 900:
        if not any(lo < t < hi for lo, hi in skip):
            out.append(
                sign_reading(
                    STATION_KEYS[station],
                    station=station,
                    evse=1,
                    timestamp=t,
                    import_wh=reg,
                    export_wh=0,
                )
            )
        isp = (t - start) // 900
        power = power_by_isp[isp] if 0 <= isp < len(power_by_isp) else BASELINE_W
        reg += energy(power, 300)
        t += 300
    return out


def store_readings(engine, readings) -> None:
    with Session(engine) as db:
        for r in readings:
            db.add(
                m.MeterReading(
                    station_id=r.station,
                    evse_id=r.evse,
                    timestamp=r.timestamp,
                    import_wh=r.import_wh,
                    export_wh=r.export_wh,
                    signature=r.signature,
                    protocol="test",
                )
            )
        db.commit()


def cpo_posts_digests(runtime, clients, session_id: str, received, stations=None) -> dict:
    """The stations' CPO signs, per station and ISP, digests of the readings it received and
    posts them (``POST /sessions/{id}/readings-digests``), as every session's terms require.
    ``stations``: those to vouch for (default: the stations of ``received``)."""
    terms = SessionTerms.model_validate_json(runtime.bundles.get(session_id, "terms"))
    received = list(received)
    mine = set(stations) if stations is not None else {r.station for r in received}
    # what its CSMS received from those stations before too (an earlier session's tail)
    earlier = [r for r in stored_readings(runtime.engine) if r.station in mine]
    domain = (runtime.ledger.chain_id, runtime.ledger.market_address)
    return market_helpers.post_cpo_digests(clients("cpo"), terms, domain, received + earlier, mine)


def deliver(runtime, clients, session_id: str, received, stations=None) -> None:
    """Readings reach the market's store, and the CPO, which received the same, posts its
    signed digests of them."""
    received = list(received)
    cpo_posts_digests(runtime, clients, session_id, received, stations)
    store_readings(runtime.engine, received)


def stored_readings(engine) -> list[SignedMeterReading]:
    with Session(engine) as db:
        return list(readings_from_rows(db.exec(select(m.MeterReading)), from_ts=0, to_ts=2**62))


def register_roles(chain) -> tuple[str, str]:
    """Two spare dev keys as ARBITER and CLEARING_HOUSE (the snapshot reverts them)."""
    market, op = chain.contracts.market, chain.addresses["operator"]
    keys = chain.node.private_keys[8:10]
    arbiter, house = (chain.client.add_account(k) for k in keys)
    market.register_participant(arbiter, keccak(text="arb"), [market.role("ARBITER")], sender=op)
    market.register_participant(
        house, keccak(text="house"), [market.role("CLEARING_HOUSE")], sender=op
    )
    return arbiter, house


def session_to_delivery(chain, runtime, clients, after_commit=None, *, again=False, contracts=None):
    """One request, FSP A (100 EUR/MWh) and FSP B (200 EUR/MWh) 5 kW each for 4 ISPs;
    ``after_commit(session, clients)`` runs once both FSPs committed, before gate closure.
    ``again``: a further session of the same market (participants and assets already set up).
    ``contracts``: per FSP name, the signed revenue-sharing contracts it posts before it
    commits (its commitment binds every contract it has: post earlier ones again)."""
    op, dso, fsp_a, fsp_b = (clients(n) for n in ("operator", "dso", "fsp_a", "fsp_b"))
    if not again:
        setup_market(op)
        for c, name in ((fsp_a, "A"), (fsp_b, "B")):
            c.register_participant(ParticipantCreate(name=name, ean_codes=[CP]))
    s = open_session(op, int(runtime.core.clock.now()))
    worker = make_worker(runtime)
    worker.run_once()
    for c, station, name in ((fsp_a, "ST-A", "fsp_a"), (fsp_b, "ST-B", "fsp_b")):
        if not again:
            cpo_grants(chain, station, pubkey(STATION_KEYS[station]), name)
            c.register_asset(
                AssetCreate(
                    asset_id=new_id(),
                    congestion_point=CP,
                    station_id=station,
                    evse_id=1,
                    max_import_w=22_000,
                    max_export_w=22_000,
                    meter_public_key=pubkey(STATION_KEYS[station]),
                )
            )
        c.post_prognosis(
            DPrognosis(
                prognosis_id=new_id(),
                session_id=s.session_id,
                fsp=c.address,
                congestion_point=CP,
                isps=[BaselineIsp(isp_index=i, power_w=BASELINE_W) for i in range(4)],
            )
        )
    req = make_request(s.session_id, expires_at=s.gate_closure)
    escrow(chain, "dso", req)
    dso.post_request(req)
    for who, c, price in (("fsp_a", fsp_a, PRICE_A), ("fsp_b", fsp_b, PRICE_B)):
        offer = make_offer(
            s.session_id, c.address, expires_at=s.gate_closure, power_w=ORDER_W, price=price
        )
        c.post_offer(offer)
        commit(chain, who, s.session_id, [offer], via=c, contracts=(contracts or {}).get(who, ()))
    if after_commit is not None:
        after_commit(s, clients)
    chain.warp_to(s.gate_closure + 1)
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.CLEARED
    return s, req, worker


def digests_to_delivery(chain, runtime, clients, monkeypatch):
    """``session_to_delivery`` under terms requiring readings digests; returns the session,
    the worker and the readings both stations sent (ordered power in every ISP)."""
    monkeypatch.setattr(
        sys.modules[__name__],
        "make_worker",
        lambda rt: market_helpers.make_worker(rt, readings_digests_required=True),
    )
    s, _req, worker = session_to_delivery(chain, runtime, clients)
    received = [
        r
        for station in ("ST-A", "ST-B")
        for r in readings(station, s.delivery_start, [BASELINE_W - ORDER_W] * 4)
    ]
    return s, worker, received


def deliver_and_finalize(
    chain, runtime, clients, *, b_delivers: bool, again: bool, contracts=None
) -> str:
    """A session where FSP A delivers in full and FSP B in full or not at all; FINAL."""
    s, _req, worker = session_to_delivery(chain, runtime, clients, again=again, contracts=contracts)
    start = s.delivery_start
    deliver(runtime, clients, s.session_id, readings("ST-A", start, [BASELINE_W - ORDER_W] * 4))
    b_power = BASELINE_W - ORDER_W if b_delivers else BASELINE_W
    deliver(runtime, clients, s.session_id, readings("ST-B", start, [b_power] * 4))
    attach_oracle(chain, runtime, worker)
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    # past the challenge window of the attestation as mined: a slow verification (a loaded
    # CI machine) mines it seconds after the warp
    info = runtime.ledger.session(s.session_id)
    chain.warp_to(max(s.delivery_end + 61 + 301, info.verified_at + info.challenge_window + 1))
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.FINAL
    return s.session_id


def paid(energy_wh: int, price: int) -> int:
    return energy_wh * price // 1_000_000


def order_rows(runtime, session_id: str) -> list[m.OrderRow]:
    with Session(runtime.engine) as db:
        return list(db.exec(select(m.OrderRow).where(m.OrderRow.session_id == session_id)))


def session_row(runtime, session_id: str) -> m.MarketSession:
    with Session(runtime.engine) as db:
        row = db.get(m.MarketSession, session_id)
        assert row is not None
        return row


def attach_oracle(chain, runtime, worker) -> None:
    """The worker verifies delivery as the test meter oracle, under RULES."""
    from market.lifecycle.verification import make_verification_hook

    worker.verification_hook = make_verification_hook(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        oracle=chain.addresses["oracle"],
        rules=RULES,
    )


def signed_revenue_contract(
    chain, runtime, fsp: str, seed: int, user_key=None, contract_id=None, **terms
):
    """A revenue-sharing contract of the party ``fsp`` with an EV user, a CPO and a platform
    whose keys derive from ``seed`` (the user's is ``user_key`` when given), signed by all
    four; returns (signed, user, cpo, platform, user key)."""
    import uuid

    from eth_account import Account

    from clearing.settlement.revenue import RevenueShareContract, sign_contract
    from market.clearing_house.period import SignedContract

    keys = ["0x" + f"{seed + i:064x}" for i in (1, 2, 3)]
    if user_key is not None:
        keys[0] = user_key
    user, cpo, platform = (Account.from_key(k).address.lower() for k in keys)
    contract = RevenueShareContract(
        contract_id=contract_id or str(uuid.uuid4()),
        fsp=chain.addresses[fsp].lower(),
        ev_user=user,
        cpo=cpo,
        platform=platform,
        user_incentive_mode="percent",
        valid_from=0,
        valid_until=2**40,
        **terms,
    )
    domain = {
        "chain_id": runtime.ledger.chain_id,
        "verifying_contract": chain.contracts.market.address,
    }
    sigs = tuple(sign_contract(contract, k, **domain) for k in (chain.keys[fsp], *keys))
    return SignedContract(contract=contract, signatures=sigs), user, cpo, platform, keys[0]


def signed_template(chain, runtime, fsp: str, seed: int, *, signers=("cpo", "platform"), **terms):
    """A revenue-share template of the party ``fsp`` with a CPO and a platform whose keys
    derive from ``seed``, signed by ``signers`` through ``flexmarket participant
    sign-template`` (each signer runs it on the previous output, as in a deployment);
    returns (SignedTemplate, cpo, platform)."""
    import json
    import uuid

    import yaml
    from eth_account import Account
    from typer.testing import CliRunner

    from market.clearing_house.period import SignedTemplate
    from market.cli import app

    keys = {"cpo": "0x" + f"{seed + 2:064x}", "platform": "0x" + f"{seed + 3:064x}"}
    cpo, platform = (Account.from_key(keys[k]).address.lower() for k in ("cpo", "platform"))
    doc: dict = {
        "template_id": str(uuid.uuid4()),
        "fsp": chain.addresses[fsp].lower(),
        "cpo": cpo,
        "platform": platform,
        "user_incentive_mode": "percent",
        "valid_from": 0,
        "valid_until": 2**40,
        **terms,
    }
    deployment = [
        "--chain-id",
        str(runtime.ledger.chain_id),
        "--market",
        chain.contracts.market.address,
    ]
    for who in signers:
        out = CliRunner().invoke(
            app,
            ["participant", "sign-template", "--template", "-", *deployment, "--key-env", "TK"],
            input=yaml.safe_dump(doc),
            env={"TK": keys[who]},
        )
        assert out.exit_code == 0, out.output
        doc = json.loads(out.stdout)
    signed = SignedTemplate.model_validate(
        doc if "template" in doc else {"template": doc, "signatures": []}
    )
    return signed, cpo, platform


def station_keys_file(chain, tmp_path):
    """The auditor's ``stations.json``: each station's meter key and owner (the FSP)."""
    import json

    keys = tmp_path / "stations.json"
    owners = {"ST-A": chain.addresses["fsp_a"], "ST-B": chain.addresses["fsp_b"]}
    keys.write_text(
        json.dumps(
            [
                {"station_id": st, "meter_public_key": pubkey(k), "owner": owners[st]}
                for st, k in STATION_KEYS.items()
            ]
        )
    )
    return str(keys)


def user_contract(chain, runtime, seed: int = 0xB0):
    """FSP B's contract paying an EV user 10 % of its revenue (signed by all; post it before
    FSP B commits, e.g. ``deliver_and_finalize(..., contracts={"fsp_b": [it]})``)."""
    signed, *_ = signed_revenue_contract(
        chain, runtime, "fsp_b", seed,
        user_incentive_ppm=100_000, cpo_fee_per_kwh_units=0, platform_fee_ppm=0,
    )  # fmt: skip
    return signed


def share_with_a_user(chain, clients, session_id: str, signed) -> str:
    """FSP B shares under ``signed`` (committed before the session): its parties named
    on-chain, the user's 5 kWh shifted posted; returns the user's address."""
    from clearing.settlement.revenue import UserContribution
    from market.clearing_house.period import contract_payees

    b_client = clients("fsp_b")
    chain.contracts.market.name_netting_payees(
        contract_payees([signed]), sender=chain.addresses["fsp_b"]
    )
    user = signed.contract.ev_user
    row = UserContribution(
        session_id=session_id, fsp=b_client.address, ev_user=user, shifted_wh=5_000, discharged_wh=0
    )
    b_client.post_contributions(session_id, [row])
    return user


def settle(runtime, session_id: str, house: str, **kw) -> dict:
    """``settle_session`` of the runtime's market, the clearing house also the fee recipient
    unless ``fee_recipient`` is given."""
    from market.clearing_house.service import settle_session

    kw.setdefault("fee_recipient", house.lower())
    return settle_session(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        session_id=session_id,
        clearing_house=house,
        **kw,
    )
