"""Solver backends for the clearing model (:mod:`clearing.model`).

``highs`` (the default: highspy arrays, primal heuristics, thread pinning) and ``cbc`` (PuLP:
CBC, the recorded fallback when HiGHS fails, or HiGHS through PuLP for benchmarks).  The greedy
baseline is :mod:`clearing.greedy`.
"""
