"""report.html says what its "after" loading is: the relief as settled against the baseline,
not a second measurement of the wire (a ``meter_before`` day otherwise reads as no relief)."""

from __future__ import annotations

import html

from market.replay.report import AFTER_MEANS, LoadingSeries, ReplayPlots, render_html


def test_the_congestion_section_opens_with_what_after_means() -> None:
    plots = ReplayPlots(isp_s=900, loading=[LoadingSeries("TRAFO-1", 1000, [1100] * 4, [900] * 4)])
    page = render_html({"scenario": "unit", "findings": []}, plots)
    head = page.index("<h2>Congestion before and after</h2>")
    note = page.index(f"<p class='note'>{html.escape(AFTER_MEANS)}</p>")
    first_plot = page.index('alt="loading TRAFO-1"')
    assert head < note < first_plot
