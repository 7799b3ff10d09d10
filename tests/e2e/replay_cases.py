"""Where the bundled scenarios live and which ones are the use-case replays."""

from __future__ import annotations

from pathlib import Path

SCENARIOS = Path(__file__).resolve().parents[2] / "scripts" / "scenarios"
UC_SCENARIOS = ("uc4-1-isle-of-wight", "uc4-3-terni-city", "uc5-terni-microgrid")
