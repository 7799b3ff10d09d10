"""Setup before the first session: participants, congestion points and EVSEs registered through
the signed API, and the station registry the auditor reads from the bundle folder."""

from __future__ import annotations

import json

from market.api.schemas import AssetCreate, CongestionPointCreate, ParticipantCreate
from market.participant.onchain import ChainAccount
from market.participant.participant import Participant
from market.replay.context import ReplayContext
from market.replay.derive import derived_uuid
from market.replay.world import onchain_role, station_address


def participants(ctx: ReplayContext) -> dict[str, Participant]:
    """Every party of the replay as a participant of the library, over its signed client and
    the replay's chain client (which holds every derived key)."""
    market, token = ctx.chain.contracts.market, ctx.chain.contracts.token
    return {
        pid: Participant(client, ChainAccount(market, token, ctx.chain.addresses[pid]))
        for pid, client in ctx.clients.items()
    }


def register_station_keys(ctx: ReplayContext) -> None:
    """Each station's CPO registers its meter key on-chain and grants the station to the FSP
    whose EVs charge there: the FSP's asset registration is then accepted, and the auditor
    checks readings against the CPO's key, not one the operator or an FSP declared."""
    sc = ctx.scenario
    owners = {stay.station: stay.ev.fsp for stay in ctx.stays}
    for st in sorted(sc.stations, key=lambda s: s.id):
        cpo = ctx.participants[st.cpo].chain
        cpo.register_station(st.id, station_address(sc.seed, st.id))
        if st.id in owners:
            cpo.grant_station(st.id, ctx.chain.addresses[owners[st.id]])


def register_participants(ctx: ReplayContext) -> None:
    """Participants describe themselves, the operator lists congestion points, FSPs their
    EVSEs (with each station's meter key), all through the signed API. The participants'
    steps from here on go through ``ctx.participants`` (the participant library)."""
    sc = ctx.scenario
    ctx.participants = participants(ctx)
    ctx.clients["operator"].register_participant(ParticipantCreate(name="Replay market operator"))
    ctx.clients["meter-oracle"].register_participant(ParticipantCreate(name="Meter oracle"))
    for p in sorted(sc.participants, key=lambda p: p.id):
        if p.id in ctx.participants and onchain_role(p.role):
            ctx.participants[p.id].describe(p.name, eic=p.eic[:32] if p.eic else None)
    for cp in ctx.grid.points:
        ctx.clients["operator"].create_congestion_point(
            CongestionPointCreate(code=cp.cp_id, name=cp.name[:200], parent_code=cp.parent_id)
        )
    register_station_keys(ctx)
    for stay in ctx.stays:
        owner = stay.ev.fsp
        ctx.participants[owner].register_asset(
            AssetCreate(
                asset_id=derived_uuid(sc.seed, "asset", stay.station, stay.evse),
                congestion_point=ctx.grid.station_point[stay.station],
                station_id=stay.station,
                evse_id=stay.evse,
                max_import_w=stay.max_import_w,
                max_export_w=stay.max_export_w,
                meter_public_key=station_address(sc.seed, stay.station),
            )
        )
    registry = [
        {
            "station_id": stay.station,
            "evse_id": stay.evse,
            "owner": ctx.chain.addresses[stay.ev.fsp].lower(),
            "congestion_point": ctx.grid.station_point[stay.station],
            "meter_public_key": station_address(sc.seed, stay.station),
        }
        for stay in ctx.stays
    ]
    bundle_dir = ctx.runtime.settings.bundle_dir
    bundle_dir.mkdir(parents=True, exist_ok=True)
    (bundle_dir / "stations.json").write_text(json.dumps(registry, indent=1, sort_keys=True))
