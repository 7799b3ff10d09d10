"""Delivery verification and settlement: baselines, signed meter data, payment, netting.

Modules: ``rules`` (SettlementRules), ``meter`` (signed readings, integrity), ``baselines``,
``compute`` (per order per ISP verification and payment), ``report`` (the delivery report,
its inputs and Merkle leaf), ``delivery`` (the bundle: compute, recompute, verify), ``netting``
(multilateral netting for ``settleNetting``) and ``revenue`` (signed revenue-sharing contracts).
Pure: no I/O, same input bytes give the same output bytes.
"""
