"""OCPP adapter: a CSMS for OCPP 2.1 / 2.0.1 / 1.6-J and a physical V2G station simulator.

Entry points (import from the modules, there are no re-exports here):

* ``adapters.ocpp.csms.Csms`` — the server; ``start()`` / ``stop()``, ``url``, ``dispatcher``,
  ``sink``, ``session(station_id)``, ``charging_needs(station_id, evse_id)``.
* ``adapters.ocpp.charging_needs`` — ``EvChargingNeeds``: NotifyEVChargingNeeds (2.0.1, 2.1)
  as integers (departure, Wh, W), which ``market.agents.fleet.ev_with_charging_needs`` reads.
* ``adapters.ocpp.credentials`` — station passwords as salted scrypt records and their file
  (profiles 1 and 2); ``adapters.ocpp.tls`` — TLS contexts for profiles 2 and 3 and the
  client certificate's CN; ``adapters.ocpp.throttle`` — failed-login backoff.
* ``adapters.ocpp.admin.AdminServer`` — the operator's 0600 unix socket; ``operations`` turns
  an action name and a wire-form payload into a checked call (``flexmarket csms send``).
* ``adapters.ocpp.dispatch.Dispatcher`` / ``IspSetpoint`` / ``DispatchStatus`` — setpoints as
  charging profiles, per-EVSE per-ISP status (the records live in ``orders``, the check that
  metered power follows them in ``follow``).
* ``adapters.ocpp.wire.StationWire`` — the websocket as the ``ocpp`` library's ChargePoint
  sees it: framing, schemas (``schemas``) and RFC 3339 timestamps (``timestamps``) checked
  there, CallErrors as the specification gives them.
* ``adapters.ocpp.sink`` — ``MeterReading``, ``MeterEvent``, ``ReadingSink`` (protocol),
  ``InMemorySink``, ``SqlReadingSink`` (tables ``meter_readings``, ``meter_events``,
  ``ev_charging_needs``), ``ReadingIngestor``.
* ``adapters.ocpp.signing`` — the signed meter-value format, ``sign_reading`` /
  ``recover_reading_signer``.
* ``adapters.ocpp.simulator`` — ``ev.EvModel``, ``station.StationSpec`` / ``EvseSpec`` /
  ``SimulatedStation``, ``faults.StationFaults``, ``fleet.StationFleet``.
"""
