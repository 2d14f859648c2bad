import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { CommonErrorCode } from '../common/admin-errors.js';
import { AccessTokenRejected } from '../tokens/access-tokens.service.js';
import { AccessTokenVerifier } from './access-token-verifier.js';
import { BearerChallengeError } from './auth-guards.errors.js';
import {
  ADMIN_AUDIENCE,
  AUDIENCE_KEY,
  PERMISSIONS_KEY,
  type AudienceRequirement,
} from './auth-guards.constants.js';
import { BEARER_GUARD_OPTIONS, type BearerGuardOptions } from './auth-guards.options.js';

const DESCRIPTIONS: Record<AccessTokenRejected['reason'], string> = {
  malformed: 'the access token is malformed',
  signature: 'the access token signature is not valid',
  issuer: 'the access token was issued by another issuer',
  audience: 'the access token is not meant for this API',
  expired: 'the access token has expired',
  revoked: 'the access token has been revoked',
  type: 'the token is not an access token',
};

/**
 * RFC 6750 bearer authentication for resource servers: signature, `typ`, `iss`, `aud`, `exp`
 * and revocation (where the verifier can see it), then the required permissions. Challenges
 * name the RFC 9728 metadata. The verifier and options come from AuthGuardsModule: in-process
 * inside Latchkey, by JWKS in other apps (AuthGuardsModule.forResourceServer).
 */
@Injectable()
export class BearerTokenGuard implements CanActivate {
  private readonly metadata: string;

  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: AccessTokenVerifier,
    @Inject(BEARER_GUARD_OPTIONS) private readonly options: BearerGuardOptions,
  ) {
    this.metadata = `resource_metadata="${options.resourceMetadataUrl}"`;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<IncomingMessage & { principal?: unknown }>();
    const targets = [context.getHandler(), context.getClass()];
    const audience = this.reflector.getAllAndOverride<AudienceRequirement | undefined>(
      AUDIENCE_KEY,
      targets,
    );
    const permissions =
      this.reflector.getAllAndOverride<string[] | undefined>(PERMISSIONS_KEY, targets) ?? [];
    const expected = this.expectedAudience(audience);
    const metadata = this.metadata;

    const header = request.headers.authorization;
    const match = header === undefined ? null : /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
    if (!match) {
      throw new BearerChallengeError(
        CommonErrorCode.Unauthenticated,
        header === undefined
          ? 'a bearer token is required'
          : 'the Authorization header is not a bearer token',
        header === undefined ? `Bearer ${metadata}` : `Bearer error="invalid_request", ${metadata}`,
      );
    }
    try {
      const claims = await this.tokens.verify(match[1], { audience: expected });
      const held = new Set(claims.scope?.split(' ') ?? []);
      const missing = permissions.filter((permission) => !held.has(permission));
      if (missing.length > 0) {
        throw new BearerChallengeError(
          CommonErrorCode.Forbidden,
          `the access token lacks the ${missing.join(', ')} permission`,
          `Bearer error="insufficient_scope", scope="${permissions.join(' ')}", ${metadata}`,
        );
      }
      request.principal = claims;
      return true;
    } catch (err) {
      if (!(err instanceof AccessTokenRejected)) throw err;
      const description = DESCRIPTIONS[err.reason];
      throw new BearerChallengeError(
        CommonErrorCode.Unauthenticated,
        description,
        `Bearer error="invalid_token", error_description="${description}", ${metadata}`,
      );
    }
  }

  private expectedAudience(audience: AudienceRequirement | undefined): string | undefined {
    if (audience === undefined) return this.options.defaultAudience ?? undefined;
    if (audience !== ADMIN_AUDIENCE) return audience;
    // A programming error, not a caller's: ADMIN_AUDIENCE means nothing outside Latchkey.
    if (this.options.adminAudience === null) throw new Error('ADMIN_AUDIENCE is not configured');
    return this.options.adminAudience;
  }
}
