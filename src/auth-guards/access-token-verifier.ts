import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import {
  AccessTokenRejected,
  looksLikeJwt,
  rejectionReason,
  type AccessTokenClaims,
} from '../tokens/access-tokens.service.js';

/**
 * What the bearer guard needs from a token verifier. Inside Latchkey it is AccessTokensService
 * (in-process keys and revocation list); other Nest apps use RemoteAccessTokenVerifier. Both
 * throw AccessTokenRejected for a token that must not be accepted.
 */
export abstract class AccessTokenVerifier {
  abstract verify(token: string, options: { audience?: string }): Promise<AccessTokenClaims>;
}

export interface RemoteVerifierOptions {
  /** The Latchkey issuer, byte for byte as in its metadata (`iss`). */
  issuer: string;
  /** Its `jwks_uri`, e.g. `${issuer}/.well-known/jwks.json`. */
  jwksUri: string;
}

/** The algorithms Latchkey may sign access tokens with; never `none` or HMAC. */
const ALGORITHMS = ['ES256', 'EdDSA', 'RS256', 'PS256'];
/** Tolerated clock difference between Latchkey and this resource server, in seconds. */
const CLOCK_TOLERANCE_SECONDS = 5;

/**
 * Verifies RFC 9068 access tokens in another process, by Latchkey's published JWKS (fetched on
 * demand and cached by jose, refetched when an unknown `kid` appears after key rotation).
 * It checks signature, `typ: at+jwt`, `iss`, `aud` and `exp`. It cannot see Latchkey's
 * revocation list: a revoked token stays usable here until it expires, so keep access-token
 * lifetimes short for APIs that need faster revocation, or introspect (RFC 7662).
 */
export class RemoteAccessTokenVerifier extends AccessTokenVerifier {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;

  constructor(private readonly options: RemoteVerifierOptions) {
    super();
    this.jwks = createRemoteJWKSet(new URL(options.jwksUri));
  }

  async verify(token: string, options: { audience?: string }): Promise<AccessTokenClaims> {
    if (!looksLikeJwt(token)) throw new AccessTokenRejected('malformed');
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, this.jwks, {
        issuer: this.options.issuer,
        audience: options.audience,
        typ: 'at+jwt',
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['sub', 'exp', 'iat', 'jti', 'client_id'],
      }));
    } catch (err) {
      // An unreachable or broken JWKS is our failure, not the caller's token: a 500, not a 401.
      if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) throw err;
      if (err instanceof joseErrors.JWKSNoMatchingKey) throw new AccessTokenRejected('signature');
      if (!(err instanceof joseErrors.JOSEError)) throw err;
      throw new AccessTokenRejected(rejectionReason(err));
    }
    const claims = payload as AccessTokenClaims;
    if (typeof claims.jti !== 'string' || typeof claims.client_id !== 'string') {
      throw new AccessTokenRejected('malformed');
    }
    return claims;
  }
}
