"""Happy paths of the smaller resources: hierarchy, assets, prognoses, dispatch status."""

from __future__ import annotations

import pytest
from market_helpers import CP, cpo_grants, make_worker, new_id, open_session, setup_market

from clearing.messages import BaselineIsp, DPrognosis
from market.api.schemas import AssetCreate, CongestionPointCreate, DispatchStatusCreate
from market.client import ApiError

pytestmark = pytest.mark.integration


def test_hierarchy_assets_prognoses_dispatch(chain, runtime, clients) -> None:
    op, fsp, dso = clients("operator"), clients("fsp_a"), clients("dso")
    setup_market(op)
    dso.create_congestion_point(
        CongestionPointCreate(code="EAN-FEEDER-7", parent_code=CP, max_increase_w=50_000)
    )
    with pytest.raises(ApiError) as err:
        dso.create_congestion_point(CongestionPointCreate(code="X", parent_code="NOPE"))
    assert err.value.status == 422 and err.value.field == "body.parent_code"
    assert {p["code"] for p in op.congestion_points()} == {CP, "EAN-FEEDER-7"}

    asset = AssetCreate(
        asset_id=new_id(),
        congestion_point="EAN-FEEDER-7",
        station_id="CS-TERNI-01",
        evse_id=1,
        max_import_w=11_000,
        max_export_w=10_000,
    )
    cpo_grants(chain, "CS-TERNI-01", "0x" + "11" * 20, "fsp_a")
    fsp.register_asset(asset)
    assert fsp.assets(owner=fsp.address)[0]["station_id"] == "CS-TERNI-01"
    with pytest.raises(ApiError) as err:
        dso.register_asset(asset.model_copy(update={"asset_id": new_id()}))
    assert err.value.status == 403

    s = open_session(op, int(runtime.core.clock.now()))
    make_worker(runtime).run_once()
    prognosis = DPrognosis(
        prognosis_id=new_id(),
        session_id=s.session_id,
        fsp=fsp.address,
        congestion_point="EAN-FEEDER-7",
        isps=[BaselineIsp(isp_index=i, power_w=-3_000 + i) for i in range(4)],
    )
    fsp.post_prognosis(prognosis)
    assert fsp.prognoses(s.session_id)[0]["body"]["prognosis_id"] == prognosis.prognosis_id
    bad = prognosis.model_copy(
        update={"prognosis_id": new_id(), "isps": (BaselineIsp(isp_index=9, power_w=1),)}
    )
    with pytest.raises(ApiError) as err:
        fsp.post_prognosis(bad)
    assert err.value.status == 422 and err.value.field == "body.isps[0].isp_index"

    op.report_dispatch(
        DispatchStatusCreate(
            session_id=s.session_id, order_id=new_id(), station_id="CS-TERNI-01", state="SENT"
        )
    )
    assert op.dispatch(s.session_id)[0]["state"] == "SENT"
