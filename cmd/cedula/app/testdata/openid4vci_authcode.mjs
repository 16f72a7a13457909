// Interop check of Cedula's OpenID4VCI 1.0 credential issuer through the
// authorization code flow, with a wallet nobody on the project wrote:
// @openid4vc/openid4vci and @openid4vc/oauth2 (npm) do the wallet's side,
// @sd-jwt/sd-jwt-vc verifies the credential. The citizen's part — the
// passkey login and the consent — happens in the browser the Go test
// drives, so the script runs in two phases:
//
//  1. It resolves the agency's offer by reference and the issuer's
//     metadata, pushes the authorization request (PAR, RFC 9126) with PKCE,
//     DPoP, a state, the offer's issuer_state and authorization_details
//     for the offered configuration, and prints one line of JSON,
//     {"authorization_url": …}, for the browser to open.
//  2. It reads one line from stdin, the URL the browser landed on at the
//     redirect URI; checks its iss (RFC 9207) and state; redeems the code
//     (PKCE verifier, DPoP); gets a c_nonce; asks for one credential the
//     way the token response says (credential_identifier when it has
//     authorization_details, credential_configuration_id otherwise);
//     verifies it against the jwt-vc-issuer keys; and prints one final
//     line of JSON with what it saw, or {"error": "step: message"}.
//
// Environment: NODE_DIR (the folder with node_modules), ISSUER (the
// credential issuer's URL, no trailing slash), CLIENT_ID (the wallet, a
// public client), REDIRECT (its redirect URI), OFFER_URI (the offer, an
// openid-credential-offer:// URI with credential_offer_uri).
import { createInterface } from 'node:readline';
import { b64url, callbacks as walletCallbacks, describe, hash, issuerVerifier, load, newKey, signerFor } from './wallet.mjs';

const vci = await load('@openid4vc/openid4vci');
const oauth = await load('@openid4vc/oauth2');
const { SDJwtVcInstance } = await load('@sd-jwt/sd-jwt-vc');

const { ISSUER, CLIENT_ID, REDIRECT, OFFER_URI } = process.env;
const out = {};
let step = 'start';

// The issuer runs on plain http in the tests; the libraries refuse http
// URLs unless told otherwise.
vci.setGlobalConfig({ allowInsecureUrls: ISSUER.startsWith('http://') });

// The wallet is a public client: its client_id in the body.
const callbacks = walletCallbacks(oauth.clientAuthenticationNone({ clientId: CLIENT_ID }));

// ---- The run ------------------------------------------------------------

const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

try {
  const wallet = new vci.Openid4vciClient({ callbacks });
  const client = new oauth.Oauth2Client({ callbacks });

  // 1. The offer by reference, the issuer's metadata and its
  // authorization server's.
  step = 'resolve offer';
  const credentialOffer = await wallet.resolveCredentialOffer(OFFER_URI);
  const grant = credentialOffer.grants?.[oauth.authorizationCodeGrantIdentifier];
  if (credentialOffer.credential_issuer !== ISSUER) throw new Error(`offer names issuer ${credentialOffer.credential_issuer}`);
  if (!grant?.issuer_state) throw new Error(`offer has no authorization_code grant with an issuer_state: ${JSON.stringify(credentialOffer.grants)}`);
  const [configId] = credentialOffer.credential_configuration_ids;
  step = 'resolve issuer metadata';
  const issuerMetadata = await wallet.resolveIssuerMetadata(credentialOffer.credential_issuer);
  const as = oauth.getAuthorizationServerMetadataFromList(issuerMetadata.authorizationServers,
    vci.determineAuthorizationServerForCredentialOffer({ issuerMetadata, grantAuthorizationServer: grant.authorization_server }));
  if (!as.pushed_authorization_request_endpoint) throw new Error('the authorization server has no pushed_authorization_request_endpoint');
  if (!(as.authorization_details_types_supported ?? []).includes('openid_credential')) {
    throw new Error(`authorization_details_types_supported ${JSON.stringify(as.authorization_details_types_supported)}`);
  }

  // 2. The authorization request, pushed (the library pushes it when the
  // server has a PAR endpoint), with PKCE and the DPoP key's proof.
  // Openid4vciClient.initiateAuthorization would add the offer's
  // issuer_state itself, but drops the state (0.4.6 passes no state to
  // Oauth2Client), so the wallet uses the OAuth 2 client with both.
  step = 'authorization request';
  const dpopKey = await newKey();
  const state = b64url(callbacks.generateRandom(16));
  const authorization = await client.initiateAuthorization({
    authorizationServerMetadata: as,
    clientId: CLIENT_ID,
    redirectUri: REDIRECT,
    state,
    resource: issuerMetadata.credentialIssuer.credential_issuer,
    additionalRequestPayload: {
      issuer_state: grant.issuer_state,
      authorization_details: [{ type: 'openid_credential', credential_configuration_id: configId }],
    },
    dpop: { signer: signerFor(dpopKey) },
  });
  const authorizationUrl = new URL(authorization.authorizationRequestUrl);
  if (!authorizationUrl.searchParams.get('request_uri')) throw new Error(`authorization URL without request_uri: ${authorizationUrl}`);
  if (!authorization.pkce?.codeVerifier) throw new Error('no PKCE');
  console.log(JSON.stringify({ authorization_url: authorizationUrl.href }));

  // 3. The browser's part; then the authorization response.
  step = 'read the redirect';
  const { value: landed, done } = await lines.next();
  if (done || !landed) throw new Error('no redirect URL on stdin');
  step = 'authorization response';
  const response = wallet.parseAndVerifyAuthorizationResponseRedirectUrl({ url: landed.trim(), authorizationServerMetadata: as });
  if (response.error) throw new Error(`authorization error ${response.error}: ${response.error_description ?? ''}`);
  if (response.state !== state) throw new Error(`state ${response.state}, want ${state}`);
  if (response.iss !== as.issuer) throw new Error(`iss ${response.iss}, want ${as.issuer}`);

  // 4. The token, DPoP-bound.
  step = 'token';
  const token = await wallet.retrieveAuthorizationCodeAccessTokenFromOffer({
    credentialOffer, issuerMetadata, authorizationCode: response.code, pkceCodeVerifier: authorization.pkce.codeVerifier,
    redirectUri: REDIRECT, dpop: authorization.dpop ?? { signer: signerFor(dpopKey) },
  });
  const tokenResponse = token.accessTokenResponse;
  out.token_type = tokenResponse.token_type;
  out.authorization_details = Array.isArray(tokenResponse.authorization_details);
  const dpop = token.dpop ?? { signer: signerFor(dpopKey) };
  const identifier = tokenResponse.authorization_details
    ?.find((d) => d.type === 'openid_credential' && d.credential_configuration_id === configId)
    ?.credential_identifiers?.[0];
  if (out.authorization_details && !identifier) {
    throw new Error(`authorization_details without a credential identifier for ${configId}: ${JSON.stringify(tokenResponse.authorization_details)}`);
  }

  // 5. A c_nonce and one key proof.
  step = 'nonce';
  const { c_nonce: cNonce } = await wallet.requestNonce({ issuerMetadata });
  step = 'proof';
  const holder = await newKey();
  const { jwt: proof } = await wallet.createCredentialRequestJwtProof({
    issuerMetadata, credentialConfigurationId: configId, signer: signerFor(holder), nonce: cNonce,
  });

  // 6. The credential. Openid4vciClient.retrieveCredentials (0.4.6) always
  // names the configuration, which §8.2 forbids once the token response
  // gave credential identifiers; the request by identifier goes through
  // the OAuth 2 library's resource request, DPoP-bound all the same.
  step = 'credential';
  let body;
  if (identifier) {
    const res = await oauth.resourceRequest({
      callbacks, url: issuerMetadata.credentialIssuer.credential_endpoint, accessToken: tokenResponse.access_token, dpop,
      requestOptions: {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ credential_identifier: identifier, proofs: { jwt: [proof] } }),
      },
    });
    body = await res.response.json().catch(() => null);
    if (!res.ok) throw new Error(`status ${res.response.status}: ${JSON.stringify(body ?? res.wwwAuthenticate)}`);
  } else {
    const issued = await wallet.retrieveCredentials({
      issuerMetadata, credentialConfigurationId: configId, proofs: { jwt: [proof] }, accessToken: tokenResponse.access_token, dpop,
    });
    body = issued.credentialResponse;
  }
  const credentials = (body?.credentials ?? []).map((c) => (typeof c === 'string' ? c : c.credential));
  out.credentials = credentials.length;

  // 7. Each credential verified with the SD-JWT VC library against the
  // issuer's published keys; its claims are those disclosed.
  step = 'verify';
  const sdjwt = new SDJwtVcInstance({ hasher: hash, verifier: await issuerVerifier(ISSUER) });
  out.verified = 0;
  for (const [i, compact] of credentials.entries()) {
    const { payload } = await sdjwt.verify(compact);
    out.verified++;
    if (payload.iss !== ISSUER) throw new Error(`credential ${i} has iss ${payload.iss}`);
    if (payload.cnf?.jwk?.x !== holder.x) throw new Error(`credential ${i} is not bound to the proof's key`);
    out.vct = payload.vct;
    out.given_name = payload.given_name;
  }
} catch (e) {
  out.error = `${step}: ${describe(e)}`;
}
stdin.close();
console.log(JSON.stringify(out));
