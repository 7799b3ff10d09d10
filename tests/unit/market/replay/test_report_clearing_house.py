"""report.html's clearing-house table: the same rows as report.json's ``clearing_house``, and a
plain note exactly when the netting was not settled on-chain."""

from __future__ import annotations

from market.replay.report_sections import clearing_house_html

PARTIES = [
    {"role": "DSO", "address": "0x" + "11" * 20, "statement_units": 5, "withdrawable_units": 5},
    {"role": "EV_USER", "address": "0x" + "22" * 20, "statement_units": 7, "withdrawable_units": 0},
]


def test_off_chain_money_is_named_and_each_party_is_a_row() -> None:
    page = "".join(clearing_house_html({"settled_on_chain": False, "parties": PARTIES}))
    assert "clearing-house-off-chain" in page and "Settled off-chain" in page
    assert page.count("<tr>") == 1 + len(PARTIES)
    assert "0.000007" in page and "<td>no</td>" in page  # the EV user's money never moved


def test_on_chain_netting_has_no_off_chain_note() -> None:
    page = "".join(clearing_house_html({"settled_on_chain": True, "parties": PARTIES[:1]}))
    assert "clearing-house-off-chain" not in page and "<td>yes</td>" in page
    assert clearing_house_html(None) == []
