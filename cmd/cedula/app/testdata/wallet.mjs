// What the interop scripts (the wallets openid4vci.mjs and
// openid4vci_authcode.mjs, node_issuer.mjs, node_verifier.mjs,
// node_holder.mjs) share:
// the npm packages loaded from NODE_DIR, keys and signatures with node's
// WebCrypto, the callbacks the @openid4vc libraries need, the check of the
// issuer's signatures against its JWT VC Issuer Metadata, error text, and
// the servers' talk with the test (JSON lines out, commands in).
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

// load imports a package's ES module build from NODE_DIR, the same file the
// packages import each other by, so that there is one copy of each.
export const load = (pkg, file = 'dist/index.mjs') =>
  import(pathToFileURL(join(process.env.NODE_DIR, 'node_modules', pkg, file)).href);

const { subtle } = globalThis.crypto;
const utf8 = new TextEncoder();
export const b64url = (data) => Buffer.from(data).toString('base64url');
const unb64url = (s) => new Uint8Array(Buffer.from(s, 'base64url'));
const ES256 = { name: 'ECDSA', namedCurve: 'P-256' };
const SHA256 = { name: 'ECDSA', hash: 'SHA-256' };

// privateKeys finds the private half of each key this wallet made, by the
// public key's x coordinate; the private keys never leave WebCrypto.
const privateKeys = new Map();

// newKey makes a P-256 key pair and returns its public JWK (no extras).
export async function newKey() {
  const pair = await subtle.generateKey(ES256, false, ['sign', 'verify']);
  const { kty, crv, x, y } = await subtle.exportKey('jwk', pair.publicKey);
  privateKeys.set(x, pair.privateKey);
  return { kty, crv, x, y };
}

// signerFor is how the openid4vc libraries name a key to sign with.
export const signerFor = (publicJwk) => ({ method: 'jwk', alg: 'ES256', publicJwk });

const hashNames = { 'sha-256': 'SHA-256', 'sha-384': 'SHA-384', 'sha-512': 'SHA-512' };
export async function hash(data, alg) {
  const name = hashNames[String(alg).toLowerCase()];
  if (!name) throw new Error(`unsupported hash ${alg}`);
  return new Uint8Array(await subtle.digest(name, typeof data === 'string' ? utf8.encode(data) : data));
}

async function signJwt(signer, { header, payload }) {
  if (signer.method !== 'jwk' || signer.alg !== 'ES256') throw new Error(`cannot sign with ${signer.method} ${signer.alg}`);
  const key = privateKeys.get(signer.publicJwk.x);
  if (!key) throw new Error('asked to sign with a key this wallet does not hold');
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = await subtle.sign(SHA256, key, utf8.encode(input));
  return { jwt: `${input}.${b64url(new Uint8Array(signature))}`, signerJwk: signer.publicJwk };
}

// callbacks are what the openid4vc libraries need: hashing, randomness,
// JWT signing with this wallet's keys, fetch, and the client's
// authentication (anonymous for the pre-authorized code, the client_id of
// a public client for the code flow).
export const callbacks = (clientAuthentication) => ({
  hash,
  signJwt,
  generateRandom: (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
  fetch: (...args) => fetch(...args),
  clientAuthentication,
});

// getJSON fetches url and returns its JSON body, failing on any status but
// 200.
async function getJSON(url) {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${new URL(url).pathname}: status ${res.status}: ${(await res.text()).slice(0, 200)}`);
  return res.json();
}

// issuerVerifier checks an ES256 signature over "header.payload" with the
// key of issuer named by the header's kid, from the issuer's JWT VC Issuer
// Metadata (inline jwks, or jwks_uri).
export async function issuerVerifier(issuer) {
  const md = await getJSON(`${issuer}/.well-known/jwt-vc-issuer`);
  if (md.issuer !== issuer) throw new Error(`jwt-vc-issuer metadata names issuer ${md.issuer}`);
  const keys = (md.jwks ?? (md.jwks_uri ? await getJSON(md.jwks_uri) : null))?.keys;
  if (!keys?.length) throw new Error('jwt-vc-issuer metadata has no keys');
  return async (data, signature) => {
    const header = JSON.parse(Buffer.from(data.split('.')[0], 'base64url').toString());
    if (header.alg !== 'ES256') throw new Error(`issuer signed with ${header.alg}`);
    const jwk = keys.find((k) => k.kid === header.kid);
    if (!jwk) throw new Error(`no issuer key with kid ${header.kid}`);
    const key = await subtle.importKey('jwk', jwk, ES256, false, ['verify']);
    return subtle.verify(SHA256, key, unb64url(signature), utf8.encode(data));
  };
}

// describe gives the most telling text of a library's error.
export function describe(e) {
  let s = `${e.name}: ${e.message}`;
  if (e.errorResponse) s += ` ${JSON.stringify(e.errorResponse)}`;
  else if (e.response?.response?.status) s += ` (status ${e.response.response.status})`;
  if (e.cause instanceof Error) s += ` (${e.cause.code ?? e.cause.message})`;
  else if (e.cause) s += ` ${JSON.stringify(e.cause)}`;
  return s;
}

// print writes one JSON line for the test.
export const print = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

// serveLoopback starts server on 127.0.0.1 (a random port) and prints the
// first line, what ready(port) returns; when either fails, it prints the
// error and ends the script.
export async function serveLoopback(server, ready) {
  try {
    await new Promise((ok, ko) => server.listen(0, '127.0.0.1', ok).on('error', ko));
    print(await ready(server.address().port));
  } catch (e) {
    print({ error: describe(e) });
    process.exit(1);
  }
}

// answerLines hands each line of stdin, trimmed, to handle and prints what
// it returns (nothing when undefined), or its error, until stdin ends.
export async function answerLines(handle) {
  for await (const line of createInterface({ input: process.stdin })) {
    try {
      const out = await handle(line.trim());
      if (out !== undefined) print(out);
    } catch (e) {
      print({ error: describe(e) });
    }
  }
}
