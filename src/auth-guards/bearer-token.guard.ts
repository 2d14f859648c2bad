import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { AppConfig } from '../config/app-config.js';
import { CommonErrorCode } from '../common/admin-errors.js';
import { AccessTokenRejected, AccessTokensService } from '../tokens/access-tokens.service.js';
import { BearerChallengeError } from './auth-guards.errors.js';
import {
  ADMIN_AUDIENCE,
  AUDIENCE_KEY,
  PERMISSIONS_KEY,
  type AudienceRequirement,
} from './auth-guards.constants.js';
import { PROTECTED_RESOURCE_METADATA_PATH } from '../common/routes.js';

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
 * and revocation, then the required permissions. Challenges name the RFC 9728 metadata.
 */
@Injectable()
export class BearerTokenGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: AccessTokensService,
    private readonly config: AppConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<IncomingMessage & { principal?: unknown }>();
    const targets = [context.getHandler(), context.getClass()];
    const audience = this.reflector.getAllAndOverride<AudienceRequirement | undefined>(
      AUDIENCE_KEY,
      targets,
    );
    const permissions =
      this.reflector.getAllAndOverride<string[] | undefined>(PERMISSIONS_KEY, targets) ?? [];
    const expected = audience === ADMIN_AUDIENCE ? this.config.audiences.admin : audience;
    const metadata = `resource_metadata="${this.config.issuer}${PROTECTED_RESOURCE_METADATA_PATH}"`;

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
}
