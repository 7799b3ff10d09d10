"""A market day in which one FSP acts only through ``flexmarket participant`` subprocesses.

Real anvil, the market API on a loopback socket, the lifecycle worker with its settlement
wiring; the operator and the DSO act in Python (the DSO through the participant library), the
station signs its meter readings, and FSP ``fsp_a`` signs in, registers, nominates its baseline,
offers, commits, follows its orders, relays the readings, withdraws and reads its statement with
the command line alone, and is paid.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from coincurve import PrivateKey
from eth_account import Account
from eth_utils.crypto import keccak
from market_helpers import CP, make_request, make_worker, post_cpo_digests, setup_market

from clearing.encoding import hex32, uuid_to_bytes32
from clearing.messages import BaselineIsp, DPrognosis, FlexOffer, FlexOfferOption, IspPower
from clearing.settlement.meter import SignedMeterReading, sign_reading
from clearing.settlement.rules import SettlementRules
from clearing.terms import SessionTerms
from market.api.schemas import SessionCreate
from market.client import MarketClient
from market.participant.onchain import ChainAccount
from market.participant.participant import Participant
from market.runtime import attach_settlement
from market.settings import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[4]
ISP_S, N_ISPS, METER_S = 60, 4, 12
BASELINE_W, ORDER_W, PRICE = 11_000, 5_000, 100_000_000
STATION = "ST-CLI"
STATION_KEY = "0x" + keccak(text="station:ST-CLI").hex()
STATION_ADDRESS = Account.from_key(STATION_KEY).address  # the meter's key, as OCMF names it
RULES = SettlementRules(isp_s=ISP_S, max_gap_s=30, delivery_tolerance_ppm=50_000)


@pytest.fixture
def settings(db_url: str, tmp_path: Path, chain) -> Settings:
    """The service's settings with the meter oracle's key and this test's settlement rules."""
    return Settings(
        database_url=db_url,
        bundle_dir=tmp_path / "bundles",
        role_cache_ttl_s=0.0,
        token_secret="test-secret",
        oracle_key=chain.keys["oracle"],
        settlement_rules=RULES.to_json_obj(),
    )


class Cli:
    """``flexmarket participant ...`` as a subprocess with the FSP's key in the environment."""

    def __init__(self, api: str, rpc: str, key: str, tmp: Path) -> None:
        self.tmp = tmp
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "FLEXMARKET_API_URL": api,
            "FLEXMARKET_RPC_URL": rpc,
            "FSP_KEY": key,
        }

    def file(self, name: str, value: Any) -> str:
        path = self.tmp / name
        path.write_text(json.dumps(value))
        return str(path)

    def run(self, *args: str, ok: bool = True) -> Any:
        cmd = [sys.executable, "-m", "market.cli", "participant", *args, "--key-env", "FSP_KEY"]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)
        assert (proc.returncode == 0) == ok, f"{args}: {proc.returncode}\n{proc.stderr[-3000:]}"
        if not ok:
            assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
        return json.loads(proc.stdout)


def _readings(start: int, end: int, power_w: int) -> list[dict[str, Any]]:
    """What the station signs: its import register every METER_S seconds of delivery."""
    out = []
    for n, t in enumerate(range(start, end + 1, METER_S)):
        r = sign_reading(
            STATION_KEY,
            station=STATION,
            evse=1,
            timestamp=t,
            import_wh=1_000 + n * power_w * METER_S // 3600,
            export_wh=0,
        )
        out.append(
            {
                "station_id": STATION,
                "evse_id": 1,
                "timestamp": t,
                "import_wh": r.import_wh,
                "export_wh": 0,
                "power_w": power_w,
                "signed_data": r.payload().decode(),
                "signature": r.signature,
                "public_key": STATION_ADDRESS,
            }
        )
    return out


def test_fsp_takes_part_in_a_market_day_with_the_cli_alone(
    chain, runtime, server, tmp_path
) -> None:
    market, token = chain.contracts.market, chain.contracts.token
    now = runtime.core.clock.now
    op = MarketClient(server, chain.keys["operator"], now=now)
    dso = Participant(
        MarketClient(server, chain.keys["dso"], now=now),
        ChainAccount(market, token, chain.addresses["dso"]),
    )
    worker = make_worker(runtime)
    attach_settlement(worker, runtime.settings, ledger=runtime.ledger)
    cli = Cli(server, chain.node.rpc_url, chain.keys["fsp_a"], tmp_path)
    fsp = chain.addresses["fsp_a"].lower()

    # the operator opens a session; the DSO escrows and publishes its request
    setup_market(op)
    gate = (int(now()) // ISP_S + 10) * ISP_S
    session = SessionCreate(
        session_id=str(uuid.uuid4()),
        gate_closure=gate,
        delivery_start=gate,
        delivery_end=gate + N_ISPS * ISP_S,
        isp_s=ISP_S,
        challenge_window_s=300,
    )
    sid = session.session_id
    op.create_session(session)
    worker.run_once()
    dso.post_request(make_request(sid, expires_at=gate))

    # the FSP, by command line only
    login = cli.run("login")
    assert login["address"] == fsp and login["token"]
    cli.run("register", "--name", "FSP A by CLI")
    meter_key = "0x" + PrivateKey(bytes.fromhex(STATION_KEY[2:])).public_key.format(False).hex()
    asset = ("--station", STATION, "--congestion-point", CP, "--max-import-w", "22000")
    refused = cli.run("register-asset", "--asset-id", str(uuid.uuid4()), *asset, ok=False)
    assert refused["error"]["field"] == "asset.body.station_id"  # no CPO granted it yet
    # the station's CPO, by command line too: its key on-chain, the station granted to A
    cpo = Cli(server, chain.node.rpc_url, chain.keys["cpo"], tmp_path)
    station = ("--station", STATION, "--meter-key", meter_key)
    assert cpo.run("register-station", *station, "--grant-to", fsp) == {
        "station_id": STATION,
        "meter_key": STATION_ADDRESS.lower(),
        "registered": True,
        "granted_to": fsp,
    }
    assert not cpo.run("register-station", *station)["registered"]  # once: idempotent
    swap = ("--station", STATION, "--meter-key", "0x" + "12" * 20)
    other = cpo.run("register-station", *swap, ok=False)["error"]
    assert other["field"] == "station_id" and "never replaced" in other["reason"]  # no swap
    cli.run("register-asset", "--asset-id", str(uuid.uuid4()), *asset)  # the CPO's key
    assert [a["station_id"] for a in cli.run("assets")] == [STATION]
    assert [s["id"] for s in cli.run("sessions", "--state", "OPEN")] == [sid]
    prognosis = DPrognosis(
        prognosis_id=str(uuid.uuid4()),
        session_id=sid,
        fsp=fsp,
        congestion_point=CP,
        isps=tuple(BaselineIsp(isp_index=i, power_w=BASELINE_W) for i in range(N_ISPS)),
    )
    cli.run("prognosis", "--file", cli.file("prognosis.json", prognosis.model_dump(mode="json")))
    (request,) = dso.requests(sid)
    offer = FlexOffer(
        offer_id=str(uuid.uuid4()),
        session_id=sid,
        fsp=fsp,
        request_id=request.request_id,
        congestion_point=CP,
        direction="UP",
        expires_at=gate,
        options=(
            FlexOfferOption(
                option_ref="full",
                isps=tuple(IspPower(isp_index=i, power_w=ORDER_W) for i in range(N_ISPS)),
                price_per_mwh=PRICE,
                min_activation_ppm=1_000_000,
            ),
        ),
    )
    offers = cli.file("offers.json", [offer.model_dump(mode="json")])
    assert [o["body"]["offer_id"] for o in cli.run("offer", "--file", offers)] == [offer.offer_id]
    committed = cli.run("commit", "--file", offers)
    assert committed["root"] == hex32(market.offer_root(uuid_to_bytes32(sid), fsp))
    assert cli.run("orders", "--session", sid) == []  # not cleared yet

    # gate closure: the worker closes and clears; the FSP follows its orders
    chain.warp_to(gate)
    worker.run_once()
    orders = cli.run("orders", "--session", sid, "--wait", "--timeout-s", "30", "--poll-s", "0.2")
    assert len(orders) == 1 and orders[0]["fsp"] == fsp
    assert {i["power_w"] for i in orders[0]["isps"]} == {ORDER_W}

    # delivery: the station charges at baseline - order; the FSP relays its signed readings
    end = session.delivery_end
    readings = cli.file("readings.json", _readings(gate, end, BASELINE_W - ORDER_W))
    chain.warp_to(end)  # a meter signs what happened: its readings are posted afterwards
    assert cli.run("readings", "--file", readings)["posted"] == N_ISPS * ISP_S // METER_S + 1

    # the station's CPO vouches for what its CSMS received (the same signed readings)
    terms = SessionTerms.model_validate_json(runtime.bundles.get(sid, "terms"))
    received = [
        SignedMeterReading(
            station=r["station_id"],
            evse=r["evse_id"],
            timestamp=r["timestamp"],
            import_wh=r["import_wh"],
            export_wh=r["export_wh"],
            signature=r["signature"],
        )
        for r in json.loads(Path(readings).read_text())
    ]
    domain = (runtime.ledger.chain_id, runtime.ledger.market_address)
    cpo_client = MarketClient(server, chain.keys["cpo"], now=now)
    assert post_cpo_digests(cpo_client, terms, domain, received, [STATION])["stored"] > 0

    # verification after the meter grace, final after the challenge window
    chain.warp_to(end + 61)
    worker.run_once()
    info = runtime.ledger.session(sid)
    assert info.state.name == "VERIFIED"
    payout = sum(runtime.ledger.payouts(sid).payouts)
    assert payout > 0
    chain.warp_to(info.verified_at + info.challenge_window + 1)
    worker.run_once()
    assert runtime.ledger.session(sid).state.name == "FINAL"

    # the FSP is paid: its withdrawal moves the attested payout to its token balance
    before = token.balance_of(fsp)
    assert cli.run("withdraw") == {"address": fsp, "withdrawn_units": payout}
    assert token.balance_of(fsp) - before == payout
    refused = cli.run("withdraw", ok=False)
    assert refused["error"]["field"] == "credits"
    statement = cli.run("statements", "--session", sid)
    assert {s["payout_units"] for s in statement["settlements"]} == {payout}  # order, request
    assert statement["netting"] is None  # no clearing house in this market


def test_cli_refusals_are_one_line_naming_the_field(chain, runtime, server, tmp_path) -> None:
    cli = Cli(server, chain.node.rpc_url, chain.keys["fsp_a"], tmp_path)
    cli.env.pop("FSP_KEY")
    assert cli.run("login", ok=False)["error"]["field"] == "--key-env"
    cli.env["FSP_KEY"] = chain.keys["fsp_a"]
    bad = cli.file("bad.json", [{"offer_id": "x"}])
    error = cli.run("offer", "--file", bad, ok=False)["error"]
    assert error["field"].startswith("offers[0].")
    cli.env.pop("FLEXMARKET_RPC_URL")
    assert cli.run("withdraw", ok=False)["error"]["field"] == "--rpc"


def test_dso_funds_and_escrows_a_request_by_cli(chain, runtime, server, tmp_path) -> None:
    op = MarketClient(server, chain.keys["operator"], now=runtime.core.clock.now)
    setup_market(op)
    gate = int(runtime.core.clock.now()) + 600
    session = SessionCreate(
        session_id=str(uuid.uuid4()),
        gate_closure=gate,
        delivery_start=gate,
        delivery_end=gate + 3600,
        challenge_window_s=300,
    )
    op.create_session(session)
    make_worker(runtime).run_once()
    cli = Cli(server, chain.node.rpc_url, chain.keys["dso2"], tmp_path)
    req = make_request(session.session_id, expires_at=gate)
    requests = cli.file("request.json", req.model_dump(mode="json"))
    assert cli.run("fund", "--amount-units", "0")["allowance_units"] == 0
    error = cli.run("request", "--file", requests, ok=False)["error"]
    assert error["field"] == "allowance" and "participant fund" in error["reason"]
    funded = cli.run("fund", "--amount-units", str(req.budget_units))
    assert funded["allowance_units"] == req.budget_units
    (stored,) = cli.run("request", "--file", requests)
    assert stored["body"]["request_id"] == req.request_id
    onchain = chain.contracts.market.request(uuid_to_bytes32(req.request_id))
    assert onchain.budget == req.budget_units
