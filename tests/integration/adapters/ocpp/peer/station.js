// An independent OCPP 2.1 station written with npm `ocpp-rpc` in strict mode.
//
// Every message is validated in both directions against the OCPP 2.1 JSON schemas bundled
// with ocpp-rpc (an implementation not written in this project). The schema ids are renamed
// `urn:XRequest` -> `urn:X.req`, `urn:XResponse` -> `urn:X.conf` (see FACTS.md).
//
// Usage: node station.js <ws://host:port> <identity> <password>
// Protocol with the test (one JSON object per stdout line):
//   {"event":"ready","transactionId":...}        booted, transaction started, needs sent
//   {"event":"profile", ...}                      a profile arrived; meter values follow
//   {"event":"metered"}                           all meter values sent, waiting for clear
//   {"event":"done","failures":[...], ...}        exit code 1 if any schema violation
'use strict';

const path = require('path');
const { RPCClient } = require('ocpp-rpc');
const { createValidator } = require('ocpp-rpc/lib/validator');

const [endpoint, identity, password] = process.argv.slice(2);
const failures = [];
const log = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

function strictValidator() {
    const schemas = require(path.join(require.resolve('ocpp-rpc'), '..', 'lib', 'schemas', 'ocpp2_1.json'));
    const renamed = schemas.map((schema) => {
        const id = schema.$id;
        let newId = id;
        if (id.endsWith('Request')) newId = id.slice(0, -'Request'.length) + '.req';
        else if (id.endsWith('Response')) newId = id.slice(0, -'Response'.length) + '.conf';
        return { ...schema, $id: newId };
    });
    return createValidator('ocpp2.1', renamed);
}

const iso = (unix) => new Date(unix * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, ms, what) {
    const until = Date.now() + ms;
    while (!pred()) {
        if (Date.now() > until) throw new Error(`timeout waiting for ${what}`);
        await sleep(20);
    }
}

async function main() {
    const client = new RPCClient({
        endpoint,
        identity,
        password,
        protocols: ['ocpp2.1'],
        strictMode: true,
        strictModeValidators: [strictValidator()],
        reconnect: false,
        callTimeoutMs: 10000,
    });
    client.on('strictValidationFailure', (ev) => {
        failures.push({ method: ev.method, outbound: ev.outbound, isCall: ev.isCall,
                        error: String(ev.error && ev.error.message) });
    });

    let profile = null;
    let cleared = false;
    client.handle('SetChargingProfile', ({ params }) => {
        profile = params;
        return { status: 'Accepted' };
    });
    client.handle('GetCompositeSchedule', ({ params }) => {
        const sched = profile.chargingProfile.chargingSchedule[0];
        const start = Math.floor(Date.parse(sched.startSchedule) / 1000);
        const now = Math.floor(Date.now() / 1000);
        const periods = sched.chargingSchedulePeriod
            .map((p) => ({ ...p, startPeriod: Math.max(0, start + p.startPeriod - now) }));
        return {
            status: 'Accepted',
            schedule: {
                evseId: params.evseId,
                duration: params.duration,
                scheduleStart: iso(now),
                chargingRateUnit: 'W',
                chargingSchedulePeriod: periods,
            },
        };
    });
    client.handle('ClearChargingProfile', () => {
        cleared = true;
        profile = profile && { ...profile, cleared: true };
        return { status: 'Accepted' };
    });

    await client.connect();
    const boot = await client.call('BootNotification', {
        reason: 'PowerUp',
        chargingStation: { vendorName: 'ocpp-rpc-peer', model: 'StrictV2G' },
    });
    const now = () => iso(Math.floor(Date.now() / 1000));
    await client.call('StatusNotification', {
        timestamp: now(), connectorStatus: 'Available', evseId: 1, connectorId: 1,
    });
    await client.call('StatusNotification', {
        timestamp: now(), connectorStatus: 'Occupied', evseId: 1, connectorId: 1,
    });
    const transactionId = 'peer-' + Date.now();
    await client.call('TransactionEvent', {
        eventType: 'Started', timestamp: now(), triggerReason: 'CablePluggedIn', seqNo: 0,
        transactionInfo: { transactionId, chargingState: 'EVConnected' },
        evse: { id: 1, connectorId: 1 },
    });
    await client.call('NotifyEVChargingNeeds', {
        evseId: 1, timestamp: now(),
        chargingNeeds: {
            requestedEnergyTransfer: 'AC_BPT',
            departureTime: iso(Math.floor(Date.now() / 1000) + 8 * 3600),
            v2xChargingParameters: { maxChargePower: 11000, maxDischargePower: 11000,
                                     evTargetEnergyRequest: 20000, targetSoC: 80 },
        },
    });
    log({ event: 'ready', transactionId, boot: boot.status });

    await waitFor(() => profile !== null, 20000, 'SetChargingProfile');
    const sched = profile.chargingProfile.chargingSchedule[0];
    log({ event: 'profile', purpose: profile.chargingProfile.chargingProfilePurpose,
          periods: sched.chargingSchedulePeriod });

    // Follow the setpoints exactly: one sample at each period boundary.
    const start = Math.floor(Date.parse(sched.startSchedule) / 1000);
    const periods = sched.chargingSchedulePeriod;
    let importWh = 10000;
    let exportWh = 0;
    let seq = 1;
    const sample = (t, powerW) => ({
        timestamp: iso(t),
        sampledValue: [
            { value: importWh, measurand: 'Energy.Active.Import.Register', context: 'Sample.Clock' },
            { value: exportWh, measurand: 'Energy.Active.Export.Register', context: 'Sample.Clock' },
            { value: Math.max(powerW, 0), measurand: 'Power.Active.Import',
              unitOfMeasure: { unit: 'W' } },
            { value: Math.max(-powerW, 0), measurand: 'Power.Active.Export',
              unitOfMeasure: { unit: 'W' } },
            { value: 55, measurand: 'SoC', unitOfMeasure: { unit: 'Percent' } },
        ],
    });
    await client.call('MeterValues', { evseId: 1, meterValue: [sample(start, 0)] });
    for (let i = 0; i < periods.length; i++) {
        const p = periods[i];
        const end = i + 1 < periods.length ? periods[i + 1].startPeriod : sched.duration;
        const seconds = end - p.startPeriod;
        const power = p.setpoint;
        if (power >= 0) importWh += Math.floor(power * seconds / 3600);
        else exportWh += Math.floor(-power * seconds / 3600);
        await client.call('MeterValues', { evseId: 1, meterValue: [sample(start + end, power)] });
        await client.call('TransactionEvent', {
            eventType: 'Updated', timestamp: iso(start + end), triggerReason: 'MeterValuePeriodic',
            seqNo: seq++, transactionInfo: { transactionId, chargingState: 'Charging',
                                             operationMode: p.operationMode },
            evse: { id: 1, connectorId: 1 },
        });
    }
    log({ event: 'metered', importWh, exportWh });

    await waitFor(() => cleared, 20000, 'ClearChargingProfile');
    await client.call('TransactionEvent', {
        eventType: 'Ended', timestamp: now(), triggerReason: 'EVDeparted', seqNo: seq++,
        transactionInfo: { transactionId, stoppedReason: 'EVDisconnected' },
        evse: { id: 1, connectorId: 1 },
    });
    await client.call('StatusNotification', {
        timestamp: now(), connectorStatus: 'Available', evseId: 1, connectorId: 1,
    });
    await client.close();
    log({ event: 'done', failures, cleared });
    process.exit(failures.length ? 1 : 0);
}

main().catch((err) => {
    log({ event: 'done', failures, error: String(err && err.stack || err) });
    process.exit(2);
});
