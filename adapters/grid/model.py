"""Grid models for the DSO: a pandapower net plus its 15-minute load / PV profiles.

Why a wrapper: SimBench nets take seconds to load and their yearly profiles are large, so they
are loaded once per process (``functools.lru_cache``) and every forecast works on a private
copy of the net with the day's profile rows already sliced into numpy arrays.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandapower as pp

DEFAULT_SIMBENCH_CODE = "1-LV-semiurb4--2-sw"
CIGRE_LV = "cigre-lv"
ISPS_PER_DAY = 96
ISP_SECONDS = 900
_PROFILE_YEAR = 2016  # SimBench profiles are one leap year of 15-minute steps

log = logging.getLogger(__name__)


class GridModelError(ValueError):
    """A grid source, date or profile request that cannot be served."""


@dataclass(frozen=True)
class DayProfiles:
    """Absolute load / PV / storage set-points for one day, one row per ISP (MW / Mvar)."""

    load_p_mw: np.ndarray  # shape (96, n_load)
    load_q_mvar: np.ndarray
    sgen_p_mw: np.ndarray  # shape (96, n_sgen)
    storage_p_mw: np.ndarray  # shape (96, n_storage)


@dataclass
class GridModel:
    """A loaded grid: the pandapower net (never mutated) and its yearly profiles, if any."""

    name: str
    net: pp.pandapowerNet
    profiles: dict[str, np.ndarray] | None = field(default=None, repr=False)

    def day(self, date: dt.date) -> DayProfiles:
        """The 96 profile rows of ``date``; nets without profiles repeat their static values."""
        if self.profiles is None:
            return DayProfiles(
                load_p_mw=np.tile(self.net.load.p_mw.to_numpy(float), (ISPS_PER_DAY, 1)),
                load_q_mvar=np.tile(self.net.load.q_mvar.to_numpy(float), (ISPS_PER_DAY, 1)),
                sgen_p_mw=np.tile(self.net.sgen.p_mw.to_numpy(float), (ISPS_PER_DAY, 1)),
                storage_p_mw=np.tile(self.net.storage.p_mw.to_numpy(float), (ISPS_PER_DAY, 1)),
            )
        start = profile_step(date, 0)
        rows = slice(start, start + ISPS_PER_DAY)
        return DayProfiles(
            load_p_mw=self.profiles["load_p"][rows],
            load_q_mvar=self.profiles["load_q"][rows],
            sgen_p_mw=self.profiles["sgen_p"][rows],
            storage_p_mw=self.profiles["storage_p"][rows],
        )

    def copy_net(self) -> pp.pandapowerNet:
        """A private copy to run power flows on (the cached net stays pristine)."""
        return copy.deepcopy(self.net)


def profile_step(date: dt.date, isp_index: int) -> int:
    """Row of the SimBench year for ``date`` and ISP; any year maps onto the 2016 calendar."""
    if not 0 <= isp_index < ISPS_PER_DAY:
        raise GridModelError(f"isp_index: must be in [0, {ISPS_PER_DAY}), got {isp_index}")
    try:
        day = dt.date(_PROFILE_YEAR, date.month, date.day)
    except ValueError as exc:  # pragma: no cover - 2016 is a leap year, every date exists
        raise GridModelError(f"date: {date} has no profile day ({exc})") from exc
    return (day - dt.date(_PROFILE_YEAR, 1, 1)).days * ISPS_PER_DAY + isp_index


@functools.lru_cache(maxsize=4)
def _load_simbench(code: str) -> GridModel:
    import simbench as sb

    try:
        net = sb.get_simbench_net(code)
    except Exception as exc:
        raise GridModelError(f"source: unknown SimBench code {code!r} ({exc})") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        absolute = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)

    def arr(elm: str, col: str, n: int) -> np.ndarray:
        frame = absolute.get((elm, col))
        if frame is None or frame.shape[1] == 0:
            return np.zeros((ISPS_PER_DAY * 366, n))
        values: np.ndarray = frame.reindex(columns=getattr(net, elm).index).to_numpy(float)
        return values

    profiles = {
        "load_p": arr("load", "p_mw", len(net.load)),
        "load_q": arr("load", "q_mvar", len(net.load)),
        "sgen_p": arr("sgen", "p_mw", len(net.sgen)),
        "storage_p": arr("storage", "p_mw", len(net.storage)),
    }
    # Profiles are kept as numpy; drop the big DataFrames from the net to make copies cheap.
    net.profiles = {}
    return GridModel(name=code, net=net, profiles=profiles)


@functools.lru_cache(maxsize=2)
def _load_cigre() -> GridModel:
    import pandapower.networks as pn

    return GridModel(name=CIGRE_LV, net=pn.create_cigre_network_lv())


def load_grid(source: str = DEFAULT_SIMBENCH_CODE) -> GridModel:
    """Load a grid by SimBench code, ``"cigre-lv"``, or the path of a pandapower JSON file.

    SimBench nets come with a year of profiles; CIGRE and JSON nets use their static
    set-points for every ISP (scale them per scenario to create congestion).
    """
    if source == CIGRE_LV:
        return _load_cigre()
    path = Path(source)
    if source.endswith(".json"):
        if not path.is_file():
            raise GridModelError(f"source: pandapower JSON file {source!r} does not exist")
        return GridModel(name=path.stem, net=pp.from_json(str(path)))
    return _load_simbench(source)
