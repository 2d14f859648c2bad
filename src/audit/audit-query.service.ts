import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { cursorTimeSql, decodeCursor, encodeCursor } from '../common/pagination.js';
import { returnedRows } from '../database/query-result.js';
import { AuditError, AuditErrorCode } from './audit.errors.js';
import type { AuditEventQueryDto } from './dto/audit-event-query.dto.js';
import type {
  AuditEventResponseDto,
  AuditEventListResponseDto,
} from './dto/audit-event-response.dto.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A dotted event type, or a prefix of one ending in `.*`. */
const TYPE_FILTER = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$/;
const MAX_TYPES = 20;
/** RFC 3339 §5.6 date-time. Date.parse alone accepts many other forms. */
const RFC3339 =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

interface AuditEventRow {
  id: string;
  cursor_at: string;
  type: string;
  actor_type: 'user' | 'client' | 'system' | 'admin' | null;
  actor_id: string | null;
  client_id: string | null;
  user_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: Record<string, unknown>;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

const COLUMNS = `id, ${cursorTimeSql('at')} AS cursor_at, type, actor_type, actor_id, client_id,
  user_id, ip, user_agent, request_id, details, before, after`;

/** Reads the audit trail for the admin API: newest first, keyset-paginated on (at, id). */
@Injectable()
export class AuditQueryService {
  constructor(private readonly dataSource: DataSource) {}

  async list(query: AuditEventQueryDto): Promise<AuditEventListResponseDto> {
    const limit = query.limit ?? 50;
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };

    if (query.type !== undefined) {
      const { exact, prefixes } = parseTypes(query.type);
      const alternatives: string[] = [];
      if (exact.length > 0) alternatives.push(`type = ANY(${param(exact)}::text[])`);
      if (prefixes.length > 0) alternatives.push(`type LIKE ANY(${param(prefixes)}::text[])`);
      where.push(`(${alternatives.join(' OR ')})`);
    }
    for (const column of ['actor_id', 'client_id', 'user_id', 'ip', 'request_id'] as const) {
      const value = query[column];
      if (value !== undefined) where.push(`${column} = ${param(value)}`);
    }
    const since = query.since === undefined ? undefined : parseTime('since', query.since);
    const until = query.until === undefined ? undefined : parseTime('until', query.until);
    if (since !== undefined && until !== undefined && since >= until) {
      throw new AuditError(AuditErrorCode.InvalidFilter, 'since must be before until', [
        'since',
        'until',
      ]);
    }
    if (since !== undefined) where.push(`at >= ${param(query.since)}::timestamptz`);
    if (until !== undefined) where.push(`at < ${param(query.until)}::timestamptz`);
    if (query.cursor !== undefined) {
      const decoded = decodeCursor(query.cursor, (id) => UUID.test(id));
      if (decoded === null) {
        throw new AuditError(AuditErrorCode.InvalidCursor, 'cursor is not valid');
      }
      where.push(`(at, id) < (${param(decoded[0])}::timestamptz, ${param(decoded[1])}::uuid)`);
    }

    const rows = returnedRows<AuditEventRow>(
      await this.dataSource.query(
        `SELECT ${COLUMNS} FROM audit_events
         ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY at DESC, id DESC
         LIMIT ${param(limit + 1)}`,
        params,
      ),
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      data: page.map(toResponse),
      next_cursor: rows.length > limit && last ? encodeCursor(last.cursor_at, last.id) : null,
    };
  }

  async get(id: string): Promise<AuditEventResponseDto> {
    const [row] = UUID.test(id)
      ? returnedRows<AuditEventRow>(
          await this.dataSource.query(`SELECT ${COLUMNS} FROM audit_events WHERE id = $1`, [id]),
        )
      : [];
    if (!row) throw new AuditError(AuditErrorCode.AuditEventNotFound, 'audit event not found');
    return toResponse(row);
  }
}

/** `a.b,c.*` into exact types and LIKE patterns (`_` is a LIKE wildcard: escaped). */
function parseTypes(value: string): { exact: string[]; prefixes: string[] } {
  const entries = value.split(',').map((entry) => entry.trim());
  const bad = entries.filter((entry) => !TYPE_FILTER.test(entry));
  if (entries.length > MAX_TYPES || bad.length > 0) {
    throw new AuditError(
      AuditErrorCode.InvalidFilter,
      `type must be at most ${MAX_TYPES} comma-separated event types or prefixes ending in .*`,
      ['type'],
    );
  }
  return {
    exact: entries.filter((entry) => !entry.endsWith('.*')),
    prefixes: entries
      .filter((entry) => entry.endsWith('.*'))
      .map((entry) => `${entry.slice(0, -1).replaceAll('_', '\\_')}%`),
  };
}

function parseTime(name: string, value: string): number {
  const time = RFC3339.test(value) ? Date.parse(value.toUpperCase()) : Number.NaN;
  if (Number.isNaN(time)) {
    throw new AuditError(
      AuditErrorCode.InvalidFilter,
      `${name} must be an RFC 3339 date-time, such as 2026-01-01T00:00:00Z`,
      [name],
    );
  }
  return time;
}

function toResponse(row: AuditEventRow): AuditEventResponseDto {
  return {
    id: row.id,
    at: row.cursor_at,
    type: row.type,
    actor: row.actor_type === null ? null : { type: row.actor_type, id: row.actor_id },
    client_id: row.client_id,
    user_id: row.user_id,
    ip: row.ip,
    user_agent: row.user_agent,
    request_id: row.request_id,
    details: row.details,
    before: row.before,
    after: row.after,
  };
}
