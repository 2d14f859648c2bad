import { DomainError } from '../common/admin-errors.js';

export enum TrustedIssuersErrorCode {
  TrustedIssuerNotFound = 'trusted_issuer_not_found',
  InvalidTrustedIssuer = 'invalid_trusted_issuer',
  TrustedIssuerTaken = 'trusted_issuer_taken',
  InvalidCursor = 'invalid_trusted_issuer_cursor',
  LinkUserNotFound = 'link_user_not_found',
  SubjectLinkNotFound = 'subject_link_not_found',
}

export class TrustedIssuersError extends DomainError<TrustedIssuersErrorCode> {}
