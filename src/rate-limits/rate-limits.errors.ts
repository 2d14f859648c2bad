import { DomainError } from '../common/admin-errors.js';

export enum RateLimitsErrorCode {
  /** A per-address request limit of a browser or JSON route was reached. */
  TooManyRequests = 'too_many_requests',
  /** Passkey sign-in is locked after repeated failed assertions. */
  SignInLocked = 'sign_in_locked',
}

/** A 429 on the Nest routes; the filters send `Retry-After` from `retryAfterSeconds`. */
export class RateLimitedError extends DomainError<RateLimitsErrorCode> {
  constructor(
    code: RateLimitsErrorCode,
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(code, message);
  }
}
