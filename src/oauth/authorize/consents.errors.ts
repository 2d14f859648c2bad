import { DomainError } from '../../common/admin-errors.js';

export enum ConsentsErrorCode {
  ConsentNotFound = 'consent_not_found',
}

export class ConsentsError extends DomainError<ConsentsErrorCode> {}
