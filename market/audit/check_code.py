"""Is the code that holds the money the code that was reviewed? The market's runtime code, the
libraries it links and its positions contract against this checkout's build.

Why: every other check reads the market's events and views. An operator dishonest from the
start could deploy other code at the market's address -- honest-looking events, a withdrawal
path of its own -- and every session would still pass. Nothing here comes from the operator:
the auditor reads the code from the chain, compiles the sources it reviewed, and finds the
positions contract and the token through the market's own views, which are the build's once its
code is. The settlement token is named, not judged: ``deploy --token`` may reuse an ERC-20.
The code is read at the latest block: the build has no SELFDESTRUCT, and since EIP-6780
(Cancun) no contract's code can change after the transaction that created it.
"""

from __future__ import annotations

from adapters.chain.client import ChainClient
from adapters.chain.revert import ChainError
from adapters.chain.verify_code import verify_market
from market.audit.findings import CheckResult

__all__ = ["check_market_code"]


def check_market_code(client: ChainClient, market: str) -> CheckResult:
    """One ``code.mismatch`` per contract (or wiring) that is not the build; the token as a note."""
    res = CheckResult("code")
    try:
        checks, token = verify_market(client, market, client.artifacts)
    except ChainError as exc:
        return res.error(f"contract code could not be read: {exc}", "audit.could_not_run")
    for check in checks:
        if not check.ok:
            res.add("code.mismatch", f"{check.contract} at {check.address}: {check.detail}",
                    check.address)  # fmt: skip
    if res.findings:
        res.notes.append(
            "the build is this checkout's sources compiled by its own toolchain (solc from "
            "package-lock.json unless $SOLC or a native solc on PATH): a market deployed from "
            "another commit or compiler differs too, so audit it from the sources it names"
        )
    if token is not None:
        res.notes.append(
            f"settlement token {token.address} is this build's SettlementToken"
            if token.ok
            else f"settlement token {token.address} is not this build's SettlementToken "
            f"({token.detail}): an existing ERC-20, its balances taken as the chain reports them"
        )
    return res
