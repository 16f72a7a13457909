// An OpenID4VP 1.0 verifier nobody on the project wrote, for the wallet's
// presentation interop test: @openid4vc/openid4vp's verifier side
// (Openid4vpVerifier) makes the signed request objects and parses the
// answers, @sd-jwt/sd-jwt-vc verifies the presented SD-JWT VCs and their
// key-binding JWTs, jose (panva) decrypts direct_post.jwt answers, node's
// WebCrypto does the signatures; nothing of Cedula's. It serves on
// 127.0.0.1 (a random port) and names itself localhost, the DNS name of
// its certificate:
//
//   /request/<id>    the signed request object (typ oauth-authz-req+jwt,
//                    x5c: the test's leaf certificate), client_id
//                    x509_san_dns:localhost; by GET, or by POST with the
//                    wallet's metadata (read with the library's schema)
//                    and a wallet_nonce the object carries back
//   /response/<id>   the wallet's answer (direct_post or direct_post.jwt)
//
// Environment: VERIFIER_KEY is the leaf's private key (PKCS #8, base64),
// VERIFIER_X5C its certificate (DER, base64), ISSUER the credential
// issuers it trusts, separated by spaces (keys from each one's
// /.well-known/jwt-vc-issuer).
//
// Talk on stdio, one JSON object a line: at start it prints {base}; a line
// {"mode": "direct_post" | "direct_post.jwt", "method": "get" | "post",
// "vct": ..., "purpose": ...} on stdin makes a new request asking, for a
// credential of that vct, for given_name and family_name, and birthdate
// optionally (two claim sets), and prints {id, link, nonce, state}; each
// answer the wallet posts prints {answer: {id, mode, fetched, encrypted,
// state, error?, presentations?}} — fetched says how the wallet fetched the
// request object (and, by POST, what it said it supports) — where each
// presentation is what the verifier checked and saw: the issuer, whether
// the KB-JWT verified (signature by the credential's cnf key, typ, nonce,
// sd_hash — by @sd-jwt — and aud, iat — here), the disclosed claim paths
// and the claims after disclosure. A failure is {"error": "..."}.
import { createServer } from 'node:http';
import { answerLines, b64url, describe, hash, issuerVerifier, load, print, serveLoopback } from './wallet.mjs';

const vp = await load('@openid4vc/openid4vp');
const oauth = await load('@openid4vc/oauth2');
const { SDJwtVcInstance } = await load('@sd-jwt/sd-jwt-vc');
const jose = await load('jose', 'dist/webapi/index.js');

const { subtle } = globalThis.crypto;
const utf8 = new TextEncoder();
const ES256 = { name: 'ECDSA', namedCurve: 'P-256' };
const SHA256 = { name: 'ECDSA', hash: 'SHA-256' };
const random = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n));

// The tests serve over plain http on loopback.
oauth.setGlobalConfig({ allowInsecureUrls: true });

const clientId = 'x509_san_dns:localhost';
const issuers = process.env.ISSUER.split(' ');
const x5c = [process.env.VERIFIER_X5C];
const signingKey = await subtle.importKey('pkcs8', Buffer.from(process.env.VERIFIER_KEY, 'base64'), ES256, false, ['sign']);

// callbacks are what Openid4vpVerifier needs: signing request objects
// with the certified key (x5c), decrypting direct_post.jwt answers with
// the key of their request, hashing, fetch.
const callbacks = {
  hash,
  generateRandom: random,
  fetch: (...args) => fetch(...args),
  async signJwt(signer, { header, payload }) {
    if (signer.method !== 'x5c' || signer.alg !== 'ES256') throw new Error(`cannot sign with ${signer.method} ${signer.alg}`);
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    const sig = await subtle.sign(SHA256, signingKey, utf8.encode(input));
    return { jwt: `${input}.${b64url(new Uint8Array(sig))}` };
  },
  async decryptJwe(jwe, options) {
    const kid = options?.jwk?.kid;
    const session = [...sessions.values()].find((s) => s.encryption?.publicJwk.kid === kid);
    if (!session) return { decrypted: false };
    const { plaintext } = await jose.compactDecrypt(jwe, session.encryption.privateKey, {
      keyManagementAlgorithms: ['ECDH-ES'],
      contentEncryptionAlgorithms: ['A128GCM'],
    });
    return { decrypted: true, decryptionJwk: session.encryption.publicJwk, payload: new TextDecoder().decode(plaintext) };
  },
};
const verifier = new vp.Openid4vpVerifier({ callbacks });

// ---- Requests ------------------------------------------------------------------

let base;
const sessions = new Map(); // id → { payload, jwt, encryption?, answered }

// newRequest makes a request object for mode and keeps it for the wallet
// to fetch.
async function newRequest({ mode, method = 'get', vct, purpose }) {
  const id = b64url(random(12));
  const payload = {
    response_type: 'vp_token',
    client_id: clientId,
    response_mode: mode,
    response_uri: `${base}/response/${id}`,
    nonce: b64url(random(18)),
    state: b64url(random(12)),
    dcql_query: {
      credentials: [{
        id: 'pid',
        format: 'dc+sd-jwt',
        meta: { vct_values: [vct] },
        claims: [
          { id: 'gn', path: ['given_name'] },
          { id: 'fn', path: ['family_name'] },
          { id: 'bd', path: ['birthdate'] },
        ],
        claim_sets: [['gn', 'fn', 'bd'], ['gn', 'fn']],
      }],
    },
    client_metadata: {
      client_name: 'Node verifier',
      vp_formats_supported: { 'dc+sd-jwt': { 'sd-jwt_alg_values': ['ES256'], 'kb-jwt_alg_values': ['ES256'] } },
    },
  };
  if (purpose) payload.purpose = purpose; // Cedula's extension: the registered purpose asked under
  let encryption;
  if (mode === 'direct_post.jwt') {
    const pair = await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
    const { kty, crv, x, y } = await subtle.exportKey('jwk', pair.publicKey);
    const publicJwk = { kty, crv, x, y, kid: b64url(random(8)), use: 'enc', alg: 'ECDH-ES' };
    encryption = { publicJwk, privateKey: pair.privateKey };
    payload.client_metadata.jwks = { keys: [publicJwk] };
    payload.client_metadata.encrypted_response_enc_values_supported = ['A128GCM'];
  }
  const created = await signRequest(id, payload);
  sessions.set(id, { payload: created.authorizationRequestPayload, jwt: created.jar.authorizationRequestJwt, encryption });
  // OpenID4VP 1.0 §5.10: the method is the link's, next to request_uri.
  const link = method === 'post' ? `${created.authorizationRequest}&request_uri_method=post` : created.authorizationRequest;
  return { id, link, nonce: payload.nonce, state: payload.state };
}

// signRequest makes the request object of request id, with the wallet's
// nonce when it POSTed for it.
const signRequest = (id, payload, walletNonce) =>
  verifier.createOpenId4vpAuthorizationRequest({
    authorizationRequestPayload: walletNonce ? { ...payload, wallet_nonce: walletNonce } : payload,
    jar: { requestUri: `${base}/request/${id}`, jwtSigner: { method: 'x5c', alg: 'ES256', x5c }, expiresInSeconds: 300 },
    wallet: walletNonce ? { expectedNonce: walletNonce } : undefined,
  });

// requestByPost answers a wallet that POSTs for the request object
// (§5.10): its metadata must read as the library's schema says, and the
// object carries its wallet_nonce back.
async function requestByPost(id, session, form) {
  const metadata = vp.zWalletMetadata.parse(JSON.parse(form.wallet_metadata));
  if (!form.wallet_nonce) throw new Error('no wallet_nonce');
  session.fetched = {
    method: 'post',
    kb_jwt_algs: metadata.vp_formats_supported?.['dc+sd-jwt']?.['kb-jwt_alg_values'],
    client_id_prefixes: metadata.client_id_prefixes_supported,
    encryption_algs: metadata.authorization_encryption_alg_values_supported,
  };
  return (await signRequest(id, session.payload, form.wallet_nonce)).jar.authorizationRequestJwt;
}

// ---- Answers -------------------------------------------------------------------

const registered = new Set(['iss', 'iat', 'nbf', 'exp', 'vct', 'vct#integrity', 'cnf', 'status', '_sd_alg']);

// checkPresentation verifies one presented SD-JWT VC: the issuer's
// signature (its key from the issuer's metadata) and status, then the
// KB-JWT against the request.
async function checkPresentation(presentation, request) {
  if (typeof presentation !== 'string') throw new Error('a presentation is not a compact SD-JWT');
  const [jwt, ...rest] = presentation.split('~');
  const claimed = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
  if (!issuers.includes(claimed.iss)) throw new Error(`the credential's issuer ${claimed.iss} is not trusted`);
  const sdjwt = new SDJwtVcInstance({
    hasher: hash,
    verifier: await issuerVerifier(claimed.iss),
    async kbVerifier(data, signature, payload) {
      const jwk = payload?.cnf?.jwk;
      if (!jwk) throw new Error('the credential has no cnf.jwk');
      const key = await subtle.importKey('jwk', jwk, ES256, false, ['verify']);
      return subtle.verify(SHA256, key, Buffer.from(signature, 'base64url'), utf8.encode(data));
    },
  });
  const { payload, kb } = await sdjwt.verify(presentation, { keyBindingNonce: request.nonce });
  if (!kb) throw new Error('no key-binding JWT');
  // What @sd-jwt leaves to the verifier: the audience and freshness.
  if (kb.payload.aud !== request.client_id) throw new Error(`the KB-JWT's aud is ${kb.payload.aud}, not ${request.client_id}`);
  const age = Math.floor(Date.now() / 1000) - kb.payload.iat;
  if (age > 300 || age < -60) throw new Error(`the KB-JWT was made ${age}s ago`);
  // The disclosure paths, as the disclosures name them (the last part is
  // the KB-JWT).
  const disclosed = rest.slice(0, -1).map((d) => {
    const arr = JSON.parse(Buffer.from(d, 'base64url').toString());
    return arr.length === 3 ? arr[1] : '[element]';
  }).sort();
  const claims = Object.fromEntries(Object.entries(payload).filter(([k]) => !registered.has(k)));
  return {
    issuer: payload.iss, vct: payload.vct, kb_verified: true,
    kb: { typ: kb.header.typ, aud: kb.payload.aud, nonce_matches: kb.payload.nonce === request.nonce },
    disclosed, claims,
  };
}

// answer reads what the wallet posted to a request's response_uri.
async function answer(id, form) {
  const session = sessions.get(id);
  const request = session.payload;
  const out = { id, mode: request.response_mode, fetched: session.fetched, encrypted: Boolean(form.response) };
  let fields = form;
  if (form.response) {
    // The error responses are not vp_tokens: read the decrypted payload
    // with the library first, and hand it the rest.
    const { jarmAuthorizationResponse } = await vp.verifyJarmAuthorizationResponse({
      jarmAuthorizationResponseJwt: form.response, callbacks, expectedClientId: request.client_id, authorizationRequestPayload: request,
    });
    fields = jarmAuthorizationResponse;
  }
  out.state = fields.state;
  if (request.state && fields.state !== request.state) throw new Error('the answer carries another state');
  if (fields.error) return { ...out, error: fields.error, error_description: fields.error_description };
  const parsed = await verifier.parseOpenid4vpAuthorizationResponse({ authorizationResponse: form, authorizationRequestPayload: request, callbacks });
  if (parsed.type !== 'dcql') throw new Error(`a ${parsed.type} answer to a DCQL request`);
  const ids = Object.keys(parsed.dcql.presentations);
  if (ids.length !== 1 || ids[0] !== 'pid') throw new Error(`presentations for queries ${ids}, want pid alone`);
  out.presentations = [];
  for (const p of parsed.dcql.presentations.pid) out.presentations.push(await checkPresentation(p, request));
  return out;
}

// ---- HTTP ----------------------------------------------------------------------

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

const send = (res, status, body, type = 'application/json') =>
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(typeof body === 'string' ? body : JSON.stringify(body));

const server = createServer(async (req, res) => {
  const path = new URL(req.url, 'http://localhost').pathname;
  const [, kind, id] = path.split('/');
  const session = sessions.get(id);
  if (!session) return send(res, 404, { error: 'not_found' });
  if (req.method === 'GET' && kind === 'request') {
    session.fetched = { method: 'get' };
    return send(res, 200, session.jwt, 'application/oauth-authz-req+jwt');
  }
  if (req.method !== 'POST') return send(res, 404, { error: 'not_found' });
  const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
  if (kind === 'request') {
    try {
      return send(res, 200, await requestByPost(id, session, form), 'application/oauth-authz-req+jwt');
    } catch (e) {
      print({ error: describe(e) });
      return send(res, 400, { error: 'invalid_request' });
    }
  }
  if (kind !== 'response') return send(res, 404, { error: 'not_found' });
  if (session.answered) return send(res, 400, { error: 'invalid_request', error_description: 'already answered' });
  session.answered = true;
  try {
    print({ answer: await answer(id, form) });
    return send(res, 200, { redirect_uri: `${base}/done/${id}` });
  } catch (e) {
    print({ error: describe(e) });
    return send(res, 400, { error: 'invalid_request' });
  }
});

await serveLoopback(server, (port) => {
  base = `http://localhost:${port}`;
  return { base };
});
await answerLines((line) => newRequest(JSON.parse(line)));
server.close();
server.closeAllConnections?.();
