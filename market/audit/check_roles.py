"""Who can act on the market now: the holders of its privileged roles, for the auditor to read.

Why a note, not a finding: one account may lawfully hold several roles (a small market's
operator may also run its meter oracle), and every money-moving act of a role is recomputed
by the other checks. But who attests delivery, resolves disputes, nets and can grant roles is
the first thing an auditor weighs, and an operator dishonest from the start would rather it
stayed unasked. Holders come from the chain's role events, never from the operator's files
(and the code check says whether that chain code is the reviewed build).
"""

from __future__ import annotations

from adapters.chain.revert import ChainError
from market.audit.chain_view import ChainView
from market.audit.findings import CheckResult

__all__ = ["PRIVILEGED", "check_roles"]

#: Roles whose holders are listed by address; the participants' roles are counted.
PRIVILEGED = ("DEFAULT_ADMIN", "MARKET_OPERATOR", "METER_ORACLE", "ARBITER", "CLEARING_HOUSE")


def check_roles(view: ChainView) -> CheckResult:
    """One note per privileged role (its holders, and every other role each holds),
    then the number of accounts per participant role; from the market's role events in chain
    order (AccessControl emits one for every grant, revoke and renounce)."""
    res = CheckResult("roles")
    try:
        names = {role_id: name.removesuffix("_ROLE") for name, role_id in view.market.roles.items()}
        deployed_at = view.market.deploy_block
    except ChainError as exc:
        return res.error(f"role ids could not be read: {exc}", "audit.could_not_run")
    held: dict[str, set[str]] = {}
    for e in view.events:
        if e.name not in ("RoleGranted", "RoleRevoked"):
            continue
        name = names.get(bytes(e.args["role"]), "0x" + bytes(e.args["role"]).hex())
        roles = held.setdefault(str(e.args["account"]), set())
        if e.name == "RoleGranted":
            roles.add(name)
        else:
            roles.discard(name)
    by_role: dict[str, list[str]] = {}
    for account, roles in sorted(held.items()):
        for role in roles:
            by_role.setdefault(role, []).append(account)
    for role in PRIVILEGED:
        listed = []
        for account in by_role.get(role, []):
            also = sorted(r for r in held[account] if r != role)  # an operator as CPO or FSP too
            listed.append(f"{account} (also {', '.join(also)})" if also else account)
        res.notes.append(f"{role}: {', '.join(listed) if listed else 'nobody'}")
    others = sorted(r for r in by_role if r not in PRIVILEGED)
    counts = ", ".join(f"{r} {len(by_role[r])}" for r in others)
    res.notes.append(f"participants: {counts or 'none'}")
    if view.from_block > deployed_at:  # earlier grants unseen: say so rather than list too few
        res.notes.append(
            f"role events read from block {view.from_block} (--from-block), after the market's "
            f"deploy block {deployed_at}: grants before it are not listed"
        )
    return res
