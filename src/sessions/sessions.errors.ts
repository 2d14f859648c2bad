import { DomainError } from '../common/admin-errors.js';

export enum SessionsErrorCode {
  SignInRequired = 'sign_in_required',
  CsrfTokenInvalid = 'csrf_token_invalid',
}

export class SessionsError extends DomainError<SessionsErrorCode> {}
