"""The FSP gateway (``flexmarket fsp run``): an FSP's CSMS, EV-user API and market loop."""
