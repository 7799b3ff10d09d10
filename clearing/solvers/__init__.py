"""Solver backends for the clearing model (:mod:`clearing.model`).

``highs`` (the default: highspy arrays, components solved in parallel under deterministic work
limits), with its primal heuristics in ``heuristics`` and its plumbing (work limits, safety net,
thread pinning, the C banner) in ``highs_api``; ``cbc`` (PuLP: CBC, the recorded fallback when
HiGHS fails, or HiGHS through PuLP for benchmarks).  The greedy baseline is :mod:`clearing.greedy`.
"""
