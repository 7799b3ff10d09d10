"""The market's write and read rules, independent of HTTP.

Every write arrives as a signed envelope and goes through one pipeline (``market_core``):
signature → idempotency by message id → expiry → on-chain role → per-kind rules
(``handlers``) → one transaction that stores the resource together with the message log row.
"""

from market.core.encoding import fast_canonical
from market.core.kinds import KINDS, Kind
from market.core.market_core import Accepted, MarketCore

__all__ = ["KINDS", "Accepted", "Kind", "MarketCore", "fast_canonical"]
