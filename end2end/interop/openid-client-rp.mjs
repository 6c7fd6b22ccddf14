// Drives the dev IdP with panva's openid-client (a certified relying-party library nobody here wrote):
// discovery, authorization code + PKCE (posting the dev sign-in choice like a browser would), token
// exchange with ID-token validation (signature, iss, aud, nonce, exp, RFC 9207 iss), and refresh.
// Prints one JSON line. Run by server/tests/dev_idp.rs.
import * as client from 'openid-client';

const issuer = new URL(process.env.IDP_ISSUER);
const clientId = process.env.IDP_CLIENT_ID;
const clientSecret = process.env.IDP_CLIENT_SECRET;
const redirectUri = process.env.IDP_REDIRECT_URI;
const scope = process.env.IDP_SCOPE;

const config = await client.discovery(issuer, clientId, undefined, client.ClientSecretBasic(clientSecret), {
  execute: [client.allowInsecureRequests],
});

const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState();
const nonce = client.randomNonce();
const authorizeUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope,
  code_challenge: challenge,
  code_challenge_method: 'S256',
  state,
  nonce,
});

// The sign-in page, then the user's choice, as a browser would post it.
const page = await fetch(authorizeUrl);
const html = await page.text();
if (page.status !== 200 || !html.includes('data-testid="dev-user-alice"')) {
  throw new Error(`sign-in page: ${page.status}`);
}
const form = new URLSearchParams(authorizeUrl.searchParams);
form.set('user', 'alice');
const choice = await fetch(new URL(authorizeUrl.pathname, authorizeUrl), {
  method: 'POST',
  body: form,
  redirect: 'manual',
});
const callback = new URL(choice.headers.get('location'));

const tokens = await client.authorizationCodeGrant(config, callback, {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);

console.log(JSON.stringify({
  iss: claims.iss,
  aud: claims.aud,
  sub: claims.sub,
  name: claims.name,
  oid: claims.oid,
  tid: claims.tid,
  callbackHasIss: callback.searchParams.get('iss'),
  accessToken: tokens.access_token,
  scope: tokens.scope,
  hasRefresh: typeof tokens.refresh_token === 'string',
  rotated: refreshed.refresh_token !== tokens.refresh_token,
  refreshedAccess: typeof refreshed.access_token === 'string',
}));
