"""Audit after the fact: the chain a finished run kept, served again by a throwaway anvil.

Why: once a run's anvil stops, its chain is gone and nobody could check the day any more. A
run keeps ``chain-state.json`` (anvil's state: accounts, blocks, transactions and logs) and
``deployment.json`` (chain id, addresses, deploy block) in its report folder, beside
``bundles/``. ``flexmarket audit --state FILE`` starts anvil from node_modules with
``--load-state FILE`` on a free loopback port, audits against it and stops it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from adapters.chain.anvil import AnvilControl, AnvilError, AnvilNode
from adapters.chain.deploy import Deployment

CHAIN_STATE_FILE = "chain-state.json"
DEPLOYMENT_FILE = "deployment.json"
BUNDLES_DIR = "bundles"


class KeptChainError(Exception):
    """The kept chain cannot be served: the message names the option and the fix."""


def keep_chain(control: AnvilControl, deployment: Deployment, folder: Path) -> None:
    """Write the chain state and the deployment to ``folder``: without the run's dead RPC URL,
    and dated by its deploy block rather than the wall clock (the same run, the same bytes)."""
    control.dump_state(folder / CHAIN_STATE_FILE)
    deployed_at = control.block_timestamp(hex(deployment.deploy_block))
    kept = dataclasses.replace(deployment, rpc_url=None, deployed_at=deployed_at)
    kept.save(folder / DEPLOYMENT_FILE)


def report_bundles(bundles: str | None) -> str | None:
    """A report folder stands for its ``bundles/`` folder; anything else is used as given."""
    if bundles is None or bundles.startswith(("http://", "https://")):
        return bundles
    inner = Path(bundles) / BUNDLES_DIR
    return str(inner) if inner.is_dir() else bundles


def find_deployment(
    state: Path, bundles: str | None, *, required: bool = True
) -> Deployment | None:
    """The deployment kept beside ``state`` (or in the ``--bundles`` report folder); None when
    there is none and it is not ``required`` (the market address was given)."""
    places = [state.parent]
    if bundles is not None and not bundles.startswith(("http://", "https://")):
        places += [Path(bundles), Path(bundles).parent]
    for place in places:
        path = place / DEPLOYMENT_FILE
        if path.is_file():
            try:
                return Deployment.load(path)
            except (ValueError, TypeError) as exc:
                raise KeptChainError(f"{path}: not a deployment ({exc})") from None
    if not required:
        return None
    raise KeptChainError(
        f"--state: no {DEPLOYMENT_FILE} beside {state} or in --bundles; pass --market ADDRESS"
    )


@contextmanager
def served_state(state: Path, *, chain_id: int) -> Iterator[str]:
    """A throwaway anvil loaded from ``state``; yields its RPC URL and stops it afterwards."""
    if not state.is_file():
        raise KeptChainError(f"--state: {state} is not a file (a run's {CHAIN_STATE_FILE})")
    node = AnvilNode(accounts=1, chain_id=chain_id, load_state=state.resolve())
    try:
        node.start()
    except AnvilError as exc:
        raise KeptChainError(f"--state: anvil could not load {state} ({exc})") from None
    try:
        yield node.rpc_url
    finally:
        node.stop()
