"""The chain adapter: compile, run a local chain, deploy, and talk to the market contracts.

Modules (import from them directly):

* ``toolchain`` - offline solc resolution and cached compilation of ``contracts/``
* ``anvil``     - ``AnvilNode`` (context manager), time RPCs, detached ``chain up/down``
* ``client``    - ``ChainClient``: signing, nonces, simulate-then-send, events in ranges
* ``errors``    - one named exception per Solidity custom error, plus friendly groups
* ``contracts`` - typed wrappers ``SettlementTokenContract``, ``FlexMarketContract``, ...
* ``deploy``    - ``deploy_market``, ``Deployment`` file, ``MarketContracts``, ``connect``
* ``lifecycle`` - one complete session (demo, tests, benchmark)
* ``bench``     - ``flexmarket bench gas``
"""
