import { DomainError } from '../common/admin-errors.js';

export enum AuditErrorCode {
  InvalidFilter = 'invalid_audit_filter',
  InvalidCursor = 'invalid_audit_cursor',
  AuditEventNotFound = 'audit_event_not_found',
}

export class AuditError extends DomainError<AuditErrorCode> {}
