// oidc-provider configuration for the test authorization server.

import { CLIENTS, signingJWKS } from './settings.mjs';
import {
  deviceConfirmPage,
  deviceInputPage,
  deviceSuccessPage,
  errorPage,
  logoutPage,
  logoutSuccessPage,
} from './pages.mjs';

function isLoopbackResource(identifier) {
  const url = URL.parse(identifier);
  return !!url && ['http:', 'https:'].includes(url.protocol)
    && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

/**
 * Returns the resource server description for identifier, or undefined if the server
 * does not know it. Known: GATEWAY_AUDIENCE and any http(s) URL on a loopback host.
 */
export function resourceServerInfo(settings, identifier) {
  if (identifier !== settings.gatewayAudience && !isLoopbackResource(identifier)) {
    return undefined;
  }
  return {
    scope: settings.resourceScopes.join(' '),
    audience: identifier,
    accessTokenFormat: 'jwt',
    accessTokenTTL: settings.accessTokenTTL,
    jwt: { sign: { alg: 'RS256' } },
  };
}

export function buildConfiguration(settings, { errors }) {
  const getResourceServerInfo = (ctx, identifier) => {
    const info = resourceServerInfo(settings, identifier);
    if (!info) {
      throw new errors.InvalidTarget(`unknown resource indicator ${identifier}`);
    }
    return info;
  };

  return {
    clients: CLIENTS,
    responseTypes: ['code'],
    jwks: signingJWKS(),
    cookies: {
      // Test-only cookie signing key, committed on purpose.
      keys: ['opencode-oauth2-test-stack-cookie-key'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    async findAccount(ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            name: sub.charAt(0).toUpperCase() + sub.slice(1),
            preferred_username: sub,
            email: `${sub}@example.test`,
            email_verified: true,
          };
        },
      };
    },
    pkce: {
      // S256 is the only method oidc-provider supports; require it for every client.
      required: () => true,
    },
    // Every client allowed the refresh_token grant gets a refresh token, whether or not
    // offline_access survived (oidc-provider drops it unless prompt=consent).
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    // Rotate on every use; reusing a rotated refresh token revokes the whole grant.
    rotateRefreshToken: () => true,
    ttl: {
      AccessToken: () => settings.accessTokenTTL,
      ClientCredentials: () => settings.accessTokenTTL,
      IdToken: () => settings.accessTokenTTL,
      RefreshToken: () => settings.refreshTokenTTL,
      DeviceCode: () => settings.deviceCodeTTL,
      AuthorizationCode: () => 60,
      Interaction: () => 600,
      Session: () => 24 * 60 * 60,
      Grant: () => Math.max(settings.refreshTokenTTL, 24 * 60 * 60) * 2,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => client.clientAuthMethod !== 'none'
          || token.clientId === client.clientId,
      },
      revocation: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none') return false;
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        },
      },
      deviceFlow: {
        enabled: true,
        async userCodeInputSource(ctx, form, out, err) {
          ctx.type = 'html';
          ctx.body = deviceInputPage(form, err);
        },
        async userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
          ctx.type = 'html';
          ctx.body = deviceConfirmPage(form, client.clientName || client.clientId, userCode);
        },
        async successSource(ctx) {
          const { client } = ctx.oidc;
          ctx.type = 'html';
          ctx.body = deviceSuccessPage(client.clientName || client.clientId);
        },
      },
      resourceIndicators: {
        enabled: true,
        // The gateway is the default audience, so every grant yields a JWT access token.
        defaultResource: async (ctx, client, oneOf) => oneOf ?? settings.gatewayAudience,
        useGrantedResource: async () => true,
        getResourceServerInfo,
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = logoutPage(form, ctx.host);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = logoutSuccessPage();
        },
      },
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = errorPage(out);
    },
  };
}
