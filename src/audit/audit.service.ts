import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { logger } from '../common/logger.js';

export type AuditEventType =
  | 'authorization_code.replayed'
  | 'refresh_token.reuse_detected'
  | 'client.registered'
  | 'client.registration_updated'
  | 'client.registration_deleted'
  | 'client.stale_removed'
  | 'token.exchanged';

export interface AuditEvent {
  type: AuditEventType;
  clientId?: string | null;
  userId?: string | null;
  /** Ids and reasons only: never a token, code or secret. */
  details?: Record<string, string | number | boolean | null>;
}

/**
 * Persists security events. A failed write is logged and does not fail the request that
 * caused it: the request's own protective action (such as revoking a family) has already run.
 */
@Injectable()
export class AuditService {
  constructor(private readonly dataSource: DataSource) {}

  async record(event: AuditEvent): Promise<void> {
    try {
      await this.dataSource.query(
        `INSERT INTO audit_events (type, client_id, user_id, details) VALUES ($1, $2, $3, $4)`,
        [
          event.type,
          event.clientId ?? null,
          event.userId ?? null,
          JSON.stringify(event.details ?? {}),
        ],
      );
    } catch (err) {
      logger.error({ err, type: event.type }, 'could not write an audit event');
    }
  }
}
