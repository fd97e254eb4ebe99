// Custom grant types: JWT bearer assertions (RFC 7523) and token exchange (RFC 8693).
// Both accept JWTs signed by an EXTERNAL issuer (keys/external.json, public half served
// at /test/external/jwks), verified with jose: signature, iss, aud, exp. Both issue a JWT
// access token for the gateway resource, whose subject is the external token's `sub`.

import { createLocalJWKSet, jwtVerify, errors as joseErrors } from 'jose';

import {
  EXTERNAL_ISSUER,
  GRANT_JWT_BEARER,
  GRANT_TOKEN_EXCHANGE,
  externalPublicJWKS,
} from './settings.mjs';

const TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
const TOKEN_TYPE_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const SUBJECT_TOKEN_TYPES = new Set([TOKEN_TYPE_JWT, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN]);

function oauthError(ErrorClass, description) {
  const err = new ErrorClass();
  // oidc-provider's InvalidGrant has a fixed generic description; tests and people
  // debugging a failing exchange deserve the actual reason.
  err.error_description = description;
  return err;
}

function describeJoseError(err) {
  if (err instanceof joseErrors.JWTExpired) return 'token is expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim "${err.claim}" is invalid: ${err.reason}`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no matching key in the external issuer JWKS';
  if (err instanceof joseErrors.JOSEError) return `${err.code}: ${err.message}`;
  return 'token is malformed';
}

/**
 * Registers the jwt-bearer and token-exchange grants on provider.
 * resolveResource(ctx, requested) returns {identifier, info} or throws InvalidTarget.
 */
export function registerExternalGrants(provider, { errors, resolveResource }) {
  const externalKeys = createLocalJWKSet(externalPublicJWKS());

  async function verifyExternal(ctx, jwt, what) {
    const tokenEndpoint = ctx.oidc.urlFor('token');
    try {
      const { payload } = await jwtVerify(jwt, externalKeys, {
        issuer: EXTERNAL_ISSUER,
        audience: [ctx.oidc.provider.issuer, tokenEndpoint, ctx.oidc.client.clientId],
        algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
        requiredClaims: ['exp', 'sub'],
        clockTolerance: 5,
      });
      if (typeof payload.sub !== 'string' || payload.sub === '') {
        throw oauthError(errors.InvalidGrant, `${what}: sub must be a non-empty string`);
      }
      return payload;
    } catch (err) {
      if (err instanceof errors.InvalidGrant) throw err;
      throw oauthError(errors.InvalidGrant, `${what} rejected: ${describeJoseError(err)}`);
    }
  }

  async function issue(ctx, { subject, gty, requestedResource }) {
    const { client, params } = ctx.oidc;
    const { identifier, info } = await resolveResource(ctx, requestedResource);
    const resourceServer = new provider.ResourceServer(identifier, info);

    const requested = (params.scope || '').split(' ').filter(Boolean);
    const scope = requested.filter((s) => resourceServer.scopes.has(s)).join(' ');

    const grant = new provider.Grant({ accountId: subject, clientId: client.clientId });
    if (scope) grant.addResourceScope(identifier, scope);
    const grantId = await grant.save();

    const at = new provider.AccessToken({
      accountId: subject,
      client,
      grantId,
      gty,
      scope: scope || undefined,
    });
    at.resourceServer = resourceServer;
    ctx.oidc.entity('AccessToken', at);
    const value = await at.save();

    return {
      access_token: value,
      token_type: at.tokenType,
      expires_in: at.expiration,
      ...(scope ? { scope } : undefined),
    };
  }

  provider.registerGrantType(
    GRANT_JWT_BEARER,
    async (ctx) => {
      const { assertion, resource } = ctx.oidc.params;
      if (!assertion) {
        throw new errors.InvalidRequest('missing required parameter: assertion');
      }
      const claims = await verifyExternal(ctx, assertion, 'assertion');
      ctx.body = await issue(ctx, { subject: claims.sub, gty: 'jwt-bearer', requestedResource: resource });
    },
    ['assertion', 'scope', 'resource'],
  );

  provider.registerGrantType(
    GRANT_TOKEN_EXCHANGE,
    async (ctx) => {
      const {
        subject_token: subjectToken,
        subject_token_type: subjectTokenType,
        actor_token: actorToken,
        requested_token_type: requestedTokenType,
        audience,
        resource,
      } = ctx.oidc.params;
      if (!subjectToken) {
        throw new errors.InvalidRequest('missing required parameter: subject_token');
      }
      if (!subjectTokenType) {
        throw new errors.InvalidRequest('missing required parameter: subject_token_type');
      }
      if (!SUBJECT_TOKEN_TYPES.has(subjectTokenType)) {
        throw new errors.InvalidRequest(`unsupported subject_token_type ${subjectTokenType}`);
      }
      if (actorToken) {
        throw new errors.InvalidRequest('actor_token (delegation) is not supported by this server');
      }
      if (requestedTokenType && requestedTokenType !== TOKEN_TYPE_ACCESS_TOKEN) {
        throw new errors.InvalidRequest(`unsupported requested_token_type ${requestedTokenType}`);
      }
      const claims = await verifyExternal(ctx, subjectToken, 'subject_token');
      ctx.body = {
        ...(await issue(ctx, {
          subject: claims.sub,
          gty: 'token-exchange',
          requestedResource: resource || audience,
        })),
        issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      };
    },
    [
      'subject_token',
      'subject_token_type',
      'actor_token',
      'actor_token_type',
      'requested_token_type',
      'audience',
      'resource',
      'scope',
    ],
  );
}
