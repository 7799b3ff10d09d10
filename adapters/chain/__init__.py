"""The chain adapter: compile, run a local chain, deploy, and talk to the market contracts.

Modules (import from them directly):

* ``toolchain``       - offline solc resolution and cached compilation of ``contracts/``
* ``anvil``           - ``AnvilNode`` (context manager), the dev RPCs (time, balances, snapshots)
* ``hardhat``         - ``HardhatNode``: the second node implementation (Hardhat Network)
* ``nodes``           - ``local_node("anvil" | "hardhat")`` and the detached ``chain up/down``
* ``client``          - ``ChainClient``: signing, nonces, simulate-then-send
* ``bound``, ``events``, ``tx``, ``rpc_error``, ``abi_types`` - the client's parts: a bound
  contract's encoding, event logs in ranges, transaction results, RPC errors, ABI type strings
* ``errors``          - one named exception per Solidity custom error, generated from the
  compiled ABI (``revert``: their bases; ``error_groups``: the friendly groups)
* ``types``           - enums and small structs mirroring the ABI (``SessionState``, ...)
* ``session_view``    - ``ChainSession`` / ``ChainRequest``: a session and a request exactly as
  the contract stores them; ``SessionRoots``: the roots it anchored in events
* ``wrapper``, ``token``, ``market_views``, ``market_contract``, ``market_lists``,
  ``positions``, ``naive`` - typed wrappers, one per contract (``FlexMarketContract`` ...)
* ``deploy``          - ``deploy_market``, ``Deployment`` file, ``MarketContracts``, ``connect``
* ``lifecycle``       - one complete session (demo, tests, benchmark)
* ``bench``           - ``flexmarket bench gas``
"""
