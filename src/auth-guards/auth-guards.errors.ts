import { CommonErrorCode, DomainError } from '../common/admin-errors.js';

/** An RFC 6750 failure: carries the WWW-Authenticate challenge the response must include. */
export class BearerChallengeError extends DomainError<
  CommonErrorCode.Unauthenticated | CommonErrorCode.Forbidden
> {
  constructor(
    code: CommonErrorCode.Unauthenticated | CommonErrorCode.Forbidden,
    message: string,
    readonly challenge: string,
  ) {
    super(code, message);
  }
}
