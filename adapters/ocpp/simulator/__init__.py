"""Simulated V2G charging stations: EV physics, OCPP-J client, fleet, fault injection."""
