"""Clearing house: revenue sharing, multilateral netting per period, statements (JSON, CSV,
UFTP FlexSettlement XML) and the EV user view, on top of ``clearing.settlement``."""
