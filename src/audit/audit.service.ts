import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { logger } from '../common/logger.js';
import { currentRequest } from '../common/request-context.js';
import { AuditWriter, type AuditRow } from './audit-writer.js';

export type AuditEventType =
  | 'authorization_code.replayed'
  | 'refresh_token.reuse_detected'
  | 'client.registered'
  | 'client.registration_updated'
  | 'client.registration_deleted'
  | 'client.stale_removed'
  | 'token.exchanged'
  | 'token.issued'
  | 'token.revoked'
  | 'user.signed_in'
  | 'user.sign_in_failed'
  | 'user.signed_out'
  | 'session.revoked'
  | 'passkey.enrolled'
  | 'passkey.removed'
  | 'setup_link.issued'
  | 'consent.granted'
  | 'consent.revoked'
  | 'key.rotated'
  | 'key.revoked'
  | 'client.tokens_revoked'
  | 'client.created'
  | 'client.updated'
  | 'client.deleted'
  | 'client.secret_rotated'
  | 'user.created'
  | 'user.updated'
  | 'user.deleted'
  | 'role.created'
  | 'role.updated'
  | 'role.deleted'
  | 'resource.created'
  | 'resource.updated'
  | 'resource.deleted'
  | 'trusted_issuer.created'
  | 'trusted_issuer.updated'
  | 'trusted_issuer.deleted'
  | 'subject_link.created'
  | 'subject_link.deleted'
  | 'initial_access_token.created'
  | 'initial_access_token.revoked'
  | 'client.auth_locked'
  | 'passkey.sign_in_locked'
  | 'rate_limit.exceeded';

export type AuditActorType = 'user' | 'client' | 'system' | 'admin';

/** Who caused the event: a signed-in user, an OAuth client, an admin token's subject, or a job. */
export interface AuditActor {
  type: AuditActorType;
  id: string | null;
}

export type AuditJsonValue =
  string | number | boolean | null | AuditJsonValue[] | { [key: string]: AuditJsonValue };

export type AuditJson = { [key: string]: AuditJsonValue };

export interface AuditEvent {
  type: AuditEventType;
  clientId?: string | null;
  userId?: string | null;
  actor?: AuditActor;
  /** Ids and reasons only: never a token, code, secret, setup link or passkey public key. */
  details?: AuditJson;
  /** State of an administered object before and after the change; the same rules as details. */
  before?: AuditJson | null;
  after?: AuditJson | null;
  /** Normally taken from the request being served; set only to override it. */
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

/** Flush at least this often while events are queued. */
const FLUSH_INTERVAL_MS = 200;
/**
 * One INSERT carries at most this many events; a full batch is flushed at once. Batches are
 * written one after another, so this also bounds the rate the trail keeps up with: at 100 a
 * batch, a busy token endpoint (over 5,000 tokens a second) outran the writer and the queue
 * overflowed; 500 keeps up with several times that, in one statement of a few hundred KiB.
 */
const MAX_BATCH = 500;
/** Past this many unwritten events (PostgreSQL down for long) the oldest are dropped. */
const MAX_QUEUE = 10_000;

/**
 * The whole batch travels as one JSON array parameter: cheaper for the driver than a dozen
 * escaped array parameters or a parameter per value, and one statement whatever the batch size.
 */
const INSERT = `
  INSERT INTO audit_events
    (at, type, client_id, user_id, actor_type, actor_id, ip, user_agent, request_id,
     details, before, after)
  SELECT at, type, client_id, user_id, actor_type, actor_id, ip, user_agent, request_id,
    coalesce(details, '{}'), before, after
  FROM jsonb_to_recordset($1::jsonb) AS r(
    at timestamptz, type text, client_id text, user_id text, actor_type text, actor_id text,
    ip text, user_agent text, request_id text, details jsonb, before jsonb, after jsonb)`;

/**
 * Persists security events. `record` only queues: events are written in batches, one multi-row
 * INSERT at a time, so the request that caused an event never waits for (or fails because of)
 * the audit table. The request's own protective action (such as revoking a family) has already
 * run by then. Queued events are written before the application shuts down.
 */
@Injectable()
export class AuditService implements BeforeApplicationShutdown {
  private readonly writer: AuditWriter;

  constructor(dataSource: DataSource) {
    this.writer = new AuditWriter({
      flushIntervalMs: FLUSH_INTERVAL_MS,
      maxBatch: MAX_BATCH,
      maxQueue: MAX_QUEUE,
      insert: (rows) => insertRows(dataSource, rows),
      log: logger,
    });
  }

  /**
   * Queues one event. The request's ip, user agent and id are added from the request being
   * served; on an admin API request (authenticated by a bearer token) the actor defaults to
   * that token's subject. Fields set on the event win.
   */
  record(event: AuditEvent): void {
    const request = currentRequest();
    const subject = event.actor === undefined ? (request?.principalSubject ?? null) : null;
    const actor = event.actor ?? (subject === null ? undefined : { type: 'admin', id: subject });
    this.writer.enqueue({
      at: new Date().toISOString(),
      type: event.type,
      clientId: event.clientId ?? null,
      userId: event.userId ?? null,
      actorType: actor?.type ?? null,
      actorId: actor?.id ?? null,
      ip: bounded(event.ip !== undefined ? event.ip : (request?.ip ?? null), 64),
      userAgent: bounded(
        event.userAgent !== undefined ? event.userAgent : (request?.userAgent ?? null),
        512,
      ),
      requestId: bounded(
        event.requestId !== undefined ? event.requestId : (request?.requestId ?? null),
        128,
      ),
      // Serialised now, so a caller mutating its object afterwards cannot change the record.
      details: toJson(event.details ?? {}),
      before: event.before ? toJson(event.before) : null,
      after: event.after ? toJson(event.after) : null,
    });
  }

  /** Events queued and not yet written (the metrics' audit backlog). */
  get pending(): number {
    return this.writer.pending;
  }

  /** Events dropped because the queue was full, since start. */
  get dropped(): number {
    return this.writer.droppedCount;
  }

  /** Writes everything queued so far (tests and shutdown). */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.writer.close();
  }
}

/**
 * Within the column's CHECK and without NUL, which PostgreSQL text cannot hold: one bad value
 * (a long forwarded address, say) must not make the whole batch fail.
 */
function bounded(value: string | null, max: number): string | null {
  if (value === null) return null;
  const clean = value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
  return clean.length > max ? clean.slice(0, max) : clean;
}

/** JSON text for a jsonb column, which cannot hold NUL either (checked on the output: cheap). */
function toJson(value: AuditJson): string {
  const json = JSON.stringify(value);
  if (!json.includes('\\u0000')) return json;
  return JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'string' ? item.replaceAll('\u0000', '\uFFFD') : item,
  );
}

function insertRows(dataSource: DataSource, rows: readonly AuditRow[]): Promise<unknown> {
  // details/before/after are JSON text already: spliced in as JSON values, not re-encoded.
  const json = rows
    .map(
      (r) =>
        `{"at":${JSON.stringify(r.at)},"type":${JSON.stringify(r.type)},` +
        `"client_id":${JSON.stringify(r.clientId)},"user_id":${JSON.stringify(r.userId)},` +
        `"actor_type":${JSON.stringify(r.actorType)},"actor_id":${JSON.stringify(r.actorId)},` +
        `"ip":${JSON.stringify(r.ip)},"user_agent":${JSON.stringify(r.userAgent)},` +
        `"request_id":${JSON.stringify(r.requestId)},"details":${r.details},` +
        `"before":${r.before ?? 'null'},"after":${r.after ?? 'null'}}`,
    )
    .join(',');
  return dataSource.query(INSERT, [`[${json}]`]);
}

/**
 * An administered object's state for `before`/`after`: a JSON copy without the fields named in
 * `omit` (timestamps that change on every write, or anything secret-bearing). Callers pass
 * response DTOs, which already leave secrets and hashes out.
 */
export function auditSnapshot(value: object, omit: readonly string[] = []): AuditJson {
  const copy = JSON.parse(JSON.stringify(value)) as AuditJson;
  for (const key of omit) delete copy[key];
  return copy;
}
