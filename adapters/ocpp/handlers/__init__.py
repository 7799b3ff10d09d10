"""CSMS-side OCPP handlers, one module per protocol version (like the library's packages)."""
