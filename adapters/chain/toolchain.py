"""Offline Solidity compilation: resolve a solc binary, inline every source, cache by hash.

Why inline sources: the solc-js shim cannot be given import callbacks through py-solc-x, and
putting every file (ours plus OpenZeppelin from node_modules) into the standard-JSON
``sources`` map makes the compile input self-contained, so its hash is a sound cache key.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError

# Same settings as foundry.toml, so forge and Python produce the same bytecode.
OPTIMIZER_RUNS = 200
EVM_VERSION = "cancun"
# solc-js loads its wasm compiler to answer --version: 0.7 s idle, but over 5 s on 2 busy cores
# (pytest -n 2 beside replays), where a 5 s limit failed a whole live run. A hung binary is
# still caught.
_VERSION_TIMEOUT_S = 60.0
_IMPORT_RE = re.compile(
    r"""^\s*import\s+(?:[^;]*?\bfrom\s+)?["']([^"']+)["']\s*(?:as\s+\w+\s*)?;""",
    re.MULTILINE,
)


class ToolchainError(RuntimeError):
    """The Solidity toolchain is missing, broken, or a source does not compile."""


def project_root() -> Path:
    """The repository root, found from this package's location (adapters/chain/ -> root)."""
    return Path(__file__).resolve().parents[2]


def shim_path(root: Path | None = None) -> Path:
    return (root or project_root()) / "scripts" / "toolchain" / "solc"


@cache
def _solc_version_line(binary: str) -> str | None:
    """The ``Version:`` line printed by ``binary --version``, or None if it does not answer."""
    try:
        proc = subprocess.run(
            [binary, "--version"],
            capture_output=True,
            text=True,
            timeout=_VERSION_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    for line in proc.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


def _is_solc_select_wrapper(path: Path) -> bool:
    """solc-select installs a Python ``solc`` that tries to download compilers; skip it."""
    try:
        head = path.read_bytes()[:4096]
    except OSError:
        return True
    return b"solc_select" in head or b"solc-select" in head


def resolve_solc(env: Mapping[str, str] | None = None, root: Path | None = None) -> Path:
    """Absolute path of the solc to use: ``$SOLC``, else a native solc on PATH, else the shim.

    A PATH candidate counts only if it is not our own shim, not a solc-select wrapper, and
    answers ``--version`` within a few seconds.
    """
    env = os.environ if env is None else env
    root = root or project_root()
    shim = shim_path(root).resolve()
    explicit = env.get("SOLC")
    if explicit:
        found = shutil.which(explicit, path=env.get("PATH"))
        candidate = Path(found).resolve() if found else Path(explicit).resolve()
        if not candidate.is_file() or not os.access(candidate, os.X_OK):
            raise ToolchainError(f"SOLC: {explicit!r} is not an executable file")
        return candidate
    for directory in (env.get("PATH") or "").split(os.pathsep):
        if not directory:
            continue
        candidate = Path(directory) / "solc"
        if not candidate.is_file() or not os.access(candidate, os.X_OK):
            continue
        resolved = candidate.resolve()
        if resolved == shim or _is_solc_select_wrapper(resolved):
            continue
        if _solc_version_line(str(resolved)) is not None:
            return resolved
    if shim.is_file() and os.access(shim, os.X_OK):
        return shim
    raise ToolchainError(
        f"solc: none found (no $SOLC, no working solc on PATH, shim missing at {shim}); "
        "run scripts/bootstrap.sh"
    )


def _resolve_import(importer: str, target: str) -> str:
    """Source unit name of ``target`` imported from ``importer`` (solc's own rules)."""
    if target.startswith(("./", "../")):
        joined = posixpath.join(posixpath.dirname(importer), target)
        return posixpath.normpath(joined)
    return target


def _source_file(unit: str, root: Path) -> Path:
    for base in (root, root / "node_modules"):
        path = base / unit
        if path.is_file():
            return path
    raise ToolchainError(f"import {unit!r}: not found under {root} or {root / 'node_modules'}")


def collect_sources(root: Path | None = None) -> dict[str, str]:
    """Every ``contracts/**/*.sol`` (tests excluded) plus everything it imports, by unit name."""
    root = root or project_root()
    contracts = root / "contracts"
    pending = sorted(
        p.relative_to(root).as_posix()
        for p in contracts.rglob("*.sol")
        if "test" not in p.relative_to(contracts).parts[:1]
    )
    sources: dict[str, str] = {}
    while pending:
        unit = pending.pop()
        if unit in sources:
            continue
        text = _source_file(unit, root).read_text(encoding="utf-8")
        sources[unit] = text
        for target in _IMPORT_RE.findall(text):
            dep = _resolve_import(unit, target)
            if dep not in sources:
                pending.append(dep)
    return dict(sorted(sources.items()))


@dataclass(frozen=True)
class Artifact:
    """One compiled contract: what deployment and the wrappers need."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    #: Byte ranges ``(start, length)`` of the runtime code the constructor fills with
    #: immutables, or the deployer with a linked library's address; they differ per
    #: deployment, so a code check must mask them.
    immutable_ranges: tuple[tuple[int, int], ...] = ()
    #: ``(library, start, length)`` of each library address to link into ``bytecode`` (its
    #: placeholder; in ``deployed_bytecode`` the placeholders are zeroed and masked).
    link_references: tuple[tuple[str, int, int], ...] = ()
    #: The same for ``deployed_bytecode``: where the runtime code holds each linked library's
    #: address, so a code check can read the address back and check the library's code too.
    runtime_link_references: tuple[tuple[str, int, int], ...] = ()

    @property
    def abi_hash(self) -> str:
        """keccak256 of the canonical ABI JSON, recorded in deployment files."""
        from eth_utils.crypto import keccak

        canonical = json.dumps(self.abi, sort_keys=True, separators=(",", ":"))
        return "0x" + keccak(text=canonical).hex()


_OUTPUTS = (
    "abi",
    "evm.bytecode.object",
    "evm.deployedBytecode.object",
    "evm.deployedBytecode.immutableReferences",
    "evm.bytecode.linkReferences",
    "evm.deployedBytecode.linkReferences",
)


def standard_input(sources: Mapping[str, str]) -> dict[str, Any]:
    """The solc standard-JSON input, with the same optimizer and EVM settings as forge."""
    ours = [name for name in sources if name.startswith("contracts/")]
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            # Outputs only for our own files: OpenZeppelin's are compiled, not emitted.
            "outputSelection": {name: {"*": list(_OUTPUTS)} for name in ours},
        },
    }


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Cross-process lock so concurrent test runs compile once, not once each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _immutable_ranges(deployed: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    refs = deployed.get("immutableReferences") or {}
    return tuple(
        sorted((int(r["start"]), int(r["length"])) for ranges in refs.values() for r in ranges)
    )


def _links(code: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """``(library, start, length)`` of every link placeholder of one bytecode object."""
    refs = code.get("linkReferences") or {}
    return sorted(
        (lib, int(r["start"]), int(r["length"]))
        for libs in refs.values()
        for lib, ranges in libs.items()
        for r in ranges
    )


def _zero_links(hex_code: str, links: list[tuple[str, int, int]]) -> str:
    for _lib, start, length in links:
        hex_code = hex_code[: 2 * start] + "00" * length + hex_code[2 * (start + length) :]
    return hex_code


def link(bytecode: str, links: tuple[tuple[str, int, int], ...], address: Mapping[str, str]) -> str:
    """``bytecode`` (0x-hex) with each library placeholder replaced by ``address[library]``."""
    code = bytecode.removeprefix("0x")
    for lib, start, length in links:
        code = (
            code[: 2 * start]
            + address[lib].lower().removeprefix("0x")
            + code[2 * (start + length) :]
        )
    return "0x" + code


def _parse_output(output: dict[str, Any]) -> dict[str, Artifact]:
    artifacts: dict[str, Artifact] = {}
    for source, contracts in sorted(output.get("contracts", {}).items()):
        if not source.startswith("contracts/"):
            continue
        for name, data in contracts.items():
            if name in artifacts:
                raise ToolchainError(
                    f"contract name {name!r} defined twice ({artifacts[name].source}, {source})"
                )
            deployed = data["evm"]["deployedBytecode"]
            runtime_links = _links(deployed)
            artifacts[name] = Artifact(
                name=name,
                source=source,
                abi=data["abi"],
                bytecode="0x" + data["evm"]["bytecode"]["object"],
                deployed_bytecode="0x" + _zero_links(deployed["object"], runtime_links),
                immutable_ranges=tuple(
                    sorted(
                        _immutable_ranges(deployed)
                        + tuple((start, length) for _lib, start, length in runtime_links)
                    )
                ),
                link_references=tuple(_links(data["evm"]["bytecode"])),
                runtime_link_references=tuple(runtime_links),
            )
    return artifacts


_CACHE_KEEP = 8


def _prune(cache_dir: Path, keep: int) -> None:
    """Drop all but the ``keep`` newest cached compiles (sources change often while editing)."""
    entries = sorted(cache_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in entries[keep:]:
        stale.unlink(missing_ok=True)


def compile_contracts(root: Path | None = None, *, force: bool = False) -> dict[str, Artifact]:
    """Compile the project's contracts (cached by the hash of the full compile input)."""
    root = root or project_root()
    solc = resolve_solc(root=root)
    version = _solc_version_line(str(solc))
    if version is None:
        raise ToolchainError(f"solc {solc}: does not answer --version")
    input_data = standard_input(collect_sources(root))
    canonical = json.dumps(input_data, sort_keys=True, separators=(",", ":"))
    key = hashlib.sha256(f"{version}\n{canonical}".encode()).hexdigest()[:32]
    cache_dir = root / "build" / "artifacts"
    cache_file = cache_dir / f"{key}.json"
    with _locked(cache_dir / ".lock"):
        if cache_file.is_file() and not force:
            os.utime(cache_file)  # recently used entries survive pruning
            return _parse_output(json.loads(cache_file.read_text()))
        try:
            output = solcx.compile_standard(input_data, solc_binary=str(solc))
        except SolcError as exc:
            raise ToolchainError(f"solc {version}: compilation failed\n{exc.message}") from exc
        slim = {"solc": version, "contracts": output.get("contracts", {})}
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(slim, sort_keys=True))
        os.replace(tmp, cache_file)
        _prune(cache_dir, keep=_CACHE_KEEP)
    return _parse_output(slim)
