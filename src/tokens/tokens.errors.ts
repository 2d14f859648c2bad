import { DomainError } from '../common/admin-errors.js';

export enum TokensErrorCode {
  NoSigningKey = 'no_signing_key',
}

export class TokensError extends DomainError<TokensErrorCode> {}
