import {
  SetMetadata,
  UseGuards,
  applyDecorators,
  createParamDecorator,
  type ExecutionContext,
} from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { AccessTokenClaims } from '../tokens/access-tokens.service.js';
import { BearerTokenGuard } from './bearer-token.guard.js';
import {
  ADMIN_AUDIENCE,
  AUDIENCE_KEY,
  PERMISSIONS_KEY,
  type AudienceRequirement,
} from './auth-guards.constants.js';

export { ADMIN_AUDIENCE };

/** The `aud` a bearer token must carry for this controller or route. */
export const RequireAudience = (audience: AudienceRequirement) =>
  SetMetadata(AUDIENCE_KEY, audience);

/** Permissions (scopes) the bearer token must carry, all of them. */
export const RequirePermissions = (...permissions: string[]) =>
  SetMetadata(PERMISSIONS_KEY, permissions);

/** The verified claims of the caller's access token. */
export const Principal = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): AccessTokenClaims =>
    ctx.switchToHttp().getRequest<{ principal: AccessTokenClaims }>().principal,
);

/** Admin API routes: a bearer token for the admin audience with the `admin` permission. */
export const AdminApi = () =>
  applyDecorators(
    RequireAudience(ADMIN_AUDIENCE),
    RequirePermissions('admin'),
    UseGuards(BearerTokenGuard),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'Missing, invalid, expired or revoked bearer token.' }),
    ApiForbiddenResponse({ description: 'The token lacks the admin permission.' }),
  );
