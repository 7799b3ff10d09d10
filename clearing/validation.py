"""Bundle validation that reports every problem at once (path + reason); nothing is cleared.

Two passes: each element is parsed on its own (so one bad offer does not hide the others), then
cross-element rules run on the elements that parsed: duplicate ids, unknown congestion points and
requests, ISPs outside the session, direction mismatches, hierarchy cycles, session mismatches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from clearing.bundle import CongestionPoint, InputBundle, MarketRules
from clearing.errors import ClearingError
from clearing.messages import DPrognosis, FlexOffer, FlexRequest, UnixSeconds, UuidStr
from clearing.units import MAX_ISP_COUNT

__all__ = ["BundleValidationError", "Problem", "check_bundle", "validate_bundle"]


@dataclass(frozen=True, order=True)
class Problem:
    """One reason a bundle is refused; ``path`` is JSONPath-like, e.g. ``$.offers[3].fsp``."""

    path: str
    reason: str


class BundleValidationError(ClearingError):
    """The bundle breaks the rules; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        lines = "; ".join(f"{p.path}: {p.reason}" for p in self.problems[:20])
        more = f" (+{len(self.problems) - 20} more)" if len(self.problems) > 20 else ""
        super().__init__(f"{len(self.problems)} problem(s): {lines}{more}")


def _path(prefix: str, loc: tuple[int | str, ...]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _errors(prefix: str, exc: ValidationError) -> list[Problem]:
    return [Problem(_path(prefix, tuple(e["loc"])), e["msg"]) for e in exc.errors()]


class _Header(BaseModel):
    """The scalar fields of InputBundle, validated together so all their errors are reported."""

    model_config = ConfigDict(extra="ignore")
    session_id: UuidStr
    isp_s: Annotated[StrictInt, Field(ge=60, le=86_400)] = 900
    isp_count: Annotated[StrictInt, Field(ge=1, le=MAX_ISP_COUNT)]
    start_time: UnixSeconds


_SCALARS = ("session_id", "isp_s", "isp_count", "start_time")
_LISTS: dict[str, type[BaseModel]] = {
    "congestion_points": CongestionPoint,
    "requests": FlexRequest,
    "prognoses": DPrognosis,
    "offers": FlexOffer,
}


def validate_bundle(raw: Mapping[str, Any] | InputBundle) -> InputBundle:
    """Parse and check ``raw``; return the bundle or raise :class:`BundleValidationError`."""
    if isinstance(raw, InputBundle):
        found = check_bundle(raw)
        if found:
            raise BundleValidationError(found)
        return raw
    if not isinstance(raw, Mapping):
        raise BundleValidationError([Problem("$", "bundle must be a JSON object")])
    problems: list[Problem] = []
    allowed = {*_SCALARS, *_LISTS, "rules"}
    problems += [Problem(f"$.{k}", "unknown field") for k in raw if k not in allowed]
    try:
        _Header.model_validate({k: raw[k] for k in _SCALARS if k in raw})
    except ValidationError as exc:
        problems += _errors("$", exc)
    parsed: dict[str, list[Any]] = {}
    for name, model in _LISTS.items():
        items = raw.get(name, [])
        if not isinstance(items, list | tuple):
            problems.append(Problem(f"$.{name}", "must be an array"))
            parsed[name] = []
            continue
        good: list[Any] = []
        for i, item in enumerate(items):
            try:
                good.append(model.model_validate(item))
            except ValidationError as exc:
                problems += _errors(f"$.{name}[{i}]", exc)
                good.append(None)
        parsed[name] = good
    rules = MarketRules()
    if "rules" in raw:
        try:
            rules = MarketRules.model_validate(raw["rules"])
        except ValidationError as exc:
            problems += _errors("$.rules", exc)
    if problems:
        # still run the cross checks on whatever parsed, so the caller sees everything at once
        problems += _cross_checks(raw.get("session_id"), raw.get("isp_count"), parsed)
        raise BundleValidationError(problems)
    bundle = InputBundle(
        session_id=raw["session_id"],
        isp_s=raw.get("isp_s", 900),
        isp_count=raw["isp_count"],
        start_time=raw["start_time"],
        congestion_points=tuple(parsed["congestion_points"]),
        requests=tuple(parsed["requests"]),
        prognoses=tuple(parsed["prognoses"]),
        offers=tuple(parsed["offers"]),
        rules=rules,
    )
    return validate_bundle(bundle)


def check_bundle(bundle: InputBundle) -> list[Problem]:
    """Cross-element rules on an already typed bundle; empty list when valid."""
    parsed: dict[str, list[Any]] = {
        "congestion_points": list(bundle.congestion_points),
        "requests": list(bundle.requests),
        "prognoses": list(bundle.prognoses),
        "offers": list(bundle.offers),
    }
    return _cross_checks(bundle.session_id, bundle.isp_count, parsed)


def _cross_checks(session_id: Any, isp_count: Any, parsed: dict[str, list[Any]]) -> list[Problem]:
    problems: list[Problem] = []
    n_isp = isp_count if isinstance(isp_count, int) and not isinstance(isp_count, bool) else None

    def dup(kind: str, ids: list[tuple[int, str]], field: str) -> None:
        seen: dict[str, int] = {}
        for i, key in ids:
            if key in seen:
                problems.append(
                    Problem(
                        f"$.{kind}[{i}].{field}", f"duplicate id {key!r} (first at [{seen[key]}])"
                    )
                )
            else:
                seen[key] = i

    cps: list[tuple[int, CongestionPoint]] = [
        (i, c) for i, c in enumerate(parsed["congestion_points"]) if c is not None
    ]
    reqs: list[tuple[int, FlexRequest]] = [
        (i, r) for i, r in enumerate(parsed["requests"]) if r is not None
    ]
    progs: list[tuple[int, DPrognosis]] = [
        (i, p) for i, p in enumerate(parsed["prognoses"]) if p is not None
    ]
    offers: list[tuple[int, FlexOffer]] = [
        (i, o) for i, o in enumerate(parsed["offers"]) if o is not None
    ]
    dup("congestion_points", [(i, c.code) for i, c in cps], "code")
    dup("requests", [(i, r.request_id) for i, r in reqs], "request_id")
    dup("prognoses", [(i, p.prognosis_id) for i, p in progs], "prognosis_id")
    dup("offers", [(i, o.offer_id) for i, o in offers], "offer_id")

    codes = {c.code: c for _, c in cps}
    for i, c in cps:
        if c.parent is not None and c.parent not in codes:
            problems.append(Problem(f"$.congestion_points[{i}].parent", "unknown congestion point"))
    for i, c in cps:  # cycle detection, bounded by the number of points
        node: CongestionPoint | None = c
        for _ in range(len(codes) + 1):
            if node is None or node.parent is None:
                break
            node = codes.get(node.parent)
        else:
            problems.append(Problem(f"$.congestion_points[{i}].parent", "hierarchy has a cycle"))

    def check_isps(prefix: str, isps: Any) -> None:
        if n_isp is None:
            return
        for j, item in enumerate(isps):
            if item.isp_index >= n_isp:
                problems.append(
                    Problem(
                        f"{prefix}[{j}].isp_index",
                        f"ISP {item.isp_index} outside the session (0..{n_isp - 1})",
                    )
                )

    def check_session(prefix: str, value: str) -> None:
        if isinstance(session_id, str) and value != session_id:
            problems.append(Problem(f"{prefix}.session_id", "belongs to another session"))

    by_request = {r.request_id: r for _, r in reqs}
    seen_cp_dir: dict[tuple[str, str], int] = {}
    for i, r in reqs:
        prefix = f"$.requests[{i}]"
        check_session(prefix, r.session_id)
        if r.congestion_point not in codes:
            problems.append(Problem(f"{prefix}.congestion_point", "unknown congestion point"))
        key = (r.congestion_point, r.direction)
        if key in seen_cp_dir:
            problems.append(
                Problem(
                    f"{prefix}.direction",
                    f"a second {r.direction} request at {r.congestion_point} "
                    f"(first at $.requests[{seen_cp_dir[key]}]); one per point and direction",
                )
            )
        else:
            seen_cp_dir[key] = i
        check_isps(f"{prefix}.isps", r.isps)
    prognosis_ids = {p.prognosis_id for _, p in progs}
    for i, p in progs:
        prefix = f"$.prognoses[{i}]"
        check_session(prefix, p.session_id)
        if p.congestion_point not in codes:
            problems.append(Problem(f"{prefix}.congestion_point", "unknown congestion point"))
        check_isps(f"{prefix}.isps", p.isps)
    for i, o in offers:
        prefix = f"$.offers[{i}]"
        check_session(prefix, o.session_id)
        if o.congestion_point not in codes:
            problems.append(Problem(f"{prefix}.congestion_point", "unknown congestion point"))
        if o.request_id is not None:
            req = by_request.get(o.request_id)
            if req is None:
                problems.append(Problem(f"{prefix}.request_id", "unknown request"))
            elif req.direction != o.direction:
                problems.append(
                    Problem(f"{prefix}.direction", f"differs from its request ({req.direction})")
                )
            elif o.congestion_point in codes and req.congestion_point not in _above(
                o.congestion_point, codes
            ):
                problems.append(
                    Problem(
                        f"{prefix}.request_id",
                        f"its request's point {req.congestion_point} is not at or above "
                        f"{o.congestion_point}",
                    )
                )
        if o.baseline_ref is not None and o.baseline_ref not in prognosis_ids:
            problems.append(Problem(f"{prefix}.baseline_ref", "unknown prognosis"))
        for k, opt in enumerate(o.options):
            check_isps(f"{prefix}.options[{k}].isps", opt.isps)
            check_isps(f"{prefix}.options[{k}].rebound", opt.rebound)
    return problems


def _above(code: str, codes: Mapping[str, CongestionPoint]) -> set[str]:
    """The point itself and its ancestors (bounded walk, safe on cycles)."""
    out = {code}
    node = codes.get(code)
    for _ in range(len(codes)):
        if node is None or node.parent is None:
            break
        out.add(node.parent)
        node = codes.get(node.parent)
    return out
