#!/usr/bin/env node
// Test authorization server for opencode-oauth2: npm oidc-provider (OpenID Certified)
// configured by our own code, listening on 127.0.0.1 only. See README.md next to it.
//
// stdout carries exactly one line, `listening <issuer>`, once the server accepts
// connections; everything else goes to stderr. The process exits on SIGTERM/SIGINT and,
// when stdin is a pipe, when stdin closes (so a test that dies leaves no orphan).

import { fstatSync } from 'node:fs';
import { createServer } from 'node:http';

// oidc-provider prints notices with console.info (stdout); stdout is reserved for the
// `listening` line, so route all console output to stderr before loading it.
const toStderr = console.error.bind(console);
for (const method of ['log', 'info', 'debug']) {
  console[method] = toStderr;
}
// lib/middleware.mjs reads token-endpoint bodies itself, on purpose; oidc-provider's
// warning about it would only mislead someone reading the logs.
console.warn = (...args) => {
  if (!String(args[0]).includes('already parsed request body detected')) {
    toStderr(...args);
  }
};

const { default: Provider, errors } = await import('oidc-provider');
const { readSettings } = await import('./lib/settings.mjs');
const { buildConfiguration, resourceServerInfo } = await import('./lib/config.mjs');
const { registerExternalGrants } = await import('./lib/grants.mjs');
const { installMiddleware, Stats } = await import('./lib/middleware.mjs');

function fail(message) {
  console.error(`authserver: ${message}`);
  process.exit(2);
}

let settings;
try {
  settings = readSettings();
} catch (err) {
  fail(err.message);
}

const server = createServer();
server.keepAliveTimeout = 5_000;
server.headersTimeout = 10_000;
server.requestTimeout = 30_000;

let shuttingDown = false;
function shutdown(reason) {
  if (shuttingDown) return;
  shuttingDown = true;
  console.error(`authserver: shutting down (${reason})`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  // Never linger: exit even if a connection refuses to close.
  setTimeout(() => process.exit(0), 2_000).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

function stdinIsPipe() {
  try {
    const st = fstatSync(0);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

if (stdinIsPipe()) {
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('close', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.on('data', () => {}); // drain; the content is ignored
  process.stdin.resume();
}

server.on('error', (err) => fail(`cannot listen: ${err.message}`));

server.listen(settings.port, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, buildConfiguration(settings, { errors }));
  provider.on('server_error', (ctx, err) => console.error('authserver: server_error', err));

  registerExternalGrants(provider, {
    errors,
    async resolveResource(ctx, requested) {
      const identifier = requested || settings.gatewayAudience;
      if (Array.isArray(identifier)) {
        throw new errors.InvalidTarget('only a single resource indicator is supported');
      }
      const info = resourceServerInfo(settings, identifier);
      if (!info) {
        throw new errors.InvalidTarget(`unknown resource indicator ${identifier}`);
      }
      return { identifier, info };
    },
  });

  installMiddleware(provider, settings, new Stats());
  server.on('request', provider.callback());

  console.error(`authserver: issuer ${issuer}, audience ${settings.gatewayAudience}, `
    + `access token ttl ${settings.accessTokenTTL}s, device interval ${settings.deviceInterval}s, `
    + `auto login ${settings.autoLogin ? 'on' : 'off'}`);
  process.stdout.write(`listening ${issuer}\n`);
});
