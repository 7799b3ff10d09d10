"""All settings come from FLEXMARKET_* environment variables."""

from __future__ import annotations

from market.settings import Settings


def test_env_prefix(monkeypatch) -> None:
    monkeypatch.setenv("FLEXMARKET_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("FLEXMARKET_ROLE_CACHE_TTL_S", "0.5")
    monkeypatch.setenv("FLEXMARKET_CLOCK", "chain")
    s = Settings()
    assert s.database_url == "postgresql://u@h/db"
    assert s.role_cache_ttl_s == 0.5
    assert s.clock == "chain"
