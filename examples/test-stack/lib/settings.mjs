// Settings of the test authorization server: environment knobs, fixed clients and keys.
// Everything a test may rely on (client ids, secrets, paths) is defined here once.

import { readFileSync } from 'node:fs';

const keysDir = new URL('../keys/', import.meta.url);

/** The issuer string that external (third-party) subject tokens and assertions carry. */
export const EXTERNAL_ISSUER = 'https://external-idp.test';

/** The password every test user signs in with on the login form. */
export const DEMO_PASSWORD = 'demo';

/** The account AUTO_LOGIN=1 signs in as. */
export const AUTO_LOGIN_ACCOUNT = 'alice';

/** Callback paths accepted for loopback redirect URIs (any port, RFC 8252 section 7.3). */
export const CALLBACK_PATHS = ['/oauth2/callback', '/callback'];

export const GRANT_JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const GRANT_DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';

function loopbackRedirects() {
  const out = [];
  for (const host of ['127.0.0.1', 'localhost', '[::1]']) {
    for (const path of CALLBACK_PATHS) {
      out.push(`http://${host}${path}`);
    }
  }
  return out;
}

/** The fixed clients. Secrets are test-only values committed on purpose. */
export const CLIENTS = [
  {
    client_id: 'cc-basic',
    client_secret: 'cc-basic-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
  {
    client_id: 'cc-post',
    client_secret: 'cc-post-secret',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
  {
    // Public native client: authorization code + PKCE (S256, required), loopback
    // redirect URI on any port, refresh tokens (rotated on every use).
    client_id: 'code-public',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: loopbackRedirects(),
  },
  {
    // Confidential variant of the above (client_secret_basic), PKCE still required.
    client_id: 'code-confidential',
    client_secret: 'code-confidential-secret',
    application_type: 'native',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: loopbackRedirects(),
  },
  {
    client_id: 'device-public',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: [GRANT_DEVICE_CODE, 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  },
  {
    // private_key_jwt (RFC 7523 section 2.2): no secret; every request carries a
    // client_assertion signed with a key of keys/client-assertion.json (RS256 kid
    // pkjwt-rs256-1, ES256 kid pkjwt-es256-1; only the public halves are registered).
    client_id: 'pkjwt-client',
    application_type: 'native',
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: clientAssertionPublicJWKS(),
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token', GRANT_DEVICE_CODE],
    response_types: ['code'],
    redirect_uris: loopbackRedirects(),
  },
  {
    client_id: 'exchange-client',
    client_secret: 'exchange-client-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [GRANT_JWT_BEARER, GRANT_TOKEN_EXCHANGE],
    response_types: [],
    redirect_uris: [],
  },
];

function readJSON(name) {
  return JSON.parse(readFileSync(new URL(name, keysDir), 'utf8'));
}

/** The provider's fixed signing key set (private JWKs). */
export function signingJWKS() {
  return readJSON('signing.json');
}

function publicJWKS(name) {
  const { keys } = readJSON(name);
  return {
    keys: keys.map(({ d, p, q, dp, dq, qi, ...pub }) => pub),
  };
}

/** Public half of the external issuer's keys, as served at /test/external/jwks. */
export function externalPublicJWKS() {
  return publicJWKS('external.json');
}

/** Public half of pkjwt-client's keys (the private ones sign its client assertions). */
export function clientAssertionPublicJWKS() {
  return publicJWKS('client-assertion.json');
}

function envInt(env, name, def, min, max) {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return def;
  }
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new Error(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

function envBool(env, name, def) {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return def;
  }
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw new Error(`${name} must be 1 or 0, got ${JSON.stringify(raw)}`);
}

function envAudience(env) {
  const raw = env.GATEWAY_AUDIENCE || 'http://127.0.0.1/gateway';
  const parsed = URL.parse(raw);
  if (!parsed || parsed.hash) {
    throw new Error(`GATEWAY_AUDIENCE must be an absolute URI without fragment, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

/** Reads and validates the environment knobs; throws with a clear message on bad input. */
export function readSettings(env = process.env) {
  const day = 24 * 60 * 60;
  return {
    port: envInt(env, 'PORT', 0, 0, 65535),
    accessTokenTTL: envInt(env, 'ACCESS_TOKEN_TTL', 300, 1, 30 * day),
    refreshTokenTTL: envInt(env, 'REFRESH_TOKEN_TTL', day, 1, 365 * day),
    deviceCodeTTL: envInt(env, 'DEVICE_CODE_TTL', 600, 1, day),
    deviceInterval: envInt(env, 'DEVICE_INTERVAL', 5, 1, 600),
    autoLogin: envBool(env, 'AUTO_LOGIN', false),
    gatewayAudience: envAudience(env),
    resourceScopes: (env.RESOURCE_SCOPES || 'api:read api:write').split(/\s+/).filter(Boolean),
  };
}
