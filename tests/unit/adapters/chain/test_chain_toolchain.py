"""solc resolution order and import inlining, on throw-away project trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.chain import toolchain
from adapters.chain.toolchain import ToolchainError, collect_sources, resolve_solc, standard_input


def _exe(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A root with a working shim, like scripts/toolchain/solc."""
    _exe(tmp_path / "scripts" / "toolchain" / "solc", 'echo "Version: 0.8.28+shim"')
    return tmp_path


def test_solc_env_var_wins(project: Path, tmp_path: Path) -> None:
    native = _exe(tmp_path / "bin" / "solc", 'echo "Version: 0.8.30+native"')
    env = {"SOLC": str(native), "PATH": str(tmp_path / "other")}
    assert resolve_solc(env, project) == native.resolve()


def test_solc_env_var_that_is_not_executable_is_an_error(project: Path, tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="SOLC"):
        resolve_solc({"SOLC": str(tmp_path / "missing-solc"), "PATH": ""}, project)


def test_native_solc_on_path_is_preferred_to_the_shim(project: Path, tmp_path: Path) -> None:
    native = _exe(tmp_path / "native" / "solc", 'echo "Version: 0.8.29+native"')
    env = {"PATH": os.pathsep.join([str(tmp_path / "empty"), str(native.parent)])}
    assert resolve_solc(env, project) == native.resolve()


def test_our_own_shim_on_path_does_not_count_as_native(project: Path) -> None:
    shim = project / "scripts" / "toolchain" / "solc"
    assert resolve_solc({"PATH": str(shim.parent)}, project) == shim.resolve()


def test_solc_select_wrapper_and_broken_solc_are_skipped(project: Path, tmp_path: Path) -> None:
    _exe(tmp_path / "venv" / "solc", "# from solc_select.__main__ import solc\nsleep 60")
    _exe(tmp_path / "broken" / "solc", "exit 3")
    env = {"PATH": os.pathsep.join([str(tmp_path / "venv"), str(tmp_path / "broken")])}
    assert resolve_solc(env, project) == (project / "scripts/toolchain/solc").resolve()


def test_no_solc_at_all_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="bootstrap"):
        resolve_solc({"PATH": ""}, tmp_path)


def test_real_project_resolves_to_an_absolute_working_solc() -> None:
    solc = resolve_solc()
    assert solc.is_absolute()
    assert toolchain._solc_version_line(str(solc)) is not None


def test_imports_are_inlined_transitively_with_solc_unit_names(tmp_path: Path) -> None:
    oz = tmp_path / "node_modules" / "@openzeppelin" / "contracts"
    (oz / "token").mkdir(parents=True)
    (oz / "utils").mkdir(parents=True)
    (oz / "token" / "A.sol").write_text('import {B} from "../utils/B.sol";\n')
    (oz / "utils" / "B.sol").write_text("contract B {}\n")
    src = tmp_path / "contracts"
    (src / "lib").mkdir(parents=True)
    (src / "test").mkdir()
    (src / "Main.sol").write_text(
        'import {A} from "@openzeppelin/contracts/token/A.sol";\nimport "./lib/L.sol";\n'
    )
    (src / "lib" / "L.sol").write_text("import {X as Y} from '../Main.sol';\n")
    (src / "test" / "Main.t.sol").write_text('import "forge-std/Test.sol";\n')

    sources = collect_sources(tmp_path)
    assert sorted(sources) == [
        "@openzeppelin/contracts/token/A.sol",
        "@openzeppelin/contracts/utils/B.sol",
        "contracts/Main.sol",
        "contracts/lib/L.sol",
    ]
    selection = standard_input(sources)["settings"]["outputSelection"]
    assert sorted(selection) == ["contracts/Main.sol", "contracts/lib/L.sol"]


def test_missing_import_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "M.sol").write_text('import "@oz/Nope.sol";\n')
    with pytest.raises(ToolchainError, match=r"Nope\.sol"):
        collect_sources(tmp_path)


def test_settings_match_foundry_toml() -> None:
    settings = standard_input({})["settings"]
    foundry = (toolchain.project_root() / "foundry.toml").read_text()
    assert f"optimizer_runs = {settings['optimizer']['runs']}" in foundry
    assert f'evm_version = "{settings["evmVersion"]}"' in foundry
