"""Finding a kept chain's deployment and bundles from a report folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.chain.deploy import Deployment
from market.audit.kept_chain import KeptChainError, find_deployment, report_bundles, served_state


def _deployment(folder: Path) -> Deployment:
    kept = Deployment(
        chain_id=31337,
        token="0x" + "11" * 20,
        market="0x" + "22" * 20,
        positions="0x" + "33" * 20,
        deploy_block=3,
        deployer="0x" + "44" * 20,
        abi_hashes={},
    )
    kept.save(folder / "deployment.json")
    return kept


def test_a_report_folder_stands_for_its_bundles(tmp_path: Path) -> None:
    assert report_bundles(str(tmp_path)) == str(tmp_path)
    (tmp_path / "bundles").mkdir()
    assert report_bundles(str(tmp_path)) == str(tmp_path / "bundles")
    assert report_bundles("http://market.test") == "http://market.test"
    assert report_bundles(None) is None


def test_the_deployment_is_found_beside_the_state_or_in_the_report_folder(tmp_path: Path) -> None:
    report = tmp_path / "report"
    report.mkdir()
    kept = _deployment(report)
    elsewhere = tmp_path / "copy" / "chain-state.json"
    assert find_deployment(report / "chain-state.json", None) == kept
    assert find_deployment(elsewhere, str(report)) == kept
    assert find_deployment(elsewhere, str(report / "bundles")) == kept
    assert find_deployment(elsewhere, None, required=False) is None
    with pytest.raises(KeptChainError, match="pass --market ADDRESS"):
        find_deployment(elsewhere, None)


def test_a_broken_deployment_or_a_missing_state_is_named(tmp_path: Path) -> None:
    (tmp_path / "deployment.json").write_text('{"chain_id": 1}')
    with pytest.raises(KeptChainError, match="not a deployment"):
        find_deployment(tmp_path / "chain-state.json", None)
    missing = tmp_path / "missing.json"
    with pytest.raises(KeptChainError, match="is not a file"), served_state(missing, chain_id=1):
        pass
