"""Domain errors of the clearing core (one base class; the service maps them to HTTP problems)."""

from __future__ import annotations

__all__ = ["ClearingError", "InfeasibleProblem", "SafetyNetFired", "SolverFailed"]


class ClearingError(Exception):
    """Base class of every clearing failure."""


class InfeasibleProblem(ClearingError):
    """The model has no feasible solution (cannot happen for a valid bundle: zero is feasible)."""


class SolverFailed(ClearingError):
    """The solver stopped without any feasible solution, or returned an unusable status."""


class SafetyNetFired(ClearingError):
    """The wall-clock safety net stopped the solver before its deterministic work limits did.

    The engine then publishes the documented fallback (the greedy orders, status ``unproven``)
    rather than whatever the solver had reached, which would depend on the machine's speed."""
