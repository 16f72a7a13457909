// Interop check of Cedula's OpenID provider with openid-client (npm), a
// client nobody on the project wrote. The Go test (interop_test.go) starts
// a server, a citizen's login session and the clients, and runs this script
// with node; the script prints one JSON object with what it saw, and any
// failure as {"error": "..."}.
//
// Environment: NODE_DIR (the folder with node_modules), ISSUER, CLIENT_ID,
// CLIENT_SECRET, REDIRECT, COOKIE (the session cookie, name=value).
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const client = await import(pathToFileURL(join(process.env.NODE_DIR, 'node_modules/openid-client/build/index.js')).href);
const { ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT, COOKIE } = process.env;
const out = {};

// browse follows the provider's redirects, with or without the citizen's
// cookie, until they reach the client's redirect URI (prompt=none shows no
// page).
async function browse(url, cookie) {
  let next = new URL(url);
  for (let i = 0; i < 8; i++) {
    const res = await fetch(next, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    const loc = res.headers.get('location');
    if (!loc) throw new Error(`no redirect from ${next.pathname}: status ${res.status}`);
    next = new URL(loc, next);
    if (next.href.startsWith(REDIRECT)) return next;
  }
  throw new Error('too many redirects');
}

// code runs one silent authorization (PAR when par) and the code grant.
async function code(config, { par = false, dpop } = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const params = {
    redirect_uri: REDIRECT, scope: 'openid profile offline_access', prompt: 'none',
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    state: client.randomState(), nonce: client.randomNonce(),
  };
  const url = par ? await client.buildAuthorizationUrlWithPAR(config, params, { DPoP: dpop })
    : client.buildAuthorizationUrl(config, params);
  const cb = await browse(url, COOKIE);
  const checks = { pkceCodeVerifier: verifier, expectedState: params.state, expectedNonce: params.nonce };
  const tokens = await client.authorizationCodeGrant(config, cb, checks, undefined, { DPoP: dpop });
  return { cb, checks, tokens };
}

// failure returns the OAuth error code a call threw, or "none".
async function failure(fn) {
  try {
    await fn();
    return 'none';
  } catch (e) {
    if (e instanceof client.WWWAuthenticateChallengeError) {
      return 'challenge:' + e.cause.map((c) => `${c.scheme} ${c.parameters.error ?? ''}`.trim()).join(',');
    }
    return e.error ?? e.code ?? String(e);
  }
}

try {
  const config = await client.discovery(new URL(ISSUER), CLIENT_ID, undefined, client.ClientSecretBasic(CLIENT_SECRET),
    { execute: [client.allowInsecureRequests] });
  const md = config.serverMetadata();
  out.iss_supported = md.authorization_response_iss_parameter_supported === true;

  // 1. Pushed request, prompt=none, PKCE, nonce; openid-client checks iss,
  // state, the ID token and at_hash.
  const first = await code(config, { par: true });
  const claims = first.tokens.claims();
  out.sid = claims.sid;
  out.sub = claims.sub;
  out.iss_in_response = first.cb.searchParams.get('iss');
  out.userinfo_sub = (await client.fetchUserInfo(config, first.tokens.access_token, claims.sub)).sub;
  const refreshed = await client.refreshTokenGrant(config, first.tokens.refresh_token);
  out.refreshed_sid = refreshed.claims()?.sid;

  // 2. The same code again: refused, and what it issued revoked.
  out.replay = await failure(() => client.authorizationCodeGrant(config, first.cb, first.checks));
  out.userinfo_after_replay = await failure(() => client.fetchUserInfo(config, first.tokens.access_token, claims.sub));
  out.refreshed_userinfo_after_replay = await failure(() => client.fetchUserInfo(config, refreshed.access_token, claims.sub));
  out.refresh_after_replay = await failure(() => client.refreshTokenGrant(config, refreshed.refresh_token));

  // 3. DPoP-bound tokens (RFC 9449).
  const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  const bound = await code(config, { par: true, dpop });
  out.dpop_token_type = bound.tokens.token_type;
  out.dpop_userinfo_sub = (await client.fetchUserInfo(config, bound.tokens.access_token, claims.sub, { DPoP: dpop })).sub;
  out.dpop_as_bearer = await failure(() => client.fetchUserInfo(config, bound.tokens.access_token, claims.sub));

  // 4. No session: login_required, which openid-client accepts only with
  // the right iss and state.
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: 'openid', prompt: 'none', state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const denied = await browse(url);
  out.no_session = await failure(() => client.authorizationCodeGrant(config, denied, { pkceCodeVerifier: verifier, expectedState: state }));
} catch (e) {
  out.error = `${e.name}: ${e.message}${e.cause ? ' ' + JSON.stringify(e.cause) : ''}`;
}
console.log(JSON.stringify(out));
