"""Shapeshifter UFTP endpoints: a UFTP aggregator or DSO joins the market with its own stack.

``config`` (uftp.yaml and the peers' key bindings), ``binding`` (a participant's UFTP key bound
to its market address by an EIP-191 signature), ``onboarding`` (peers checked at start),
``convert`` (pure UFTP <-> market messages), ``envelope`` (signature, sender, freshness),
``journal`` (idempotency and the signed messages kept as proof), ``agr_side`` / ``dso_side``
(the two roles flexmarket plays), ``settlement`` (FlexSettlement at the chain's payouts),
``gateway`` (the HTTP endpoint and the outbound pass), ``serve`` (the command's start-up).
"""
