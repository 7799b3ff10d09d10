"""Domain errors of the clearing core (one base class; the service maps them to HTTP problems)."""

from __future__ import annotations

__all__ = ["ClearingError", "InfeasibleProblem", "SolverFailed"]


class ClearingError(Exception):
    """Base class of every clearing failure."""


class InfeasibleProblem(ClearingError):
    """The model has no feasible solution (cannot happen for a valid bundle: zero is feasible)."""


class SolverFailed(ClearingError):
    """The solver stopped without any feasible solution, or returned an unusable status."""
