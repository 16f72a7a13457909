// An OpenID4VP 1.0 holder nobody on the project wrote, for the interop
// test of Cedula's verifier (nodeholder_test.go): @openid4vc/openid4vp's
// wallet side (Openid4vpClient) parses the openid4vp:// link, fetches and
// verifies the signed request object and checks its x509_san_dns client
// identifier against the leaf certificate, creates the authorization
// response (encrypting it to the verifier's client_metadata.jwks for
// direct_post.jwt) and submits it; dcql evaluates the request's DCQL query
// against the credential; @sd-jwt/sd-jwt-vc makes the presentation, only
// the claims the query's chosen claim set names, with a KB-JWT for the
// client_id and the request's nonce. The libraries leave two primitives to
// the wallet: node's crypto checks the request object's x5c chain up to
// the CA the test gives (the library checks the leaf's SAN and the
// response_uri's host, not who issued the certificate) and its ES256
// signature, and jose (panva) does the ECDH-ES JWE the library describes
// (key, alg, enc, apu, apv).
//
// Environment: NODE_DIR (the folder with node_modules), LINK (the
// openid4vp:// link), CA_PEM (the CA certificate the verifier's chain must
// end at, PEM), CREDENTIAL (an SD-JWT VC, compact, with every disclosure),
// HOLDER_JWK (the private JWK of the credential's cnf key, ES256).
//
// It prints one JSON object: client (prefix, identifier), fetched (how the
// library fetched the request object and which form fields it sent),
// mode, query (the credential query ids), disclosed (per query id, the
// claim names disclosed), kb (aud, nonce matches), encrypted (and the JWE
// header's alg and enc), status (the response_uri's HTTP status) and
// response (its body, parsed when JSON); a failure is {"error": "..."}
// naming the step.
import { X509Certificate, verify as verifySignature } from 'node:crypto';
import { describe, hash, load, b64url } from './wallet.mjs';

const vp = await load('@openid4vc/openid4vp');
const oauth = await load('@openid4vc/oauth2');
const { SDJwtVcInstance } = await load('@sd-jwt/sd-jwt-vc');
const { DcqlQuery } = await load('dcql');
const jose = await load('jose', 'dist/webapi/index.js');

const { subtle } = globalThis.crypto;
const utf8 = new TextEncoder();
const { LINK, CA_PEM, CREDENTIAL, HOLDER_JWK } = process.env;
const out = {};
let step = 'start';

// The test server answers on plain http on loopback.
oauth.setGlobalConfig({ allowInsecureUrls: true });

// ---- The verifier's certificate chain ------------------------------------

const ca = new X509Certificate(CA_PEM);
const der = (b64) => new X509Certificate(Buffer.from(b64, 'base64'));

// checkChain checks that x5c (leaf first) is a chain of certificates, each
// current and signed by the next, ending at the CA (or at a certificate
// the CA signed).
function checkChain(x5c) {
  const now = new Date();
  const certs = x5c.map(der);
  for (const [i, c] of certs.entries()) {
    if (now < new Date(c.validFrom) || now > new Date(c.validTo)) throw new Error(`certificate ${i} of x5c is not current`);
    const issuer = certs[i + 1];
    if (issuer && !(c.checkIssued(issuer) && c.verify(issuer.publicKey))) throw new Error(`certificate ${i} of x5c is not signed by the next`);
  }
  const last = certs[certs.length - 1];
  if (last.fingerprint256 !== ca.fingerprint256 && !(last.checkIssued(ca) && last.verify(ca.publicKey))) {
    throw new Error('the x5c chain does not end at the test CA');
  }
  return certs[0];
}

// sans reads a certificate's subject alternative names for the library's
// client identifier check.
function sans(certificate) {
  const names = (der(certificate).subjectAltName ?? '').split(', ');
  const of = (kind) => names.filter((n) => n.startsWith(`${kind}:`)).map((n) => n.slice(kind.length + 1));
  return { sanDnsNames: of('DNS'), sanUriNames: of('URI') };
}

// ---- Callbacks the library asks for --------------------------------------

const fetched = [];
const callbacks = {
  hash,
  // fetch notes how the library asked for the request object.
  fetch: (url, init) => {
    if (String(url).includes('/request')) {
      const form = new URLSearchParams(typeof init?.body === 'string' ? init.body : init?.body?.toString() ?? '');
      fetched.push({ method: String(init?.method ?? 'get').toLowerCase(), fields: [...form.keys()].sort() });
    }
    return fetch(url, init);
  },
  // verifyJwt verifies the request object: only by x5c, the chain to the
  // CA, then the ES256 signature by the leaf's key.
  async verifyJwt(signer, { header, compact }) {
    if (signer.method !== 'x5c') throw new Error(`request object signed by ${signer.method}, want x5c`);
    if (header.alg !== 'ES256') throw new Error(`request object signed with ${header.alg}`);
    const leaf = checkChain(signer.x5c);
    const [h, p, s] = compact.split('.');
    const ok = verifySignature('sha256', utf8.encode(`${h}.${p}`), { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' },
      Buffer.from(s, 'base64url'));
    return { verified: ok, signerJwk: leaf.publicKey.export({ format: 'jwk' }) };
  },
  getX509CertificateMetadata: sans,
  // encryptJwe makes the JWE the library describes.
  async encryptJwe(encryptor, data) {
    if (encryptor.method !== 'jwk') throw new Error(`encrypt to ${encryptor.method}`);
    const key = await jose.importJWK(encryptor.publicJwk, encryptor.alg);
    const header = { alg: encryptor.alg, enc: encryptor.enc };
    if (encryptor.publicJwk.kid) header.kid = encryptor.publicJwk.kid;
    const params = {};
    if (encryptor.apu) params.apu = Buffer.from(encryptor.apu, 'base64url');
    if (encryptor.apv) params.apv = Buffer.from(encryptor.apv, 'base64url');
    const jwe = await new jose.CompactEncrypt(utf8.encode(data)).setProtectedHeader(header).setKeyManagementParameters(params).encrypt(key);
    return { encryptionJwk: encryptor.publicJwk, jwe };
  },
  signJwt() {
    throw new Error('the holder signs nothing for the library');
  },
  decryptJwe() {
    throw new Error('the holder decrypts nothing');
  },
};
const client = new vp.Openid4vpClient({ callbacks });

// What this wallet says it takes when it fetches by POST (§5.10).
const walletMetadata = {
  vp_formats_supported: { 'dc+sd-jwt': { 'sd-jwt_alg_values': ['ES256'], 'kb-jwt_alg_values': ['ES256'] } },
  client_id_prefixes_supported: ['x509_san_dns'],
  request_object_signing_alg_values_supported: ['ES256'],
  response_modes_supported: ['direct_post', 'direct_post.jwt'],
};

// ---- The holder's credential ---------------------------------------------

const holderJwk = JSON.parse(HOLDER_JWK);
const holderKey = await subtle.importKey('jwk', holderJwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
const sdjwt = new SDJwtVcInstance({
  hasher: hash,
  kbSignAlg: 'ES256',
  async kbSigner(input) {
    const sig = await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, holderKey, utf8.encode(input));
    return b64url(new Uint8Array(sig));
  },
});

// frameOf is the presentation frame disclosing the claims at paths (claim
// names; array paths are not asked for here).
function frameOf(paths) {
  const frame = {};
  for (const path of paths) {
    if (!path.every((p) => typeof p === 'string')) throw new Error(`cannot disclose path ${JSON.stringify(path)}`);
    let at = frame;
    path.forEach((name, i) => {
      if (i === path.length - 1) at[name] = true;
      else at = at[name] = typeof at[name] === 'object' ? at[name] : {};
    });
  }
  return frame;
}

try {
  step = 'parse the link';
  const parsed = client.parseOpenid4vpAuthorizationRequest({ authorizationRequest: LINK });
  if (parsed.type !== 'jar') throw new Error(`the link is a ${parsed.type} request, want a request_uri`);

  step = 'resolve the request';
  const resolved = await client.resolveOpenId4vpAuthorizationRequest({
    authorizationRequestPayload: parsed.params, wallet: { metadata: walletMetadata },
  });
  const request = resolved.authorizationRequestPayload;
  out.client = { prefix: resolved.client.prefix, identifier: resolved.client.identifier };
  out.fetched = fetched;
  out.mode = request.response_mode;
  if (!resolved.dcql) throw new Error('the request has no dcql_query');

  step = 'match the DCQL query';
  const query = DcqlQuery.parse(resolved.dcql.query);
  DcqlQuery.validate(query);
  const claims = await sdjwt.getClaims(CREDENTIAL);
  const matched = DcqlQuery.query(query, [{
    credential_format: 'dc+sd-jwt', vct: claims.vct, claims, cryptographic_holder_binding: true,
  }]);
  if (!matched.can_be_satisfied) throw new Error('the credential cannot answer the query');
  out.query = Object.keys(matched.credential_matches);

  step = 'present';
  const iat = Math.floor(Date.now() / 1000);
  const vpToken = {};
  out.disclosed = {};
  for (const cq of query.credentials) {
    const match = matched.credential_matches[cq.id];
    if (!match.success) continue;
    const set = match.valid_credentials[0].claims.valid_claim_sets[0];
    const paths = (set.valid_claim_indexes ?? []).map((i) => cq.claims[i].path);
    const presentation = await sdjwt.present(CREDENTIAL, frameOf(paths), {
      kb: { payload: { aud: request.client_id, nonce: request.nonce, iat } },
    });
    vpToken[cq.id] = [presentation];
    const parts = presentation.split('~');
    out.disclosed[cq.id] = parts.slice(1, -1).map((d) => JSON.parse(Buffer.from(d, 'base64url').toString())[1]).sort();
    const kb = JSON.parse(Buffer.from(parts[parts.length - 1].split('.')[1], 'base64url').toString());
    out.kb = { aud: kb.aud, nonce_matches: kb.nonce === request.nonce };
  }

  step = 'create the response';
  const jarm = request.response_mode === 'direct_post.jwt' ? {
    encryption: { nonce: b64url(globalThis.crypto.getRandomValues(new Uint8Array(16))) },
    serverMetadata: {
      authorization_signing_alg_values_supported: ['ES256'],
      authorization_encryption_alg_values_supported: ['ECDH-ES'],
      authorization_encryption_enc_values_supported: ['A128GCM', 'A256GCM'],
    },
  } : undefined;
  const response = await client.createOpenid4vpAuthorizationResponse({
    authorizationRequestPayload: request, authorizationResponsePayload: { vp_token: vpToken }, jarm,
  });
  out.encrypted = Boolean(response.jarm);
  if (response.jarm) {
    const h = JSON.parse(Buffer.from(response.jarm.responseJwt.split('.')[0], 'base64url').toString());
    out.jwe = { alg: h.alg, enc: h.enc, apu: Boolean(h.apu), apv: Boolean(h.apv) };
  }

  step = 'submit the response';
  const submitted = await client.submitOpenid4vpAuthorizationResponse({
    authorizationRequestPayload: request,
    authorizationResponsePayload: response.authorizationResponsePayload,
    jarm: response.jarm ? { responseJwt: response.jarm.responseJwt } : undefined,
  });
  out.status = submitted.response.status;
  const body = await submitted.response.text();
  try {
    out.response = JSON.parse(body);
  } catch {
    out.response = body;
  }
} catch (e) {
  out.error = `${step}: ${describe(e)}`;
}
process.stdout.write(`${JSON.stringify(out)}\n`);
