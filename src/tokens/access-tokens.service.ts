import { Injectable } from '@nestjs/common';
import { CompactSign, errors as joseErrors, jwtVerify, type JWTHeaderParameters } from 'jose';
import { AppConfig } from '../config/app-config.js';
import { randomId } from '../common/crypto.js';
import { RevocationListService } from './revocation-list.service.js';
import { SigningKeysService } from './signing-keys.service.js';
import { TokenFamiliesService } from './token-families.service.js';

/** RFC 9068 §2.2 claims, plus Latchkey's `owner`, `act` and `sid`. */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  scope: string;
  owner?: string;
  act?: Record<string, unknown>;
  sid?: string;
}

export interface IssueAccessToken {
  subject: string;
  clientId: string;
  audience: string;
  scope: string;
  ttlSeconds?: number;
  owner?: string | null;
  /** The user's session id, for tokens issued to a person (claim `sid`). */
  sid?: string | null;
  /** The token family of a user grant: the token's jti is recorded there for revocation. */
  familyId?: string;
  /** RFC 8693 §4.1: the delegation chain of an exchanged token. */
  act?: Record<string, unknown>;
}

export interface IssuedAccessToken {
  token: string;
  claims: AccessTokenClaims;
  expiresIn: number;
}

export type TokenRejection =
  'malformed' | 'signature' | 'issuer' | 'audience' | 'expired' | 'revoked' | 'type';

export class AccessTokenRejected extends Error {
  constructor(readonly reason: TokenRejection) {
    super(`access token rejected: ${reason}`);
  }
}

const encoder = new TextEncoder();
/** Tolerated clock difference between nodes and verifiers, in seconds. */
const CLOCK_TOLERANCE_SECONDS = 5;

@Injectable()
export class AccessTokensService {
  constructor(
    private readonly config: AppConfig,
    private readonly keys: SigningKeysService,
    private readonly revocations: RevocationListService,
    private readonly families: TokenFamiliesService,
  ) {}

  /** Signs an RFC 9068 access token (`typ: at+jwt`) with the active access-token key. */
  async issue(input: IssueAccessToken): Promise<IssuedAccessToken> {
    const key = this.keys.activeKey('access_token');
    const iat = Math.floor(Date.now() / 1000);
    const expiresIn = input.ttlSeconds ?? this.config.tokens.accessTokenTtlSeconds;
    const claims: AccessTokenClaims = {
      iss: this.config.issuer,
      sub: input.subject,
      aud: input.audience,
      exp: iat + expiresIn,
      iat,
      jti: randomId(),
      client_id: input.clientId,
      scope: input.scope,
    };
    if (input.owner) claims.owner = input.owner;
    if (input.sid) claims.sid = input.sid;
    if (input.act) claims.act = input.act;
    const token = await new CompactSign(encoder.encode(JSON.stringify(claims)))
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .sign(key.privateKey);
    // User tokens are remembered in their family; client_credentials skips this round trip.
    // A family revoked meanwhile (a code replay or a sign-out racing this request) has the token
    // revoked at once by recordAccessToken. The response still goes out: to the client that is
    // the same as a revocation a moment later, and of concurrent redemptions exactly one wins.
    if (input.familyId !== undefined) {
      await this.families.recordAccessToken(input.familyId, claims.jti, claims.exp);
    }
    return { token, claims, expiresIn };
  }

  /**
   * Verifies an access token this server issued: signature by a published access-token key,
   * `typ`, `iss`, `exp`, the audience when one is expected, and the revocation list.
   * No database round trip.
   */
  async verify(
    token: string,
    options: { audience?: string; allowExpired?: boolean } = {},
  ): Promise<AccessTokenClaims> {
    if (!looksLikeJwt(token)) throw new AccessTokenRejected('malformed');
    let payload: unknown;
    try {
      const result = await jwtVerify(
        token,
        (header: JWTHeaderParameters) => this.resolveKey(header),
        {
          issuer: this.config.issuer,
          audience: options.audience,
          typ: 'at+jwt',
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['sub', 'exp', 'iat', 'jti', 'client_id'],
          currentDate: options.allowExpired ? new Date(0) : undefined,
        },
      );
      payload = result.payload;
    } catch (err) {
      throw new AccessTokenRejected(rejectionReason(err));
    }
    const claims = payload as AccessTokenClaims;
    if (typeof claims.jti !== 'string' || typeof claims.client_id !== 'string') {
      throw new AccessTokenRejected('malformed');
    }
    if (this.revocations.isRevoked(claims.jti)) throw new AccessTokenRejected('revoked');
    return claims;
  }

  /** Adds the token's `jti` to the revocation list until its `exp`. */
  async revoke(claims: AccessTokenClaims): Promise<void> {
    await this.revocations.revoke(claims.jti, claims.exp);
  }

  private resolveKey(header: JWTHeaderParameters) {
    const entry = header.kid ? this.keys.publicKey(header.kid) : undefined;
    // The key decides the algorithm: a header may not choose another (or `none`).
    if (!entry || entry.use !== 'access_token' || entry.alg !== header.alg) {
      throw new AccessTokenRejected('signature');
    }
    return entry.publicKey;
  }
}

/** A cheap shape check before any cryptography: three base64url parts, bounded length. */
export function looksLikeJwt(token: string): boolean {
  return token.length < 8192 && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

/** Maps a jose verification failure to the reason a resource server reports. */
export function rejectionReason(err: unknown): TokenRejection {
  if (err instanceof AccessTokenRejected) return err.reason;
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return 'issuer';
    if (err.claim === 'aud') return 'audience';
    if (err.claim === 'typ') return 'type';
    return 'malformed';
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature';
  return 'malformed';
}
