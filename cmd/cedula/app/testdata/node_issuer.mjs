// An OpenID4VCI 1.0 credential issuer nobody on the project wrote, for the
// wallet's interop test: @openid4vc/openid4vci's issuer side
// (Openid4vciIssuer) and @openid4vc/oauth2's authorization server and
// resource server do the protocol, @sd-jwt/sd-jwt-vc makes the SD-JWT VCs,
// node's WebCrypto does the keys; nothing of Cedula's. It serves on
// 127.0.0.1 (a random port):
//
//   /.well-known/openid-credential-issuer   the credential issuer metadata
//                                           (display in es and en, claim
//                                           labels, nonce and notification
//                                           endpoints, batch issuance of 2)
//   /.well-known/oauth-authorization-server the AS metadata (DPoP ES256)
//   /.well-known/jwt-vc-issuer              the issuer's signing keys
//   /jwks                                   the same keys, for access tokens
//   /offers/<id>                            credential offers by reference
//   /token                                  pre-authorized code grant with a
//                                           numeric tx_code, DPoP-bound
//                                           tokens (server nonce asked for
//                                           with use_dpop_nonce)
//   /nonce, /credential, /notification      OpenID4VCI §7, §8, §11
//
// The resource endpoints (credential, notification) ask for a DPoP nonce
// of their own (RFC 9449 §9) the first time, so a wallet must follow
// use_dpop_nonce both at the token endpoint and at the issuer.
//
// Talk on stdio, one JSON object a line: at start it prints {base, offer,
// tx_code}; "offer" on stdin prints a new {offer, tx_code}; "events" (and
// the end of stdin) prints {events} — the token requests (grant, whether
// the tx_code matched, the DPoP key's thumbprint, the outcome), the JWK
// thumbprints of every verified key proof, the credentials issued and the
// notifications received. Failures are {"error": "..."}.
import { createServer } from 'node:http';
import { answerLines, b64url, describe, hash, load, print, serveLoopback } from './wallet.mjs';

const vci = await load('@openid4vc/openid4vci');
const oauth = await load('@openid4vc/oauth2');
const { SDJwtVcInstance } = await load('@sd-jwt/sd-jwt-vc');

const { subtle } = globalThis.crypto;
const utf8 = new TextEncoder();
const ES256 = { name: 'ECDSA', namedCurve: 'P-256' };
const SHA256 = { name: 'ECDSA', hash: 'SHA-256' };
const random = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n));
const thumbprint = (jwk) => oauth.calculateJwkThumbprint({ jwk, hashAlgorithm: oauth.HashAlgorithm.Sha256, hashCallback: hash });

// The tests serve over plain http on loopback.
vci.setGlobalConfig({ allowInsecureUrls: true });
oauth.setGlobalConfig({ allowInsecureUrls: true });

// ---- The issuer's key -----------------------------------------------------

const pair = await subtle.generateKey(ES256, false, ['sign', 'verify']);
const { kty, crv, x, y } = await subtle.exportKey('jwk', pair.publicKey);
const issuerJwk = { kty, crv, x, y };
const kid = await thumbprint(issuerJwk);
const jwks = { keys: [{ ...issuerJwk, kid, use: 'sig', alg: 'ES256' }] };
const signBytes = async (input) => b64url(new Uint8Array(await subtle.sign(SHA256, pair.privateKey, utf8.encode(input))));

// callbacks are what the openid4vc libraries need of an issuer: hashing,
// randomness, signing with the issuer's key (access tokens), verifying
// JWTs signed by a JWK (key proofs, DPoP proofs, access tokens), fetch.
const callbacks = {
  hash,
  generateRandom: random,
  fetch: (...args) => fetch(...args),
  async signJwt(signer, { header, payload }) {
    if (signer.method !== 'custom' || signer.alg !== 'ES256') throw new Error(`cannot sign with ${signer.method} ${signer.alg}`);
    const input = `${b64url(JSON.stringify({ ...header, kid }))}.${b64url(JSON.stringify(payload))}`;
    return { jwt: `${input}.${await signBytes(input)}`, signerJwk: issuerJwk };
  },
  async verifyJwt(signer, { compact }) {
    if (signer.method !== 'jwk' || signer.alg !== 'ES256') return { verified: false };
    const [h, p, sig] = compact.split('.');
    const key = await subtle.importKey('jwk', signer.publicJwk, ES256, false, ['verify']);
    const ok = await subtle.verify(SHA256, key, Buffer.from(sig, 'base64url'), utf8.encode(`${h}.${p}`));
    return ok ? { verified: true, signerJwk: signer.publicJwk } : { verified: false };
  },
};
const issuerSigner = { method: 'custom', alg: 'ES256' };

const as = new oauth.Oauth2AuthorizationServer({ callbacks });
const rs = new oauth.Oauth2ResourceServer({ callbacks });
const issuer = new vci.Openid4vciIssuer({ callbacks });

const sdjwt = new SDJwtVcInstance({
  signer: signBytes,
  signAlg: 'ES256',
  hasher: (data, alg) => hash(typeof data === 'string' ? utf8.encode(data) : new Uint8Array(data), alg),
  hashAlg: 'sha-256',
  saltGenerator: () => b64url(random(16)),
});

// ---- State and what the test is told --------------------------------------

const offers = new Map(); // id → { object, code, txCode, used }
const cNonces = new Map(); // c_nonce → expiry (ms)
const tokenNonce = b64url(random(16)); // DPoP nonce of the token endpoint
const resourceNonce = b64url(random(16)); // DPoP nonce of the issuer's endpoints
const notifications = new Map(); // notification_id → thumbprints of its credentials
const events = { token_requests: [], nonces: 0, proofs: [], credentials: [], notifications: [], dpop_nonce_asked: [] };


let base, metadata, issuerMetadata, asMetadata;

// ---- Metadata ----------------------------------------------------------------

const configId = 'library_card';
const label = (es, en) => [{ locale: 'es', name: es }, { locale: 'en', name: en }];

function describeIssuer() {
  asMetadata = as.createAuthorizationServerMetadata({
    issuer: base,
    token_endpoint: `${base}/token`,
    jwks_uri: `${base}/jwks`,
    grant_types_supported: [oauth.preAuthorizedCodeGrantIdentifier],
    dpop_signing_alg_values_supported: ['ES256'],
    'pre-authorized_grant_anonymous_access_supported': true,
  });
  metadata = issuer.createCredentialIssuerMetadata({
    credential_issuer: base,
    credential_endpoint: `${base}/credential`,
    nonce_endpoint: `${base}/nonce`,
    notification_endpoint: `${base}/notification`,
    batch_credential_issuance: { batch_size: 2 },
    display: [
      { locale: 'es', name: 'Biblioteca Municipal de Prueba' },
      { locale: 'en', name: 'Test Municipal Library' },
    ],
    credential_configurations_supported: {
      [configId]: {
        format: 'dc+sd-jwt',
        vct: `${base}/vct/library-card`,
        scope: 'library_card',
        cryptographic_binding_methods_supported: ['jwk'],
        credential_signing_alg_values_supported: ['ES256'],
        proof_types_supported: { jwt: { proof_signing_alg_values_supported: ['ES256'] } },
        credential_metadata: {
          display: [
            { locale: 'es', name: 'Carné de biblioteca', background_color: '#12355b', text_color: '#ffffff' },
            { locale: 'en', name: 'Library card', background_color: '#12355b', text_color: '#ffffff' },
          ],
          claims: [
            { path: ['given_name'], mandatory: true, display: label('Nombre', 'Given name') },
            { path: ['family_name'], mandatory: true, display: label('Apellidos', 'Family name') },
            { path: ['member_number'], display: label('Número de socio', 'Member number') },
            { path: ['address'], display: label('Dirección', 'Address') },
            { path: ['address', 'locality'], display: label('Localidad', 'Locality') },
            { path: ['address', 'country'], display: label('País', 'Country') },
          ],
        },
      },
    },
  });
  issuerMetadata = {
    originalDraftVersion: vci.Openid4vciVersion?.V1 ?? 'V1',
    credentialIssuer: metadata,
    authorizationServers: [asMetadata],
    knownCredentialConfigurations: issuer.getKnownCredentialConfigurationsSupported(metadata),
  };
}

// newOffer makes an offer by reference with a pre-authorized code and a
// six-digit transaction code.
async function newOffer() {
  const id = b64url(random(12));
  const txCode = String(100000 + (random(4).reduce((a, b) => a * 256 + b, 0) % 900000));
  const { credentialOffer, credentialOfferObject } = await issuer.createCredentialOffer({
    issuerMetadata,
    credentialConfigurationIds: [configId],
    grants: {
      [oauth.preAuthorizedCodeGrantIdentifier]: {
        tx_code: { input_mode: 'numeric', length: 6, description: 'El código que le enviamos por SMS' },
      },
    },
    credentialOfferUri: `${base}/offers/${id}`,
  });
  const code = credentialOfferObject.grants[oauth.preAuthorizedCodeGrantIdentifier]['pre-authorized_code'];
  offers.set(id, { object: credentialOfferObject, code, txCode, used: false });
  return { offer: credentialOffer, tx_code: txCode };
}

// ---- HTTP --------------------------------------------------------------------

const send = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
};

// requestLike is the request as the libraries read it.
const requestLike = (req) => ({
  method: req.method,
  url: `${base}${req.url}`,
  headers: new Headers(Object.entries(req.headers).flatMap(([k, v]) => (Array.isArray(v) ? v.map((w) => [k, w]) : [[k, v]]))),
});

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

// dpopNonceOf reads the nonce of a request's DPoP proof (unverified: the
// libraries verify the proof itself).
function dpopNonceOf(req) {
  try {
    return JSON.parse(Buffer.from(String(req.headers.dpop).split('.')[1], 'base64url').toString()).nonce;
  } catch {
    return undefined;
  }
}

// fail answers the libraries' errors in their OAuth form.
function fail(res, e, where) {
  if (e instanceof oauth.Oauth2ResourceUnauthorizedError) {
    return send(res, 401, undefined, { 'www-authenticate': e.toHeaderValue() });
  }
  if (e instanceof oauth.Oauth2ServerErrorResponseError) return send(res, e.status ?? 400, e.errorResponse);
  process.stderr.write(`${where}: ${describe(e)}\n${e.stack}\n`);
  return send(res, 500, { error: 'server_error', error_description: describe(e) });
}

async function token(req, res) {
  const body = Object.fromEntries(new URLSearchParams(await readBody(req)));
  const request = requestLike(req);
  const seen = { grant_type: body.grant_type };
  events.token_requests.push(seen);
  try {
    const parsed = as.parseAccessTokenRequest({ accessTokenRequest: body, request });
    if (!parsed.dpop) throw new oauth.Oauth2ServerErrorResponseError({ error: 'invalid_dpop_proof', error_description: 'a DPoP proof is required' });
    if (dpopNonceOf(req) !== tokenNonce) {
      seen.outcome = 'use_dpop_nonce';
      events.dpop_nonce_asked.push('token');
      return send(res, 400, { error: 'use_dpop_nonce', error_description: 'use the server nonce' }, { 'dpop-nonce': tokenNonce });
    }
    const offer = [...offers.values()].find((o) => o.code === parsed.grant.preAuthorizedCode);
    seen.tx_code_matched = offer !== undefined && parsed.grant.txCode === offer.txCode;
    const { dpop } = await as.verifyPreAuthorizedCodeAccessTokenRequest({
      grant: parsed.grant,
      accessTokenRequest: parsed.accessTokenRequest,
      request,
      dpop: { jwt: parsed.dpop.jwt, required: true, allowedSigningAlgs: ['ES256'] },
      authorizationServerMetadata: asMetadata,
      expectedPreAuthorizedCode: offer && !offer.used ? offer.code : b64url(random(32)),
      expectedTxCode: offer?.txCode,
    });
    offer.used = true;
    seen.dpop_jkt = dpop.jwkThumbprint;
    const answer = await as.createAccessTokenResponse({
      audience: base,
      authorizationServer: base,
      expiresInSeconds: 300,
      subject: `holder-${b64url(random(8))}`,
      signer: issuerSigner,
      dpop: { jwk: dpop.jwk },
      additionalAccessTokenPayload: { offer_id: [...offers].find(([, o]) => o === offer)[0] },
    });
    seen.outcome = 'issued';
    seen.token_type = answer.token_type;
    return send(res, 200, answer, { 'dpop-nonce': tokenNonce });
  } catch (e) {
    seen.outcome = e.errorResponse?.error ?? 'error';
    return fail(res, e, 'token');
  }
}

// authorize checks a request to the issuer's resource endpoints: the
// DPoP-bound token, and the issuer's own DPoP nonce. It answers the
// refusal itself and returns undefined then.
async function authorize(req, res, where) {
  const request = requestLike(req);
  try {
    const verified = await rs.verifyResourceRequest({ request, resourceServer: base, authorizationServers: [asMetadata] });
    if (dpopNonceOf(req) !== resourceNonce) {
      events.dpop_nonce_asked.push(where);
      send(res, 401, { error: 'use_dpop_nonce' }, {
        'www-authenticate': 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"',
        'dpop-nonce': resourceNonce,
      });
      return undefined;
    }
    return verified;
  } catch (e) {
    fail(res, e, where);
    return undefined;
  }
}

async function nonce(req, res) {
  const cNonce = b64url(random(24));
  cNonces.set(cNonce, Date.now() + 300_000);
  events.nonces++;
  return send(res, 200, issuer.createNonceResponse({ cNonce, cNonceExpiresIn: 300 }));
}

async function credential(req, res) {
  const body = await readBody(req);
  if (!(await authorize(req, res, 'credential'))) return;
  try {
    const parsed = issuer.parseCredentialRequest({ issuerMetadata, credentialRequest: JSON.parse(body) });
    if (parsed.credentialConfigurationId !== configId) {
      return send(res, 400, { error: 'invalid_credential_request', error_description: 'ask by credential_configuration_id' });
    }
    const jwts = parsed.proofs?.jwt;
    if (!jwts?.length) return send(res, 400, { error: 'invalid_proof', error_description: 'jwt key proofs are required' });
    if (jwts.length > metadata.batch_credential_issuance.batch_size) {
      return send(res, 400, { error: 'invalid_credential_request', error_description: 'more proofs than the batch size' });
    }
    // Every proof names a c_nonce this issuer gave and has not yet taken.
    const keys = [];
    const used = new Set();
    for (const jwt of jwts) {
      const claimed = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).nonce;
      if (!cNonces.has(claimed)) {
        return send(res, 400, { error: 'invalid_nonce', error_description: 'the c_nonce is unknown or used' });
      }
      const { signer } = await issuer.verifyCredentialRequestJwtProof({
        issuerMetadata, jwt, expectedNonce: claimed, nonceExpiresAt: new Date(cNonces.get(claimed)),
      });
      used.add(claimed);
      keys.push(signer.publicJwk);
    }
    used.forEach((n) => cNonces.delete(n));
    const vct = metadata.credential_configurations_supported[configId].vct;
    const now = Math.floor(Date.now() / 1000);
    const credentials = [];
    const jkts = [];
    for (const jwk of keys) {
      const jkt = await thumbprint(jwk);
      jkts.push(jkt);
      events.proofs.push(jkt);
      credentials.push({
        credential: await sdjwt.issue(
          {
            iss: base, iat: now, exp: now + 365 * 86400, vct, cnf: { jwk },
            given_name: 'Lucía', family_name: 'Paredes Soto', member_number: 'B-20417',
            address: { locality: 'Valparaíso', country: 'CL' },
          },
          { _sd: ['given_name', 'family_name', 'member_number', 'address'], address: { _sd: ['locality', 'country'] } },
          { header: { typ: 'dc+sd-jwt', kid } },
        ),
      });
    }
    const notificationId = b64url(random(12));
    notifications.set(notificationId, jkts);
    events.credentials.push({ configuration: configId, holder_jkts: jkts, notification_id: notificationId });
    return send(res, 200, issuer.createCredentialResponse({ credentialRequest: parsed, credentials, notificationId }),
      { 'dpop-nonce': resourceNonce });
  } catch (e) {
    return fail(res, e, 'credential');
  }
}

async function notification(req, res) {
  const body = await readBody(req);
  if (!(await authorize(req, res, 'notification'))) return;
  let n;
  try {
    n = JSON.parse(body);
  } catch {
    return send(res, 400, { error: 'invalid_notification_request' });
  }
  if (!['credential_accepted', 'credential_failure', 'credential_deleted'].includes(n?.event)) {
    return send(res, 400, { error: 'invalid_notification_request' });
  }
  if (!notifications.has(n.notification_id)) return send(res, 400, { error: 'invalid_notification_id' });
  events.notifications.push({ notification_id: n.notification_id, event: n.event, holder_jkts: notifications.get(n.notification_id) });
  res.writeHead(204).end();
}

const server = createServer(async (req, res) => {
  try {
    const path = new URL(req.url, base).pathname;
    const route = `${req.method} ${path}`;
    switch (route) {
      case 'GET /.well-known/openid-credential-issuer': return send(res, 200, metadata);
      case 'GET /.well-known/oauth-authorization-server': return send(res, 200, asMetadata);
      case 'GET /.well-known/jwt-vc-issuer': return send(res, 200, { issuer: base, jwks });
      case 'GET /jwks': return send(res, 200, jwks);
      case 'POST /token': return await token(req, res);
      case 'POST /nonce': return await nonce(req, res);
      case 'POST /credential': return await credential(req, res);
      case 'POST /notification': return await notification(req, res);
    }
    if (req.method === 'GET' && path.startsWith('/offers/') && offers.has(path.slice(8))) {
      return send(res, 200, offers.get(path.slice(8)).object);
    }
    return send(res, 404, { error: 'not_found' });
  } catch (e) {
    return fail(res, e, req.url);
  }
});

await serveLoopback(server, async (port) => {
  base = `http://127.0.0.1:${port}`;
  describeIssuer();
  return { base, ...(await newOffer()) };
});
await answerLines(async (line) => {
  if (line === 'offer') return newOffer();
  if (line === 'events') return { events };
});
print({ events });
server.close();
server.closeAllConnections?.();
