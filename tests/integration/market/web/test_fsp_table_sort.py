"""/fsp: the tables sort by keyboard (Tab to a column header, Enter), aria-sort follows."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration

# A column of a table with >= 2 rows whose cells are not in order yet, as
# [table id, column index, header text]; the first such one in the page.
FIND = """() => {
  for (const t of document.querySelectorAll('main table[id]')) {
    const heads = [...t.tHead.rows[0].cells];
    for (let i = 0; i < heads.length; i++) {
      if (!heads[i].querySelector('button')) continue;
      const vals = [...t.tBodies[0].rows].map((r) => r.cells[i].textContent.trim());
      const ordered = vals.every((v, k) => k === 0 || vals[k - 1].localeCompare(v) <= 0);
      if (vals.length > 1 && !ordered) return [t.id, i, heads[i].textContent.trim()];
    }
  }
  return null;
}"""


def _key(text: str) -> object:
    head = text.split(" ")[0]
    try:
        return (0, float(head), "")
    except ValueError:
        return (1, 0.0, text)


def test_fsp_tables_sort_by_keyboard(web, finished_market) -> None:
    sid = finished_market.session_id
    orders = httpx.get(f"{finished_market.base_url}/sessions/{sid}/orders", timeout=30).json()
    fsp = orders[0]["fsp"].lower()
    page = web.page
    web.open(f"/fsp?fsp={fsp}&session={sid}")
    page.wait_for_selector("#payout-total")
    found = page.evaluate(FIND)
    assert found is not None, "some table on /fsp has a column out of order"
    table_id, index, name = found
    table = page.locator(f"#{table_id}")
    th = table.locator("thead th").nth(index)
    cells = table.locator(f"tbody tr td:nth-child({index + 1})")
    values = cells.all_inner_texts()

    for _ in range(400):  # Tab through the page until the header's button has the focus
        if page.evaluate(
            "(n) => document.activeElement && document.activeElement.closest('th') "
            "&& document.activeElement.closest('table').id === n[0] "
            "&& document.activeElement.textContent.trim() === n[1]",
            [table_id, name],
        ):
            break
        page.keyboard.press("Tab")
    else:
        raise AssertionError(f"the {name!r} header of #{table_id} is not reachable by Tab")
    assert th.get_attribute("aria-sort") == "none"
    page.keyboard.press("Enter")
    assert th.get_attribute("aria-sort") == "ascending"
    ascending = cells.all_inner_texts()
    assert sorted(ascending) == sorted(values)
    page.keyboard.press("Enter")
    assert th.get_attribute("aria-sort") == "descending"
    descending = cells.all_inner_texts()
    assert sorted(descending) == sorted(values)
    assert (descending[0], descending[-1]) == (ascending[-1], ascending[0])
    assert ascending != values, "the rows moved"
    numbers = [_key(v) for v in ascending]
    if all(k[0] == 0 for k in numbers):
        assert numbers == sorted(numbers)
    web.assert_clean()
