import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { AppConfig } from '../config/app-config.js';
import { signCompact } from './jws.js';
import { SigningKeysService } from './signing-keys.service.js';

/** What an ID token may say about the user; UsersService's UserRecord fits this shape. */
export interface IdTokenUser {
  id: string;
  email: string;
  emailVerified: boolean;
  displayName: string;
}

export interface IssueIdToken {
  user: IdTokenUser;
  clientId: string;
  /** The granted scope: `email` and `profile` decide which user claims appear. */
  scope: string;
  sessionId: string | null;
  authTime: Date | null;
  amr: readonly string[];
  /** From the authorization request; never repeated on refresh (OIDC Core §12.2). */
  nonce: string | null;
  /** The access token issued alongside, for `at_hash`. */
  accessToken: string;
}

/** OIDC Core §2 claims, plus the standard claims of the `email` and `profile` scopes (§5.4). */
export interface IdTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  azp: string;
  exp: number;
  iat: number;
  auth_time?: number;
  nonce?: string;
  amr?: string[];
  sid?: string;
  at_hash: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
}

/** OpenID Connect ID tokens, signed with the active `id_token` key (RS256 by default). */
@Injectable()
export class IdTokensService {
  constructor(
    private readonly config: AppConfig,
    private readonly keys: SigningKeysService,
  ) {}

  issue(input: IssueIdToken): string {
    const key = this.keys.activeKey('id_token');
    const iat = Math.floor(Date.now() / 1000);
    const claims: IdTokenClaims = {
      iss: this.config.issuer,
      sub: input.user.id,
      aud: input.clientId,
      // OIDC Core §2: azp is the party the token was issued to; with one audience it repeats it.
      azp: input.clientId,
      exp: iat + this.config.tokens.idTokenTtlSeconds,
      iat,
      at_hash: accessTokenHash(input.accessToken),
    };
    if (input.authTime) claims.auth_time = Math.floor(input.authTime.getTime() / 1000);
    if (input.nonce !== null) claims.nonce = input.nonce;
    if (input.amr.length > 0) claims.amr = [...input.amr];
    if (input.sessionId !== null) claims.sid = input.sessionId;
    const scopes = new Set(input.scope.split(' '));
    if (scopes.has('email')) {
      claims.email = input.user.email;
      claims.email_verified = input.user.emailVerified;
    }
    if (scopes.has('profile')) claims.name = input.user.displayName;
    return signCompact({ alg: key.alg, kid: key.kid, typ: 'JWT' }, claims, key.privateKey);
  }
}

/**
 * OIDC Core §3.1.3.6 `at_hash`: the left half of the hash of the access token's ASCII octets,
 * base64url. Every supported ID-token algorithm (RS256, PS256, ES256) uses SHA-256.
 */
export function accessTokenHash(accessToken: string): string {
  const digest = createHash('sha256').update(accessToken, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}
