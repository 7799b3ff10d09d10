"""The MeterValues request of one EVSE: energy registers, power, SoC and, with a meter key,
the signed reading, in the payload shape of the station's OCPP version."""

from __future__ import annotations

from typing import Any

from adapters.ocpp.signing import ReadingSigner, encode_signed_meter_value
from adapters.ocpp.simulator.evse import EvseState
from adapters.ocpp.simulator.profiles import format_time


def meter_values_request(
    evse: EvseState,
    timestamp_unix: int,
    *,
    protocol: str,
    station_id: str,
    signer: ReadingSigner | None,
) -> dict[str, Any]:
    """The MeterValues request for one EVSE, stamped ``timestamp_unix`` (the station's clock)."""
    eid = evse.spec.evse_id
    ts = timestamp_unix
    p_imp = max(evse.power_w, 0)
    p_exp = max(-evse.power_w, 0)
    ev = evse.spec.ev
    soc = ev.soc if (ev is not None and evse.plugged) else None
    signed = None
    if signer is not None:
        signed = signer.sign(
            station_id=station_id,
            evse_id=eid,
            timestamp=ts,
            import_wh=evse.import_wh,
            export_wh=evse.export_wh,
        )
    stamp = format_time(ts)
    if protocol == "ocpp1.6":
        ctx = "Sample.Clock"
        values: list[dict[str, Any]] = [
            {"value": str(evse.import_wh), "context": ctx,
             "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": str(evse.export_wh), "context": ctx,
             "measurand": "Energy.Active.Export.Register", "unit": "Wh"},
            {"value": str(p_imp), "context": ctx, "measurand": "Power.Active.Import",
             "unit": "W"},
            {"value": str(p_exp), "context": ctx, "measurand": "Power.Active.Export",
             "unit": "W"},
        ]  # fmt: skip
        if soc is not None:
            values.append({"value": str(soc), "context": ctx, "measurand": "SoC",
                           "unit": "Percent"})  # fmt: skip
        if signed is not None:
            envelope = encode_signed_meter_value(signed, "")["signedMeterData"]
            values.append({"value": envelope, "context": ctx, "format": "SignedData",
                           "measurand": "Energy.Active.Import.Register",
                           "unit": "Wh"})  # fmt: skip
        payload: dict[str, Any] = {"connectorId": eid, "meterValue": [
            {"timestamp": stamp, "sampledValue": values}]}  # fmt: skip
        if evse.tx_id is not None:
            payload["transactionId"] = evse.tx_id
        return payload
    imp: dict[str, Any] = {
        "value": evse.import_wh,
        "measurand": "Energy.Active.Import.Register",
        "context": "Sample.Clock",
    }
    if signed is not None and signer is not None:
        smv = encode_signed_meter_value(signed, signer.public_key_b64)
        imp["signedMeterValue"] = smv
    values = [
        imp,
        {"value": evse.export_wh, "measurand": "Energy.Active.Export.Register",
         "context": "Sample.Clock"},
        {"value": p_imp, "measurand": "Power.Active.Import", "context": "Sample.Clock",
         "unitOfMeasure": {"unit": "W"}},
        {"value": p_exp, "measurand": "Power.Active.Export", "context": "Sample.Clock",
         "unitOfMeasure": {"unit": "W"}},
    ]  # fmt: skip
    if soc is not None:
        values.append({"value": soc, "measurand": "SoC", "context": "Sample.Clock",
                       "unitOfMeasure": {"unit": "Percent"}})  # fmt: skip
    return {"evseId": eid, "meterValue": [{"timestamp": stamp, "sampledValue": values}]}
