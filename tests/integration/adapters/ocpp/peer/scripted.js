// A scriptable OCPP station written with npm `ocpp-rpc` in strict mode, driven over stdin.
//
// It validates every message it sends and receives against ocpp-rpc's own schemas for the
// chosen version (1.6 and 2.0.1 built in; 2.1 bundled with renamed ids, see FACTS.md).
//
// Usage: node scripted.js <ws://host:port> <identity> <password> <ocpp1.6|ocpp2.0.1|ocpp2.1>
// Commands, one JSON object per stdin line:
//   {"op":"call","id":N,"action":A,"payload":P}   -> {"event":"result"|"error","id":N,...}
//   {"op":"raw","id":N,"frame":"..."}              -> sent as is; {"event":"sent","id":N}
//   {"op":"handle","action":A,"response":R}        answer CSMS calls of A with R
//   {"op":"close"}                                 -> {"event":"done","failures":[...]}
// Events, one JSON object per stdout line:
//   {"event":"open"} | {"event":"message","raw":"..."} (every inbound frame)
//   {"event":"call_in","action":A,"params":P} | {"event":"closed","code":C}
'use strict';

const path = require('path');
const readline = require('readline');
const { RPCClient } = require('ocpp-rpc');
const { createValidator } = require('ocpp-rpc/lib/validator');

const [endpoint, identity, password, protocol] = process.argv.slice(2);
const failures = [];
const log = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

function validators() {
    if (protocol !== 'ocpp2.1') return undefined; // ocpp-rpc's standard 1.6 / 2.0.1 ones
    const file = path.join(require.resolve('ocpp-rpc'), '..', 'lib', 'schemas', 'ocpp2_1.json');
    const renamed = require(file).map((schema) => {
        const id = schema.$id;
        let newId = id;
        if (id.endsWith('Request')) newId = id.slice(0, -'Request'.length) + '.req';
        else if (id.endsWith('Response')) newId = id.slice(0, -'Response'.length) + '.conf';
        return { ...schema, $id: newId };
    });
    return [createValidator('ocpp2.1', renamed)];
}

async function main() {
    const client = new RPCClient({
        endpoint,
        identity,
        password,
        protocols: [protocol],
        strictMode: true,
        strictModeValidators: validators(),
        reconnect: false,
        callTimeoutMs: 10000,
        maxBadMessages: Infinity,
    });
    client.on('strictValidationFailure', (ev) => {
        const failure = { method: ev.method, outbound: ev.outbound, isCall: ev.isCall,
                          error: String(ev.error && ev.error.message) };
        failures.push(failure);
        log({ event: 'strict_failure', ...failure });
    });
    client.on('message', ({ message, outbound }) => {
        if (!outbound) log({ event: 'message', raw: String(message) });
    });
    client.on('close', ({ code }) => log({ event: 'closed', code }));
    const responses = new Map();
    client.handle(({ method, params }) => {
        log({ event: 'call_in', action: method, params });
        if (!responses.has(method)) return { status: 'Accepted' };
        return responses.get(method);
    });

    await client.connect();
    log({ event: 'open', protocol: client.protocol });

    const lines = readline.createInterface({ input: process.stdin });
    for await (const line of lines) {
        if (!line.trim()) continue;
        const cmd = JSON.parse(line);
        if (cmd.op === 'handle') {
            responses.set(cmd.action, cmd.response);
        } else if (cmd.op === 'raw') {
            client.sendRaw(cmd.frame);
            log({ event: 'sent', id: cmd.id });
        } else if (cmd.op === 'call') {
            client.call(cmd.action, cmd.payload).then(
                (result) => log({ event: 'result', id: cmd.id, result }),
                (err) => log({ event: 'error', id: cmd.id, code: err.rpcErrorCode || null,
                               message: String(err.message) }),
            );
        } else if (cmd.op === 'close') {
            break;
        }
    }
    await client.close({ awaitPending: true });
    log({ event: 'done', failures });
    process.exit(failures.length ? 1 : 0);
}

main().catch((err) => {
    log({ event: 'done', failures, error: String((err && err.stack) || err) });
    process.exit(2);
});
