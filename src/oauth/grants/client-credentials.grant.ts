import { Injectable } from '@nestjs/common';
import { AuditService } from '../../audit/audit.service.js';
import type { ClientRecord } from '../../clients/client-record.js';
import { InvalidScope, InvalidTarget, UnauthorizedClient } from '../../common/oauth-errors.js';
import { describeUndefined, scopesFor, undefinedScopes } from '../../resources/resource-server.js';
import { ResourcesService } from '../../resources/resources.service.js';
import { AccessTokensService } from '../../tokens/access-tokens.service.js';
import {
  isUserTier,
  parseScope,
  permissionsOfRoles,
  resolveScopes,
} from '../../users/permissions.js';
import type { GrantContext, TokenGrant, TokenResponse } from './token-grant.js';

export const CLIENT_CREDENTIALS = 'client_credentials';

/**
 * RFC 6749 §4.4. The token's subject is the client itself. Service-tier scopes come from what
 * an admin allowed; user-tier scopes only from service-account roles. No refresh token (§4.4.3).
 */
@Injectable()
export class ClientCredentialsGrant implements TokenGrant {
  readonly grantType = CLIENT_CREDENTIALS;
  readonly repeatable = new Set(['resource']);

  constructor(
    private readonly tokens: AccessTokensService,
    private readonly resources: ResourcesService,
    private readonly audit: AuditService,
  ) {}

  async handle({ client, form }: GrantContext): Promise<TokenResponse> {
    if (client.type !== 'confidential') {
      throw new UnauthorizedClient('public clients cannot use client_credentials');
    }
    // RFC 8707 §2: several resources are allowed, but one access token has one audience here.
    if (form.multi.has('resource')) {
      throw new InvalidTarget('request one resource per access token');
    }
    const target = this.resources.resolve(form.values.get('resource'));
    const held = grantableScopes(client);
    const scopeParam = form.values.get('scope');
    let requested: string[];
    if (scopeParam === undefined) {
      // RFC 6749 §3.3: without a scope, the default is everything the client may get (for the
      // resource: what it defines).
      requested = scopesFor(target, [...held]);
      if (requested.length === 0 && held.size > 0) {
        throw new InvalidScope('the client may request no scope the resource defines');
      }
    } else {
      const parsed = parseScope(scopeParam);
      if (parsed === null)
        throw new InvalidScope('scope is not a space-delimited list of scope tokens');
      // RFC 8707: a token for a resource carries only scopes that resource defines.
      const outside = undefinedScopes([target], parsed);
      if (outside.length > 0) throw new InvalidScope(describeUndefined([target], outside));
      requested = parsed;
    }
    const resolution = resolveScopes(requested, held);
    if (!resolution.ok) {
      throw new InvalidScope(
        resolution.denied.length > 0
          ? `the client may not request: ${resolution.denied.join(' ')}`
          : 'the client has no scope it may request',
      );
    }
    // `user` expands to every user-tier permission held; keep those the resource defines.
    const scope = scopesFor(target, resolution.scopes).join(' ');
    const issued = await this.tokens.issue({
      subject: client.id,
      clientId: client.id,
      audience: target.identifier,
      scope,
      ttlSeconds: target.accessTokenTtlSeconds ?? undefined,
      owner: client.ownerUserId,
    });
    this.audit.record({
      type: 'token.issued',
      clientId: client.id,
      actor: { type: 'client', id: client.id },
      details: {
        grant_type: CLIENT_CREDENTIALS,
        sub: issued.claims.sub,
        scope,
        audience: target.identifier,
        jti: issued.claims.jti,
      },
    });
    return {
      access_token: issued.token,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      scope,
    };
  }
}

/** The client's allowed service-tier scopes, plus the user-tier permissions of its service roles. */
function grantableScopes(client: ClientRecord): Set<string> {
  const held = permissionsOfRoles(client.serviceRoles);
  for (const scope of client.allowedScopes) if (!isUserTier(scope)) held.add(scope);
  return held;
}
