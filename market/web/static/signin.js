// Sign-In with Ethereum (EIP-4361) from the page: a browser wallet (EIP-1193) or, for local
// development only, a key (typed, or one of the local chain's keys the server lists). The bearer
// token and the signer live in this module only (not in storage), so a reload signs out; the
// same signer then signs the page's writes (wallet.js).
import { BrowserProvider, getAddress } from "/vendor/ethers/ethers.min.js";
import { el, getJSON, utc } from "/static/common.js";
import { devSigner, devWallet } from "/static/wallet.js";

let session = null; // { address, token, expiresAt }
let signer = null; // the ethers Signer that signed in

export const signedIn = () => session;
export const currentSigner = () => signer;

/** The EIP-4361 text the service parses (market/auth/siwe.py), for one fresh nonce, dated by
 * the market's clock ``now``. */
function message(info, address, nonce, now) {
  const time = (t) => new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  return [
    `${info.siwe_domain} wants you to sign in with your Ethereum account:`,
    getAddress(address), "",
    "Sign in to the flexibility market.", "",
    `URI: ${info.siwe_uri}`, "Version: 1", `Chain ID: ${info.chain_id}`,
    `Nonce: ${nonce}`, `Issued At: ${time(now)}`, `Expiration Time: ${time(now + 3600)}`,
  ].join("\n");
}

async function signInWith(who) {
  const [info, { nonce, now }] = await Promise.all([getJSON("/market"), getJSON("/auth/nonce")]);
  const address = await who.getAddress();
  const text = message(info, address, nonce, now);
  const signature = await who.signMessage(text);
  const answer = await getJSON("/auth/siwe", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ message: text, signature }),
  });
  session = { address: answer.address, token: answer.token, expiresAt: answer.expires_at };
  signer = who;
  return session;
}

/** Sign in with a hex private key (local development wallets only). */
export async function signInWithKey(hexKey) {
  return signInWith(await devSigner(hexKey));
}

/** Sign in with the browser's EIP-1193 wallet (window.ethereum). */
export async function signInWithWallet() {
  if (!window.ethereum) throw new Error("no browser wallet found (window.ethereum)");
  const provider = new BrowserProvider(window.ethereum);
  return signInWith(await provider.getSigner());
}

export async function signOut() {
  if (!session) return;
  await getJSON("/auth/signout", { method: "POST", headers: authHeaders() });
  session = null;
  signer = null;
}

export function authHeaders(extra = {}) {
  return session ? { ...extra, Authorization: `Bearer ${session.token}` } : extra;
}

/** A private resource as a download (fetched with the token, saved from a blob URL). */
export async function download(path, filename) {
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(`${response.status}: ${body.detail || response.statusText}`);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Offer the local chain's development accounts (with their roles), or, in production, hide
 * every development-key field: there the page needs a browser wallet. */
async function wireDevAccounts(after, fail) {
  const info = await devWallet();
  const keyLabel = document.getElementById("dev-key").closest("label");
  if (!info) {
    for (const node of [keyLabel, document.getElementById("sign-in-key")]) node.hidden = true;
    document.getElementById("dev-key").required = false;
    return;
  }
  const box = document.getElementById("dev-accounts");
  const select = document.getElementById("dev-account");
  select.replaceChildren(...info.accounts.map((a) => el("option", { value: a.address },
    `${a.address} (${a.roles.join(", ") || "no role"})`)));
  box.hidden = false;
  document.getElementById("sign-in-dev").addEventListener("click", () => {
    const account = info.accounts.find((a) => a.address === select.value);
    signInWithKey(account.private_key).then(after).catch(fail);
  });
}

/** Wire the page's sign-in form (development key, browser wallet, sign-out); ``refresh`` redraws
 * what depends on who is signed in (the statement), after each change. */
export function wireSignInForm(refresh) {
  const who = document.getElementById("who");
  const after = (s) => {
    who.textContent = `Signed in as ${s.address} until ${utc(s.expiresAt)}.`;
    who.className = "ok";
    document.getElementById("dev-key").value = "";
    document.getElementById("sign-out").hidden = false;
    return refresh();
  };
  const fail = (error) => { who.textContent = `Sign-in failed: ${error.message}`; who.className = "bad"; };
  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signInWithKey(document.getElementById("dev-key").value).then(after).catch(fail);
  });
  const walletButton = document.getElementById("sign-in-wallet");
  walletButton.disabled = !window.ethereum;
  walletButton.addEventListener("click", () => signInWithWallet().then(after).catch(fail));
  wireDevAccounts(after, fail).catch(fail);
  document.getElementById("sign-out").addEventListener("click", async () => {
    await signOut().catch(fail);
    for (const id of ["statement", "settled"]) document.getElementById(id)?.replaceChildren(); // private: gone at once
    who.textContent = "Signed out: public data only."; who.className = "muted";
    document.getElementById("sign-out").hidden = true;
    await refresh();
  });
}
