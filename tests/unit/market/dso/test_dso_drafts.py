"""A manual-approval draft carries the forecast behind its request: the requested ISPs with
their worst loading and needed power, and the forecaster's reason, on the real CIGRE LV grid."""

from __future__ import annotations

import datetime as dt

from market.agents.common import MarketSession
from market.agents.dso import DsoAgent, DsoConfig
from market.dso.config import parse_config
from market.dso.drafts import draft_of
from market.dso.grid import load_dso_grid

SESSION = "6f1c2a1e-0d4b-4c57-9a61-2f0e8f1d3b10"


def test_draft_holds_the_request_and_the_forecast_of_each_requested_isp() -> None:
    cfg = parse_config(
        {
            "api_url": "http://127.0.0.1:8000",
            "rpc_url": "http://127.0.0.1:8545",
            "key_env": "DSO_KEY",
            "grid": {"source": "cigre-lv"},
            # CIGRE LV's static loads put transformer 0 at ~85 %: 80 % is a congestion
            "congestion_points": [
                {"code": "TR-0", "element": "transformer", "index": 0, "limit_pct": 80}
            ],
            "budget": {"max_price_per_mwh": 250_000_000, "max_budget_units_per_session": 10**12},
            "requests": {"approval": "manual"},
        }
    )
    start = int(dt.datetime(2024, 1, 15, 10, tzinfo=dt.UTC).timestamp())
    agent = DsoAgent(
        forecaster=load_dso_grid(cfg).forecaster(dt.date(2024, 1, 15)),
        session=MarketSession(
            session_id=SESSION,
            start_unix=start,
            n_isps=4,
            gate_closure_unix=start - 3600,
            isp_s=900,
        ),
        config=DsoConfig(max_price_per_mwh=250_000_000),
    )
    (req,) = agent.requests()
    draft = draft_of(agent, req)
    assert draft.request == req  # the page signs and escrows exactly this body
    assert draft.reason.startswith("TR-0 UP: ")
    assert [f.isp_index for f in draft.forecast] == [i.isp_index for i in req.isps]
    for f, isp in zip(draft.forecast, req.isps, strict=True):
        assert f.max_loading_ppm > 800_000  # over the 80 % limit
        assert f.need_w == isp.min_power_w > 0
