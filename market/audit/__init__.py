"""Independent audit of market sessions from the chain and the published bundles alone.

Nothing here imports the market store or any database: an auditor needs an RPC endpoint, the
market address and the bundles (a folder or the service's public bundle endpoints).

Modules: ``findings`` (result types), ``chain_view`` (events and views in bounded block ranges),
``sources`` (bundle folder / HTTP, station registry, receipts), ``checks`` (the seven checks),
``runner`` (``run_audit``), ``render`` (rich and JSON output), ``staging`` (an honest session
on a chain, for the benchmark and the tests) and ``bench`` (``flexmarket bench audit``).
"""
