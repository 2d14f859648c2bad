import { DomainError } from '../common/admin-errors.js';

export enum TokensErrorCode {
  NoSigningKey = 'no_signing_key',
  KeyNotFound = 'key_not_found',
}

export class TokensError extends DomainError<TokensErrorCode> {}
