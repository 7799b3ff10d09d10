"""Component decomposition: the parts share no row, cover every column once, and solving them
separately gives the optimum of the whole model (compared with one PuLP/HiGHS solve)."""

from __future__ import annotations

import numpy as np

from clearing.engine import clear_run
from clearing.model import build_model, components
from clearing.prepare import prepare
from clearing.synthetic import generate_session
from clearing.validation import validate_bundle


def test_parts_partition_columns_and_share_no_row() -> None:
    m = build_model(prepare(validate_bundle(generate_session(200, 4))))
    parts = components(m)
    assert len(parts) >= 2  # two substation subtrees share nothing
    label = np.full(m.n_cols, -1)
    for i, cols in enumerate(parts):
        assert np.all(label[cols] == -1)
        label[cols] = i
    assert np.all(label >= 0)
    for r in np.unique(m.rows):
        assert len(set(label[m.cols[m.rows == r]].tolist())) == 1
    assert [int(c[0]) for c in parts] == sorted(int(c[0]) for c in parts)


def test_decomposed_solve_matches_whole_model() -> None:
    b = generate_session(60, 7, mip_gap_ppm=0, time_limit_s=60)
    parts = components(build_model(prepare(validate_bundle(b))))
    assert len(parts) >= 2
    a = clear_run(b, backend="highspy")
    whole = clear_run(b, backend="pulp-highs")
    assert a.result.status == "optimal"
    assert a.result.welfare_units == whole.result.welfare_units
    assert a.gap is not None and a.gap <= 1e-9
