// Koa middleware mounted in front of oidc-provider's own routes:
//   - the interaction pages (login form or AUTO_LOGIN, consent always granted),
//   - test-only observability routes under /test/,
//   - token-endpoint statistics,
//   - the device flow's `interval` and `slow_down` (RFC 8628 section 3.5), which
//     oidc-provider does not implement itself,
//   - strict client authentication methods (basic vs post),
//   - default scopes for authorization and device requests without `scope`.

import {
  AUTO_LOGIN_ACCOUNT,
  CLIENTS,
  DEMO_PASSWORD,
  GRANT_DEVICE_CODE,
  externalPublicJWKS,
} from './settings.mjs';
import { errorPage, loginPage } from './pages.mjs';

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const MAX_FORM_BYTES = 56 * 1024; // oidc-provider's own limit
const CLIENT_AUTH_PATHS = new Set(['/token', '/token/introspection', '/token/revocation', '/device/auth', '/request']);
const SLOW_DOWN_STEP = 5; // seconds, RFC 8628 section 3.5
const POLL_TOLERANCE_MS = 50;

function isForm(req) {
  return (req.headers['content-type'] || '').toLowerCase().startsWith('application/x-www-form-urlencoded');
}

async function readRaw(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) {
      throw Object.assign(new Error('form too large'), { status: 413 });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readForm(req) {
  if (!isForm(req)) {
    return new URLSearchParams();
  }
  return new URLSearchParams(await readRaw(req));
}

function basicClientId(header) {
  const [scheme, value] = (header || '').split(' ');
  if (scheme?.toLowerCase() !== 'basic' || !value) {
    return undefined;
  }
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i === -1) {
    return undefined;
  }
  try {
    return decodeURIComponent(decoded.slice(0, i).replaceAll('+', '%20'));
  } catch {
    return undefined;
  }
}

const OTHER_ENDPOINTS = new Map([
  ['/device/auth', 'device_authorization'],
  ['/token/revocation', 'revocation'],
  ['/token/introspection', 'introspection'],
]);

/**
 * oidc-provider refuses (access_denied) an authorization or device request that ends up
 * with no granted scope at all. Real identity providers apply default scopes instead;
 * so does this server: a request without `scope` gets the resource scopes. Returns
 * whether params was changed. Pushed requests (request_uri) are left alone.
 */
function withDefaultScope(params, settings) {
  if (params.get('scope')?.trim() || params.has('request_uri')) {
    return false;
  }
  params.set('scope', settings.resourceScopes.join(' '));
  return true;
}

const registeredAuthMethod = new Map(CLIENTS.map((c) => [c.client_id, c.token_endpoint_auth_method]));

/**
 * oidc-provider accepts client_secret_basic and client_secret_post interchangeably.
 * This server is stricter, so tests notice a client that uses the wrong one: it returns
 * the problem, or undefined when the request uses the registered method.
 */
function clientAuthMismatch(req, form) {
  const viaBasic = basicClientId(req.headers.authorization);
  if (viaBasic !== undefined && registeredAuthMethod.get(viaBasic) === 'client_secret_post') {
    return `client ${viaBasic} must authenticate with client_secret_post, not client_secret_basic`;
  }
  const viaPost = form.get('client_secret') ? form.get('client_id') : undefined;
  if (viaPost && registeredAuthMethod.get(viaPost) === 'client_secret_basic') {
    return `client ${viaPost} must authenticate with client_secret_basic, not client_secret_post`;
  }
  return undefined;
}

/** Parameters whose values a test must not be able to read back from /test/last-requests. */
const SECRET_PARAMS = new Set([
  'client_secret', 'code', 'code_verifier', 'refresh_token', 'device_code', 'assertion',
  'subject_token', 'actor_token', 'token',
]);

function decodeJWTPart(part) {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The parameters of the last request to each endpoint (authorization, device_authorization,
 * token, revocation, introspection, par), for tests that check what a client sent (extra
 * parameters, client assertions). Secret values are replaced by "[present]"; a
 * client_assertion is shown as its decoded header and claims, without the signature.
 * No global state: one per server.
 */
export class LastRequests {
  #byEndpoint = new Map();

  record(endpoint, params, req) {
    const out = { params: {}, basic: basicClientId(req.headers.authorization) !== undefined };
    for (const [key, value] of params) {
      let shown = SECRET_PARAMS.has(key) ? '[present]' : value;
      if (key === 'client_assertion') {
        const [header, claims] = value.split('.').slice(0, 2).map(decodeJWTPart);
        out.client_assertion = { header, claims };
        shown = '[present]';
      }
      (out.params[key] ||= []).push(shown);
    }
    this.#byEndpoint.set(endpoint, out);
  }

  toJSON() {
    return Object.fromEntries(this.#byEndpoint);
  }
}

/** Counts token-endpoint requests by grant_type and error code. No global state: one per server. */
export class Stats {
  #counts = new Map();

  add(key) {
    this.#counts.set(key, (this.#counts.get(key) || 0) + 1);
  }

  reset() {
    this.#counts.clear();
  }

  toJSON() {
    return Object.fromEntries([...this.#counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}

/**
 * Device-code polling state: the last poll time and the current interval per device
 * code. Entries are pruned once their device code must have expired.
 */
class PollTracker {
  #entries = new Map();

  constructor(interval, ttlSeconds) {
    this.interval = interval;
    this.ttlMs = ttlSeconds * 1000;
  }

  issued(deviceCode, now) {
    this.#prune(now);
    this.#entries.set(deviceCode, { last: undefined, interval: this.interval, created: now });
  }

  /** Records a poll arriving at now; returns true if it came too early. */
  poll(deviceCode, now) {
    let entry = this.#entries.get(deviceCode);
    if (!entry) {
      entry = { last: undefined, interval: this.interval, created: now };
      this.#entries.set(deviceCode, entry);
    }
    const early = entry.last !== undefined && now - entry.last < entry.interval * 1000 - POLL_TOLERANCE_MS;
    entry.last = now;
    return { early, entry };
  }

  #prune(now) {
    for (const [key, entry] of this.#entries) {
      if (now - entry.created > this.ttlMs + 60_000) {
        this.#entries.delete(key);
      }
    }
  }
}

function finishInteraction(provider, ctx, result) {
  return provider
    .interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false })
    .then((returnTo) => {
      ctx.status = 303;
      ctx.redirect(returnTo);
    });
}

async function grantConsent(provider, interaction) {
  const { prompt: { details }, params, session, grantId } = interaction;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (details.missingOIDCScope) {
    grant.addOIDCScope(details.missingOIDCScope.join(' '));
  }
  if (details.missingOIDCClaims) {
    grant.addOIDCClaims(details.missingOIDCClaims);
  }
  if (details.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  return grant.save();
}

function interactionRoutes(provider, settings) {
  const pattern = /^\/interaction\/([A-Za-z0-9_-]+)(\/login|\/abort)?$/;

  return async function interactions(ctx) {
    const [, uid, action] = ctx.path.match(pattern) || [];
    ctx.set('Cache-Control', 'no-store');
    if (!uid) {
      ctx.status = 404;
      return;
    }

    let interaction;
    try {
      interaction = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = errorPage({ error: 'invalid_request', error_description: `interaction not found: ${err.message}` });
      return;
    }
    if (interaction.uid !== uid) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = errorPage({ error: 'invalid_request', error_description: 'interaction mismatch' });
      return;
    }

    const { prompt, params } = interaction;

    if (ctx.method === 'GET' && !action) {
      if (prompt.name === 'login') {
        if (settings.autoLogin) {
          await finishInteraction(provider, ctx, { login: { accountId: AUTO_LOGIN_ACCOUNT } });
          return;
        }
        ctx.type = 'html';
        ctx.body = loginPage({ uid, clientId: params.client_id });
        return;
      }
      if (prompt.name === 'consent') {
        // Consent is granted automatically: the test users trust every test client.
        const grantId = await grantConsent(provider, interaction);
        await finishInteraction(provider, ctx, { consent: { grantId } });
        return;
      }
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = errorPage({ error: 'invalid_request', error_description: `unsupported prompt ${prompt.name}` });
      return;
    }

    if (ctx.method === 'POST' && action === '/login') {
      const form = await readForm(ctx.req);
      const login = (form.get('login') || '').trim();
      if (prompt.name !== 'login') {
        ctx.status = 400;
        ctx.type = 'html';
        ctx.body = errorPage({ error: 'invalid_request', error_description: 'no login pending' });
        return;
      }
      if (!USERNAME.test(login) || form.get('password') !== DEMO_PASSWORD) {
        ctx.status = 200;
        ctx.type = 'html';
        ctx.body = loginPage({ uid, clientId: params.client_id, login, error: 'Invalid user name or password.' });
        return;
      }
      await finishInteraction(provider, ctx, { login: { accountId: login } });
      return;
    }

    if (ctx.method === 'POST' && action === '/abort') {
      await finishInteraction(provider, ctx, {
        error: 'access_denied',
        error_description: 'End-User aborted interaction',
      });
      return;
    }

    ctx.status = 405;
  };
}

function testRoutes(stats, lastRequests) {
  const external = externalPublicJWKS();
  return async function test(ctx) {
    ctx.set('Cache-Control', 'no-store');
    if (ctx.method === 'GET' && ctx.path === '/test/stats') {
      ctx.body = stats.toJSON();
      return;
    }
    if (ctx.method === 'GET' && ctx.path === '/test/last-requests') {
      ctx.body = lastRequests.toJSON();
      return;
    }
    if (ctx.method === 'POST' && ctx.path === '/test/stats/reset') {
      stats.reset();
      ctx.status = 204;
      return;
    }
    if (ctx.method === 'GET' && ctx.path === '/test/external/jwks') {
      ctx.body = external;
      return;
    }
    ctx.status = 404;
    ctx.body = { error: 'not_found' };
  };
}

/** Installs all middleware on provider. */
export function installMiddleware(provider, settings, stats) {
  const interactions = interactionRoutes(provider, settings);
  const lastRequests = new LastRequests();
  const test = testRoutes(stats, lastRequests);
  const polls = new PollTracker(settings.deviceInterval, settings.deviceCodeTTL);

  provider.use(async (ctx, next) => {
    if (ctx.path.startsWith('/interaction/')) {
      return interactions(ctx);
    }
    if (ctx.path === '/test' || ctx.path.startsWith('/test/')) {
      return test(ctx);
    }

    const arrival = Date.now();
    if (ctx.method === 'GET' && ctx.path === '/auth') {
      const query = new URLSearchParams(ctx.querystring);
      lastRequests.record('authorization', query, ctx.req);
      if (withDefaultScope(query, settings)) {
        ctx.querystring = query.toString();
      }
    }

    let form = new URLSearchParams();
    let rejected = false;
    if (ctx.method === 'POST' && CLIENT_AUTH_PATHS.has(ctx.path) && isForm(ctx.req)) {
      // Read the body here (oidc-provider then uses ctx.request.body), so that the
      // statistics and the client authentication check see the parameters.
      form = new URLSearchParams(await readRaw(ctx.req));
      lastRequests.record(ctx.path === '/token' ? 'token' : OTHER_ENDPOINTS.get(ctx.path) || 'par', form, ctx.req);
      if (ctx.path === '/device/auth') {
        withDefaultScope(form, settings);
      }
      ctx.request.body = form.toString();
      const mismatch = clientAuthMismatch(ctx.req, form);
      if (mismatch) {
        rejected = true;
        ctx.status = 401;
        ctx.set('Cache-Control', 'no-store');
        if (ctx.get('authorization')) {
          ctx.set('WWW-Authenticate', 'Basic realm="token"');
        }
        ctx.body = { error: 'invalid_client', error_description: mismatch };
      }
    }
    if (!rejected) {
      await next();
    }

    if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body?.device_code) {
      ctx.body = { ...ctx.body, interval: settings.deviceInterval };
      polls.issued(ctx.body.device_code, arrival);
    }
    if (OTHER_ENDPOINTS.has(ctx.path) && ctx.method === 'POST') {
      stats.add(`endpoint:${OTHER_ENDPOINTS.get(ctx.path)}`);
      return;
    }
    if (ctx.path !== '/token' || ctx.method !== 'POST') {
      return;
    }

    const grantType = form.get('grant_type') || 'unknown';
    const deviceCode = form.get('device_code');
    if (grantType === GRANT_DEVICE_CODE && deviceCode) {
      const { early, entry } = polls.poll(deviceCode, arrival);
      // Only a pending answer becomes slow_down: a poll that found the code approved
      // has already consumed it, so its tokens must not be thrown away.
      if (early && ctx.status === 400 && ctx.body?.error === 'authorization_pending') {
        entry.interval += SLOW_DOWN_STEP;
        ctx.body = {
          error: 'slow_down',
          error_description: `polling too fast: wait at least ${entry.interval} seconds between requests`,
        };
      }
    }

    stats.add('total');
    stats.add(grantType);
    if (ctx.status >= 400 && ctx.body?.error) {
      stats.add(`error:${ctx.body.error}`);
    }
  });
}
