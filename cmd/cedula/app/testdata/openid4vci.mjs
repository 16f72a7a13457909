// Interop check of Cedula's OpenID4VCI 1.0 credential issuer with a wallet
// nobody on the project wrote: @openid4vc/openid4vci and @openid4vc/oauth2
// (npm) do the wallet's side, @sd-jwt/sd-jwt-vc verifies every credential
// and @sd-jwt/jwt-status-list reads the status lists. The Go test starts a
// server, a citizen and an agency client that may issue the type, and runs
// this script with node; the script prints one JSON object with what it
// saw, and any failure as {"error": "..."} naming the step that failed.
//
// Environment: NODE_DIR (the folder with node_modules), ISSUER (the
// credential issuer's URL, no trailing slash), AGENCY_ID and AGENCY_SECRET
// (the agency's client, client_secret_basic), SUBJECT (the citizen's sub as
// the agency knows them), CONFIG_ID (the credential configuration to ask
// for).
import { callbacks as walletCallbacks, describe, hash, issuerVerifier, load, newKey, signerFor } from './wallet.mjs';

const vci = await load('@openid4vc/openid4vci');
const oauth = await load('@openid4vc/oauth2');
const { SDJwtVcInstance } = await load('@sd-jwt/sd-jwt-vc');
const { getListFromStatusListJWT } = await load('@sd-jwt/jwt-status-list');

const { ISSUER, AGENCY_ID, AGENCY_SECRET, SUBJECT, CONFIG_ID } = process.env;
const out = {};
let step = 'start';

// The issuer runs on plain http in the tests; the libraries refuse http
// URLs unless told otherwise.
vci.setGlobalConfig({ allowInsecureUrls: ISSUER.startsWith('http://') });

// The pre-authorized code grant is anonymous here.
const callbacks = walletCallbacks(oauth.clientAuthenticationAnonymous());
const thumbprint = (jwk) => oauth.calculateJwkThumbprint({ jwk, hashAlgorithm: oauth.HashAlgorithm.Sha256, hashCallback: hash });

// ---- Plain HTTP for the agency's side and the issuer's keys --------------

// problem turns an error response (RFC 9457 problem or OAuth error) into a
// short message.
async function problem(res) {
  const body = await res.text();
  try {
    const j = JSON.parse(body);
    return `status ${res.status}: ${j.error ?? j.title ?? ''} ${j.error_description ?? j.detail ?? ''}`.trim();
  } catch {
    return `status ${res.status}: ${body.slice(0, 200)}`;
  }
}

// call sends one request and returns the JSON body, or fails unless the
// status is the one expected.
async function call(url, init, want) {
  const res = await fetch(url, init);
  if (res.status !== want) throw new Error(`${init?.method ?? 'GET'} ${new URL(url).pathname}: want ${want}, got ${await problem(res)}`);
  return res.status === 204 ? null : res.json();
}

// agencyToken is the client credentials grant with HTTP Basic, the id and
// secret form-encoded first as RFC 6749 §2.3.1 asks.
async function agencyToken() {
  const basic = Buffer.from(`${encodeURIComponent(AGENCY_ID)}:${encodeURIComponent(AGENCY_SECRET)}`).toString('base64');
  const tok = await call(`${ISSUER}/oauth/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'cedula:issuance' }),
  }, 200);
  if (String(tok.token_type).toLowerCase() !== 'bearer') throw new Error(`agency token_type ${tok.token_type}`);
  return tok.access_token;
}

const asAgency = (token, method, body) => ({
  method,
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

// ---- Status lists ---------------------------------------------------------

const statusNames = ['valid', 'invalid', 'suspended'];

// readStatuses fetches the Status List Token at uri, checks it is the
// issuer's (signature, typ, sub) and still current, and returns the status
// at each index, read with @sd-jwt/jwt-status-list.
async function readStatuses(uri, idxs, verify) {
  const res = await fetch(uri, { headers: { accept: 'application/statuslist+jwt' } });
  if (!res.ok) throw new Error(`status list ${uri}: ${await problem(res)}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.includes('application/statuslist+jwt')) throw new Error(`status list served as ${type}`);
  const jwt = (await res.text()).trim();
  const [h, p, s] = jwt.split('.');
  if (!(await verify(`${h}.${p}`, s))) throw new Error('status list token signature does not verify');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  if (header.typ !== 'statuslist+jwt') throw new Error(`status list token typ ${header.typ}`);
  if (payload.sub !== uri) throw new Error(`status list token sub ${payload.sub} is not its URI ${uri}`);
  if (payload.exp && payload.exp < Date.now() / 1000) throw new Error('status list token expired');
  const list = getListFromStatusListJWT(jwt);
  return idxs.map((i) => list.getStatus(i));
}

// statusOf reads every credential's status (grouped by list) and names it:
// one name when the credentials agree, all of them otherwise.
async function statusOf(refs, verify) {
  const byList = new Map();
  for (const r of refs) byList.set(r.uri, [...(byList.get(r.uri) ?? []), r.idx]);
  const seen = [];
  for (const [uri, idxs] of byList) seen.push(...(await readStatuses(uri, idxs, verify)));
  const names = seen.map((n) => statusNames[n] ?? `status ${n}`);
  return new Set(names).size === 1 ? names[0] : names.join('/');
}

// ---- Errors the wallet expects -------------------------------------------

// errorCode runs a call that should fail and returns the OAuth or OpenID4VCI
// error code of its error response, "none" when it succeeded.
async function errorCode(fn) {
  try {
    await fn();
    return 'none';
  } catch (e) {
    if (e instanceof oauth.Oauth2ClientErrorResponseError) return e.errorResponse.error;
    if (e instanceof vci.Openid4vciRetrieveCredentialsError) {
      const r = e.response;
      return r.credentialErrorResponseResult?.data?.error
        ?? r.wwwAuthenticate?.map((c) => `${c.scheme} ${c.error ?? ''}`.trim()).join(',')
        ?? `status ${r.response.status}`;
    }
    throw e;
  }
}

// ---- The run ------------------------------------------------------------

try {
  const wallet = new vci.Openid4vciClient({ callbacks });

  // 1–2. The agency gets a token and makes an offer for the citizen.
  step = 'agency token';
  const agency = await agencyToken();
  step = 'create offer';
  const offer = await call(`${ISSUER}/issuance/offers`, asAgency(agency, 'POST', { subject: SUBJECT, credential_configuration_id: CONFIG_ID }), 201);
  for (const k of ['credential_offer_uri', 'tx_code', 'credential_id']) {
    if (!offer[k]) throw new Error(`offer response has no ${k}`);
  }

  // 3. The wallet resolves the offer (fetching it by reference) and the
  // issuer's metadata, with the authorization server's.
  step = 'resolve offer';
  const credentialOffer = await wallet.resolveCredentialOffer(offer.credential_offer_uri);
  const grant = credentialOffer.grants?.[oauth.preAuthorizedCodeGrantIdentifier];
  if (credentialOffer.credential_issuer !== ISSUER) throw new Error(`offer names issuer ${credentialOffer.credential_issuer}`);
  if (!credentialOffer.credential_configuration_ids.includes(CONFIG_ID)) throw new Error(`offer is for ${credentialOffer.credential_configuration_ids}`);
  if (!grant) throw new Error('offer has no pre-authorized code grant');
  if (grant.tx_code?.input_mode !== 'numeric' || grant.tx_code?.length !== offer.tx_code.length) {
    throw new Error(`offer's tx_code ${JSON.stringify(grant.tx_code)} does not describe the code the agency got`);
  }
  step = 'resolve issuer metadata';
  const issuerMetadata = await wallet.resolveIssuerMetadata(credentialOffer.credential_issuer);
  const ci = issuerMetadata.credentialIssuer;
  const as = issuerMetadata.authorizationServers[0];
  const config = issuerMetadata.knownCredentialConfigurations[CONFIG_ID];
  out.issuer_metadata_ok = ci.credential_issuer === ISSUER
    && ci.credential_endpoint === `${ISSUER}/vci/credential`
    && ci.nonce_endpoint === `${ISSUER}/vci/nonce`
    && ci.notification_endpoint === `${ISSUER}/vci/notification`
    && (ci.batch_credential_issuance?.batch_size ?? 1) >= 3
    && [vci.Openid4vciVersion.V1, vci.Openid4vciVersion.Draft15].includes(issuerMetadata.originalDraftVersion)
    && config?.format === 'dc+sd-jwt'
    && typeof config.vct === 'string'
    && (config.cryptographic_binding_methods_supported ?? []).includes('jwk')
    && (config.credential_signing_alg_values_supported ?? []).includes('ES256')
    && (config.proof_types_supported?.jwt?.proof_signing_alg_values_supported ?? []).includes('ES256')
    && issuerMetadata.authorizationServers.length === 1
    && as.issuer === ISSUER
    && as.token_endpoint === `${ISSUER}/oauth/token`
    && as['pre-authorized_grant_anonymous_access_supported'] === true
    && (as.dpop_signing_alg_values_supported ?? []).includes('ES256');

  // 4. The token, DPoP-bound: first with a wrong transaction code, which
  // must be refused without spending the code, then with the right one.
  const dpopKey = await newKey();
  const tx = offer.tx_code;
  const wrongTx = tx.slice(0, -1) + String((Number(tx.at(-1)) + 1) % 10);
  const redeem = (txCode) => wallet.retrievePreAuthorizedCodeAccessTokenFromOffer({
    credentialOffer, issuerMetadata, txCode, dpop: { signer: signerFor(dpopKey) },
  });
  step = 'token with a wrong tx_code';
  out.wrong_tx_code = await errorCode(() => redeem(wrongTx));
  step = 'token';
  const token = await redeem(tx);
  out.token_type = token.accessTokenResponse.token_type;
  const accessToken = token.accessTokenResponse.access_token;
  let dpop = token.dpop ?? { signer: signerFor(dpopKey) };
  const keepNonce = (res) => {
    if (res?.dpop?.nonce) dpop = { ...dpop, nonce: res.dpop.nonce };
  };

  // 5–6. A fresh c_nonce, then one credential request for three
  // credentials, each bound to its own key.
  step = 'nonce';
  const { c_nonce: cNonce } = await wallet.requestNonce({ issuerMetadata });
  step = 'proofs';
  const holders = [await newKey(), await newKey(), await newKey()];
  const proofs = [];
  for (const holder of holders) {
    const { jwt } = await wallet.createCredentialRequestJwtProof({
      issuerMetadata, credentialConfigurationId: CONFIG_ID, signer: signerFor(holder), nonce: cNonce,
    });
    proofs.push(jwt);
  }
  step = 'credential';
  const issued = await wallet.retrieveCredentials({
    issuerMetadata, credentialConfigurationId: CONFIG_ID, proofs: { jwt: proofs }, accessToken, dpop,
  });
  keepNonce(issued);
  const credentials = (issued.credentialResponse.credentials ?? []).map((c) => (typeof c === 'string' ? c : c.credential));
  out.credentials = credentials.length;

  // 7. Verify each credential with the SD-JWT VC library (signature with the
  // issuer's published key, time claims, status), then what the wallet
  // asked for: the type, the issuer, the key it is bound to, every
  // disclosure used.
  step = 'verify';
  const verify = await issuerVerifier(ISSUER);
  const sdjwt = new SDJwtVcInstance({ hasher: hash, verifier: verify });
  const cnfs = [];
  const refs = [];
  const vcts = new Set();
  out.verified = 0;
  for (const [i, compact] of credentials.entries()) {
    if (!compact.endsWith('~')) throw new Error(`credential ${i} is not an SD-JWT without key binding`);
    const { payload, header } = await sdjwt.verify(compact);
    out.verified++;
    if (header?.typ !== 'dc+sd-jwt') throw new Error(`credential ${i} has typ ${header?.typ}`);
    if (payload.iss !== ISSUER) throw new Error(`credential ${i} has iss ${payload.iss}`);
    vcts.add(payload.vct);
    const disclosures = (await sdjwt.decode(compact)).disclosures ?? [];
    const used = await sdjwt.presentableKeys(compact);
    if (disclosures.length === 0 || used.length !== disclosures.length) {
      throw new Error(`credential ${i}: ${disclosures.length} disclosures, ${used.length} of them referenced`);
    }
    const cnf = payload.cnf?.jwk;
    if (!cnf) throw new Error(`credential ${i} has no cnf.jwk`);
    const bound = await thumbprint(cnf);
    if (bound !== (await thumbprint(holders[i]))) throw new Error(`credential ${i} is not bound to the key of proof ${i}`);
    cnfs.push(bound);
    const ref = payload.status?.status_list;
    if (!ref || typeof ref.idx !== 'number' || typeof ref.uri !== 'string') throw new Error(`credential ${i} has no status_list reference`);
    refs.push(ref);
  }
  out.vct = vcts.size === 1 ? [...vcts][0] : [...vcts].join(',');
  out.distinct_cnf = new Set(cnfs).size === credentials.length;
  out.distinct_idx = new Set(refs.map((r) => r.idx)).size === refs.length;
  out.same_list = new Set(refs.map((r) => r.uri)).size === 1;

  // 8. Tell the issuer the credentials were accepted.
  step = 'notification';
  try {
    const sent = await wallet.sendNotification({
      issuerMetadata, accessToken, dpop,
      notification: { notificationId: issued.credentialResponse.notification_id, event: 'credential_accepted' },
    });
    keepNonce(sent);
    out.notification_status = sent.response.status;
  } catch (e) {
    if (!(e instanceof vci.Openid4vciSendNotificationError)) throw e;
    out.notification_status = e.response.response.status;
  }

  // 10a. The spent c_nonce again, in a new credential request with the same
  // token: refused.
  step = 'replayed nonce';
  const { jwt: staleProof } = await wallet.createCredentialRequestJwtProof({
    issuerMetadata, credentialConfigurationId: CONFIG_ID, signer: signerFor(holders[0]), nonce: cNonce,
  });
  out.replayed_nonce = await errorCode(() => wallet.retrieveCredentials({
    issuerMetadata, credentialConfigurationId: CONFIG_ID, proofs: { jwt: [staleProof] }, accessToken, dpop,
  }));

  // 9. The status of the three credentials as the list says, before and
  // after each change the agency makes.
  step = 'status';
  out.statuses = [await statusOf(refs, verify)];
  for (const status of ['suspended', 'valid', 'invalid']) {
    step = `status ${status}`;
    await call(`${ISSUER}/issuance/credentials/${encodeURIComponent(offer.credential_id)}/status`, asAgency(agency, 'PUT', { status }), 200);
    out.statuses.push(await statusOf(refs, verify));
  }

  // 10b. The spent pre-authorized code again: refused. Last, since a server
  // may revoke what the code gave on a replay.
  step = 'replayed code';
  out.replayed_code = await errorCode(() => redeem(tx));
} catch (e) {
  out.error = `${step}: ${describe(e)}`;
}
console.log(JSON.stringify(out));
