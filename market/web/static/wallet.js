// Signed writes from the page: EIP-712 envelopes over the API's typed data, and on-chain calls
// through the same signer (a browser wallet, or in development a local key relayed via
// /dev/rpc). What the wallet shows is the typed data's summary next to the body hash; the page
// recomputes the body hash itself, so it never signs a hash of a body it did not build.
import { AbiCoder, Contract, JsonRpcProvider, Wallet, concat, getBytes, keccak256, toUtf8Bytes }
  from "/vendor/ethers/ethers.min.js";
import { getJSON } from "/static/common.js";

let devInfo; // undefined: not asked yet; null: production (no development wallet)

/** The server's development wallet (keys of a local chain), or null in production. */
export async function devWallet() {
  if (devInfo === undefined) {
    const market = await getJSON("/market"); // asks /dev-wallet only where it exists
    devInfo = market.development_wallet ? await getJSON("/dev-wallet") : null;
  }
  return devInfo;
}

/** An ethers Wallet for a development key, sending transactions through the same-origin relay. */
export async function devSigner(hexKey) {
  const info = await devWallet();
  let wallet;
  try { wallet = new Wallet(hexKey.trim()); } catch {
    throw new Error("not a private key (64 hex digits, optionally 0x-prefixed)");
  }
  if (!info) return wallet; // production: may sign in, but no chain access from the page
  const provider = new JsonRpcProvider(`${location.origin}${info.rpc_url}`, info.chain_id,
    { staticNetwork: true, batchMaxCount: 1, polling: true, pollingInterval: 250 });
  return wallet.connect(provider);
}

/** RFC 8785 for the values a body holds (strings, integers, booleans, null, arrays, objects):
 * keys sorted by UTF-16 code units, as market/auth/eip712.py hashes it. */
export function canonicalJSON(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJSON).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJSON(value[k])}`).join(",")}}`;
  }
  if (typeof value === "number" && !Number.isSafeInteger(value)) throw new Error(`not an integer: ${value}`);
  return JSON.stringify(value);
}

export const bodyHash = (body) => keccak256(toUtf8Bytes(canonicalJSON(body)));
export const uuidId = (uuid) => keccak256(`0x${uuid.replaceAll("-", "")}`);
export const codeId = (code) => keccak256(toUtf8Bytes(code));

/** The typed data the API answers for this envelope; refuses one whose body hash is not ours. */
export async function typedData(signer, kind, body) {
  const typed = await getJSON("/typed-data", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ kind, signer: await signer.getAddress(), body }),
  });
  if (typed.message.bodyHash !== bodyHash(body)) {
    throw new Error("the service's typed data hashes another body: not signed");
  }
  return typed;
}

/** Sign (EIP-712) the envelope of ``typed`` and return it ready to POST. */
export async function signEnvelope(signer, typed, body) {
  const { EIP712Domain, ...types } = typed.types; // ethers derives the domain type itself
  const signature = await signer.signTypedData(typed.domain, types, typed.message);
  const m = typed.message;
  return { message_id: m.messageId, kind: m.kind, signer: m.signer, expiry: m.expiry,
    summary: m.summary, body, signature };
}

export async function postEnvelope(path, envelope) {
  return getJSON(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(envelope),
  });
}

let deployment; // { info, contracts } once read

/** The market's contracts (addresses and ABIs from GET /deployment) bound to ``signer``. */
export async function contracts(signer) {
  if (!deployment) {
    const info = await getJSON("/deployment");
    const abi = async (name) => getJSON(info.abis[name]);
    const [market, token] = await Promise.all([abi("FlexMarket"), abi("SettlementToken")]);
    deployment = { info, abis: { market, token } };
  }
  const { info, abis } = deployment;
  return { market: new Contract(info.market, abis.market, signer),
    token: new Contract(info.token, abis.token, signer), info };
}

/** Approve the budget and escrow a request on-chain (its hash binds the signed body). */
export async function escrowRequest(signer, body) {
  const { market, token, info } = await contracts(signer);
  const owner = await signer.getAddress();
  const allowance = await token.allowance(owner, info.market);
  if (allowance < BigInt(body.budget_units)) {
    await (await token.approve(info.market, body.budget_units)).wait();
  }
  const tx = await market.postRequest(uuidId(body.session_id), uuidId(body.request_id),
    codeId(body.congestion_point), bodyHash(body), body.budget_units);
  return (await tx.wait()).hash;
}

const coder = AbiCoder.defaultAbiCoder();
const leafHash = (offer) => keccak256(keccak256(coder.encode(["bytes32", "bytes32"],
  [uuidId(offer.offer_id), bodyHash(offer)])));
const compare = (a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);
const hashPair = (a, b) => keccak256(concat([a, b].sort(compare).map((h) => getBytes(h))));

/** The root of OpenZeppelin's StandardMerkleTree over an FSP's offers (clearing/commitments.py):
 * leaves (bytes32 keccak(offer id bytes), bytes32 body hash), sorted, pairs hashed sorted. */
export function offersRoot(offers) {
  const leaves = offers.map(leafHash).sort(compare);
  const tree = new Array(2 * leaves.length - 1);
  leaves.forEach((leaf, i) => { tree[tree.length - 1 - i] = leaf; });
  for (let i = tree.length - 1 - leaves.length; i >= 0; i -= 1) {
    tree[i] = hashPair(tree[2 * i + 1], tree[2 * i + 2]);
  }
  return tree[0];
}

/** Commit the FSP's offers of a session on-chain (the clearing only takes committed offers),
 * once per session, with the prognosis and portfolio hashes that bind its baseline and meters
 * (GET /sessions/{id}/commitment-hashes: computed from public data, so anyone can check). */
export async function commitOffers(signer, sessionId, offers) {
  const { market } = await contracts(signer);
  const fsp = (await signer.getAddress()).toLowerCase();
  const hashes = await getJSON(
    `/sessions/${encodeURIComponent(sessionId)}/commitment-hashes?fsp=${fsp}`);
  const tx = await market.commitOffers(uuidId(sessionId), offersRoot(offers), offers.length,
    hashes.prognosis_hash, hashes.portfolio_hash);
  return (await tx.wait()).hash;
}
