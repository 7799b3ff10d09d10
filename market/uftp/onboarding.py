"""Checks before the gateway serves anyone: each peer's binding, key and on-chain role.

Why at start: a peer whose binding was signed for another market, whose market key is not the
bound address, or whose address lacks the on-chain role its UFTP role needs (FSP for an AGR,
DSO for a DSO) would have its messages refused one by one later; it is named once, here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from eth_account import Account

from market.uftp.binding import MARKET_ROLE, binding_signer
from market.uftp.config import UftpConfig, UftpConfigError


def check_peers(
    cfg: UftpConfig,
    *,
    chain_id: int,
    market: str,
    market_keys: Mapping[tuple[str, str], str],
    has_role: Callable[[str, str], bool],
) -> None:
    """Refuse (as :class:`UftpConfigError`) the first peer that is not properly onboarded."""
    for i, p in enumerate(cfg.peers):
        try:
            signer = binding_signer(
                p.binding_signature,
                chain_id=chain_id,
                market=market,
                domain=p.domain,
                role=p.role,
                public_key=p.public_key,
            )
        except ValueError as exc:
            raise UftpConfigError(f"peers[{i}].binding_signature", str(exc)) from exc
        if signer != p.address:
            raise UftpConfigError(
                f"peers[{i}].binding_signature",
                f"signed by {signer}, not {p.address} (or for another market or key)",
            )
        key = market_keys.get((p.domain, p.role))
        where = f"peers[{i}].key_env"
        if key is None:
            raise UftpConfigError(where, f"environment variable {p.key_env} is not set")
        if str(Account.from_key(key).address).lower() != p.address:
            raise UftpConfigError(where, f"{p.key_env} is not the key of {p.address}")
        role = MARKET_ROLE[p.role]
        if not has_role(role, p.address):
            raise UftpConfigError(f"peers[{i}].address", f"{p.address} has no on-chain {role} role")
