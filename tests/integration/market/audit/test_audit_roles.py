"""The audit lists who holds the market's privileged roles, from the chain's role events, and
agrees with ``hasRole``; a concentration of roles is named on each holder."""

from __future__ import annotations

from typing import Any

import pytest

from market.audit.check_roles import PRIVILEGED
from market.audit.runner import run_audit

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _roles_check(chain: Any) -> Any:
    report = run_audit(rpc=chain.client.rpc_url, market=chain.contracts.deployment.market)
    return next(c for c in report.market_checks if c.name == "roles")


def _expected(chain: Any) -> dict[str, list[str]]:
    """Holders per privileged role by ``hasRole`` over the fixture's accounts."""
    market = chain.contracts.market
    return {
        role: [a for a in sorted(chain.addresses.values()) if market.has_role(market.role(role), a)]
        for role in PRIVILEGED
    }


def test_the_privileged_roles_are_listed_as_has_role_sees_them(chain) -> None:
    check = _roles_check(chain)
    assert check.status == "pass" and check.findings == []
    listed = {n.split(": ")[0]: n.split(": ")[1] for n in check.notes}
    for role, accounts in _expected(chain).items():
        assert [a.split(" (also")[0] for a in listed[role].split(", ") if a != "nobody"] == sorted(
            accounts
        ), role
    oracle = chain.addresses["oracle"]
    assert listed["METER_ORACLE"] == oracle  # its own account, holding no other role
    assert listed["participants"] == "CPO 1, DSO 2, FSP 3"


def test_an_operator_that_makes_itself_oracle_or_cpo_is_named_so_and_a_revoke_counts(
    chain,
) -> None:
    market, op = chain.contracts.market, chain.addresses["operator"]
    market.grant_role(market.role("METER_ORACLE"), op, sender=op)
    notes = _roles_check(chain).notes
    oracle_note = next(n for n in notes if n.startswith("METER_ORACLE: "))
    assert f"{op} (also " in oracle_note and "DEFAULT_ADMIN" in oracle_note

    market.register_participant(op, b"\x00" * 32, [market.role("CPO")], sender=op)
    admin_note = next(n for n in _roles_check(chain).notes if n.startswith("DEFAULT_ADMIN: "))
    assert "CPO" in admin_note.split(f"{op} (also ")[1]  # the operator registering meter keys

    market.revoke_role(market.role("METER_ORACLE"), op, sender=op)
    notes = _roles_check(chain).notes
    assert f"METER_ORACLE: {chain.addresses['oracle']}" in notes


def test_a_scan_starting_after_the_deploy_block_says_its_list_may_be_short(chain) -> None:
    market = chain.contracts.deployment.market
    start = chain.contracts.market.deploy_block + 1
    report = run_audit(rpc=chain.client.rpc_url, market=market, from_block=start)
    notes = next(c for c in report.market_checks if c.name == "roles").notes
    assert notes[-1].startswith(f"role events read from block {start} (--from-block)")
    assert not any(n.startswith("role events read") for n in _roles_check(chain).notes)
