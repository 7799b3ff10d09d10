"""Without ``rpc_url`` in fsp.yaml the gateway asks the market's ``GET /deployment`` for a
public RPC URL; a market that advertises none gives one error naming ``rpc_url``. (The
journey in test_ev_user_page.py runs a whole session on the advertised URL.)"""

from __future__ import annotations

import pytest

from market.fsp.config import FspGatewayConfig, parse_config
from market.fsp.runner import resolve_rpc_url
from market.participant.errors import ParticipantError

pytestmark = pytest.mark.integration


def _cfg(market_url: str, **extra: object) -> FspGatewayConfig:
    return parse_config(
        {
            "market_url": market_url,
            "key_env": "FSP_KEY",
            "csms": {
                "stations": {
                    "ST1": {
                        "password_env": "ST1_PW",
                        "evses": [
                            {"evse_id": 1, "congestion_point": "CP-1", "max_import_w": 11_000}
                        ],
                    }
                }
            },
            **extra,
        }
    )


def test_a_market_without_a_public_rpc_url_gives_one_error_naming_rpc_url(server: str) -> None:
    with pytest.raises(ParticipantError) as err:
        resolve_rpc_url(_cfg(server))
    assert err.value.field == "rpc_url"
    assert err.value.reason.endswith("(the market advertises no public_rpc_url)")
    assert "\n" not in err.value.reason
    # fsp.yaml's own rpc_url wins without asking the market
    own = _cfg("http://127.0.0.1:1", rpc_url="http://node.example:8545")
    assert resolve_rpc_url(own) == "http://node.example:8545"
