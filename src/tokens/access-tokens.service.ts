import { Injectable } from '@nestjs/common';
import { errors as joseErrors } from 'jose';
import { AppConfig } from '../config/app-config.js';
import { randomId } from '../common/crypto.js';
import { MAX_RESOURCE_TOKEN_TTL_SECONDS } from '../resources/resource-server.js';
import { RevocationListService } from './revocation-list.service.js';
import { LRUCache } from 'lru-cache';
import {
  JwsRejected,
  decodeVerifiedCompact,
  signCompact,
  verifyCompact,
  type JwsHeader,
} from './jws.js';
import { SigningKeysService, type PublicKeyEntry } from './signing-keys.service.js';
import type { RecordedAccessToken } from './refresh-tokens.service.js';
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
  /** The jti the refresh rotation already recorded in `familyId`: the token uses it. */
  recorded?: RecordedAccessToken;
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

/** Tolerated clock difference between nodes and verifiers, in seconds. */
const CLOCK_TOLERANCE_SECONDS = 5;
/**
 * Tokens whose signature this process verified, with the key entry that verified it. Resource
 * servers introspect the same token on every call they serve; an ECDSA verification costs far
 * more than the rest of an introspection. About 1 KiB an entry.
 */
const VERIFIED_TOKENS_MAX = 10_000;

@Injectable()
export class AccessTokensService {
  private readonly verifiedTokens = new LRUCache<string, PublicKeyEntry>({
    max: VERIFIED_TOKENS_MAX,
  });

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
      jti: input.recorded?.jti ?? randomId(),
      client_id: input.clientId,
      scope: input.scope,
    };
    if (input.owner) claims.owner = input.owner;
    if (input.sid) claims.sid = input.sid;
    if (input.act) claims.act = input.act;
    const token = signCompact(
      { alg: key.alg, kid: key.kid, typ: 'at+jwt' },
      claims,
      key.privateKey,
    );
    // User tokens are remembered in their family; client_credentials skips this round trip.
    // A family revoked meanwhile (a code replay or a sign-out racing this request) has the token
    // revoked at once by recordAccessToken. The response still goes out: to the client that is
    // the same as a revocation a moment later, and of concurrent redemptions exactly one wins.
    if (input.recorded !== undefined) {
      if (claims.exp > input.recorded.exp) {
        await this.families.extendRecordedAccessToken(claims.jti, claims.exp);
      }
    } else if (input.familyId !== undefined) {
      await this.families.recordAccessToken(input.familyId, claims.jti, claims.exp);
    }
    return { token, claims, expiresIn };
  }

  /**
   * Verifies an access token this server issued: signature by a published access-token key,
   * `typ`, `iss`, `exp`, the audience when one is expected, and the revocation list.
   * No database round trip.
   */
  verify(
    token: string,
    options: { audience?: string; allowExpired?: boolean } = {},
  ): Promise<AccessTokenClaims> {
    // Synchronous work (node:crypto), still a promise for its callers: a refusal is a rejection.
    return new Promise((resolve) => resolve(this.verifyNow(token, options)));
  }

  private verifyNow(
    token: string,
    options: { audience?: string; allowExpired?: boolean },
  ): AccessTokenClaims {
    if (!looksLikeJwt(token)) throw new AccessTokenRejected('malformed');
    let verified: ReturnType<typeof verifyCompact>;
    try {
      verified = this.verifySignature(token);
    } catch (err) {
      throw new AccessTokenRejected(err instanceof JwsRejected ? err.reason : rejectionReason(err));
    }
    const payload = verified.payload;
    checkClaims(verified.header.typ, payload, {
      issuer: this.config.issuer,
      audience: options.audience,
      now: options.allowExpired ? 0 : Math.floor(Date.now() / 1000),
    });
    const claims = payload as unknown as AccessTokenClaims;
    if (typeof claims.jti !== 'string' || typeof claims.client_id !== 'string') {
      throw new AccessTokenRejected('malformed');
    }
    if (
      this.revocations.isRevoked(claims.jti) ||
      this.revocations.isRevokedForClient(claims.client_id, claims.iat)
    ) {
      throw new AccessTokenRejected('revoked');
    }
    return claims;
  }

  /** Adds the token's `jti` to the revocation list until its `exp`. */
  async revoke(claims: AccessTokenClaims): Promise<void> {
    await this.revocations.revoke(claims.jti, claims.exp);
  }

  /**
   * Revokes every access token issued to the client up to now (a compromised or deleted
   * client), on every node. Returns the cutoff: tokens with an `iat` at or before it are dead.
   */
  async revokeAllForClient(clientId: string): Promise<Date> {
    const t = this.config.tokens;
    const longest = Math.max(
      t.accessTokenTtlSeconds,
      this.config.sessions.anonymousTokenTtlSeconds,
      MAX_RESOURCE_TOKEN_TTL_SECONDS,
    );
    return new Date((await this.revocations.revokeClient(clientId, longest)) * 1000);
  }

  /**
   * The signature check, skipped for the very same token string verified before with a key
   * entry that is still the published one: a reload replaces every entry, so a key that left
   * the JWKS (or was replaced) makes its tokens verify again, and fail. Claims, expiry and
   * revocation are still checked on every call.
   */
  private verifySignature(token: string): ReturnType<typeof verifyCompact> {
    const known = this.verifiedTokens.get(token);
    if (known !== undefined && this.keys.publicKey(known.kid) === known) {
      return decodeVerifiedCompact(token);
    }
    let entry: PublicKeyEntry | undefined;
    const verified = verifyCompact(token, (header) => {
      entry = this.resolveKey(header);
      return entry.publicKey;
    });
    if (entry !== undefined) this.verifiedTokens.set(token, entry);
    return verified;
  }

  private resolveKey(header: JwsHeader): PublicKeyEntry {
    const entry = header.kid ? this.keys.publicKey(header.kid) : undefined;
    // The key decides the algorithm: a header may not choose another (or `none`).
    if (!entry || entry.use !== 'access_token' || entry.alg !== header.alg) {
      throw new AccessTokenRejected('signature');
    }
    return entry;
  }
}

/** A cheap shape check before any cryptography: three base64url parts, bounded length. */
export function looksLikeJwt(token: string): boolean {
  return token.length < 8192 && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

/** Claims every access token must carry (RFC 9068 §2.2), besides `iss` and (when expected) `aud`. */
const REQUIRED_CLAIMS = ['sub', 'exp', 'iat', 'jti', 'client_id'];

/**
 * RFC 9068 §4 validation of a verified token's header `typ` and claims, in the order and with
 * the outcomes of a JOSE library's JWT validation: `typ` (media type, case-insensitive, RFC
 * 7515 §4.1.9), presence, `iss`, `aud`, then the NumericDate claims with CLOCK_TOLERANCE_SECONDS.
 */
function checkClaims(
  typ: unknown,
  claims: Record<string, unknown>,
  expected: { issuer: string; audience: string | undefined; now: number },
): void {
  if (typeof typ !== 'string' || mediaType(typ) !== mediaType('at+jwt')) {
    throw new AccessTokenRejected('type');
  }
  const present = (claim: string) => Object.hasOwn(claims, claim);
  if (!present('iss')) throw new AccessTokenRejected('issuer');
  if (expected.audience !== undefined && !present('aud')) throw new AccessTokenRejected('audience');
  if (!REQUIRED_CLAIMS.every(present)) throw new AccessTokenRejected('malformed');
  if (claims.iss !== expected.issuer) throw new AccessTokenRejected('issuer');
  if (expected.audience !== undefined) {
    const aud = claims.aud;
    const listed =
      typeof aud === 'string'
        ? aud === expected.audience
        : Array.isArray(aud) && aud.includes(expected.audience);
    if (!listed) throw new AccessTokenRejected('audience');
  }
  const numeric = (claim: string): number | undefined => {
    const value = claims[claim];
    if (value === undefined) return undefined;
    if (typeof value !== 'number') throw new AccessTokenRejected('malformed');
    return value;
  };
  numeric('iat');
  const nbf = numeric('nbf');
  if (nbf !== undefined && nbf > expected.now + CLOCK_TOLERANCE_SECONDS) {
    throw new AccessTokenRejected('malformed');
  }
  const exp = numeric('exp');
  if (exp !== undefined && exp <= expected.now - CLOCK_TOLERANCE_SECONDS) {
    throw new AccessTokenRejected('expired');
  }
}

/** RFC 7515 §4.1.9: `typ` may omit the `application/` prefix. */
function mediaType(value: string): string {
  const lower = value.toLowerCase();
  return value.includes('/') ? lower : `application/${lower}`;
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
