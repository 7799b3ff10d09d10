"""Delivery verification and settlement: baselines, signed meter data, payment, netting.

Modules: ``rules`` (SettlementRules), ``meter`` (signed readings, integrity), ``baselines``,
``delivery`` (per order per ISP settlement, report, bundle, recompute), ``netting``
(multilateral netting for ``settleNetting``) and ``revenue`` (signed revenue-sharing contracts).
Pure: no I/O, same input bytes give the same output bytes.
"""
