import type { JWTPayload } from 'jose';

/**
 * Who a verified external token (a token-exchange subject_token) stands for. Produced only
 * after the signature and every claim check passed.
 */
export interface ExternalSubject {
  /** The trusted issuer's identifier: the token's `iss`, exactly as registered. */
  issuer: string;
  /** The token's `sub`, as the external issuer names the subject. */
  subject: string;
  /** The local user the subject maps to; null for an issuer with subject_mapping `external`. */
  userId: string | null;
  /** The token's `scope` claim split on spaces; [] when it has none. */
  scope: string[];
  /** The token's `exp`, in seconds since the epoch. */
  exp: number;
  /** Every verified claim of the token. */
  claims: JWTPayload;
}

/**
 * Why an external token was refused:
 * - `malformed_token`: not a JWT, or no usable `iss`;
 * - `untrusted_issuer`: no trusted issuer has that `iss`;
 * - `client_not_allowed`: the client is not in the issuer's allowed_client_ids;
 * - `keys_unavailable`: the issuer's jwks_uri could not be fetched or holds no public JWK set;
 * - `invalid_token`: signature, algorithm, iss, aud, exp/nbf or a required claim failed;
 * - `unmapped_subject`: the subject does not map to a local user (no link; no verified email,
 *   or no local user with that email);
 * - `user_disabled`: it maps to a disabled local user.
 */
export type TrustedIssuerRejectionReason =
  | 'malformed_token'
  | 'untrusted_issuer'
  | 'client_not_allowed'
  | 'keys_unavailable'
  | 'invalid_token'
  | 'unmapped_subject'
  | 'user_disabled';

/** Thrown by TrustedIssuersService.verify. The message may be logged; it never holds the token. */
export class TrustedIssuerRejected extends Error {
  constructor(
    readonly reason: TrustedIssuerRejectionReason,
    message: string = reason,
  ) {
    super(message);
    this.name = 'TrustedIssuerRejected';
  }
}
