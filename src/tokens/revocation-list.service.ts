import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { EventBus } from '../database/event-bus.service.js';
import { logger } from '../common/logger.js';
import { cacheCounters } from '../health/metrics-registry.js';

const SWEEP_INTERVAL_MS = 60_000;
/**
 * How long past its `exp` a revoked jti is still remembered, in seconds. Verification accepts a
 * token up to its clock tolerance (5 s) past `exp`, so forgetting a revocation at `exp` exactly
 * would let a revoked token through for those seconds.
 */
export const REVOCATION_RETAIN_SECONDS = 60;
/** `jti exp` lines per notification: well under PostgreSQL's 8000-byte NOTIFY payload limit. */
const NOTIFY_BATCH = 100;
/** The whole list is in memory: a hit is a revoked token presented, a miss a live one. */
const lookups = cacheCounters('revocation_list');

/** How long a client-wide revocation is kept beyond the longest access-token lifetime (s). */
const CLIENT_REVOCATION_MARGIN_SECONDS = 60;

/**
 * Revoked access tokens, by id or by client. Persisted until the tokens they cover have expired
 * (ids: plus REVOCATION_RETAIN_SECONDS) and mirrored in memory in every process (NOTIFY), so
 * checking a token needs no database round trip. The expired-data cleanup job (src/lifecycle/)
 * deletes rows past that, on one node.
 */
@Injectable()
export class RevocationListService implements OnModuleInit, OnApplicationShutdown {
  /** jti → exp, in seconds since the epoch. */
  private revoked = new Map<string, number>();
  /**
   * Client id → the newest `iat` (seconds) of its revoked tokens, and when the entry may go
   * (seconds). Every token issued to that client at or before that second is revoked: that
   * covers the tokens nothing records, such as client_credentials ones.
   */
  private clients = new Map<string, { before: number; expires: number }>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly bus: EventBus,
  ) {}

  async onModuleInit(): Promise<void> {
    this.bus.subscribe('revoked_jti', (data) => {
      if (data === '*') {
        void this.load().catch((err: unknown) => logger.error({ err }, 'revocation reload failed'));
        return;
      }
      // One notification may carry several `jti exp` lines (revokeMany).
      for (const line of data.split('\n')) {
        const [jti, exp] = line.split(' ');
        if (jti && exp) this.revoked.set(jti, Number(exp));
      }
    });
    this.bus.subscribe('revoked_client', (data) => {
      if (data === '*') {
        void this.loadClients().catch((err: unknown) =>
          logger.error({ err }, 'client revocation reload failed'),
        );
        return;
      }
      // `<client id> <before> <expires>`, split from the end whatever the client id holds.
      const parts = data.split(' ');
      const expires = Number(parts.pop());
      const before = Number(parts.pop());
      const clientId = parts.join(' ');
      if (clientId && before > 0 && expires > 0) this.addClient(clientId, before, expires);
    });
    await this.load();
    await this.loadClients();
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }

  isRevoked(jti: string): boolean {
    const revoked = this.revoked.has(jti);
    if (revoked) lookups.hit.value++;
    else lookups.miss.value++;
    return revoked;
  }

  /** Whether a token issued to this client at `iat` (seconds) falls under a client revocation. */
  isRevokedForClient(clientId: string, iat: number): boolean {
    if (this.clients.size === 0) return false;
    const entry = this.clients.get(clientId);
    return entry !== undefined && iat <= entry.before;
  }

  /**
   * Revokes every access token issued to the client so far, including any issued later in the
   * same second (`iat` has a resolution of one second). Kept until `lifetimeSeconds`, the
   * longest an access token may live, has passed. Returns the cutoff, in seconds.
   */
  async revokeClient(clientId: string, lifetimeSeconds: number): Promise<number> {
    const before = Math.floor(Date.now() / 1000);
    const expires = before + lifetimeSeconds + CLIENT_REVOCATION_MARGIN_SECONDS;
    await this.dataSource.query(
      `INSERT INTO client_token_revocations (client_id, revoked_before, expires_at)
       VALUES ($1, to_timestamp($2), to_timestamp($3))
       ON CONFLICT (client_id) DO UPDATE SET
         revoked_before = greatest(client_token_revocations.revoked_before, EXCLUDED.revoked_before),
         expires_at = greatest(client_token_revocations.expires_at, EXCLUDED.expires_at)`,
      [clientId, before, expires],
    );
    await this.bus.publish('revoked_client', `${clientId} ${before} ${expires}`);
    return before;
  }

  async revoke(jti: string, exp: number): Promise<void> {
    await this.revokeMany([{ jti, exp }]);
  }

  /**
   * Revokes many tokens with one INSERT and as few notifications as fit (NOTIFY payloads are
   * limited to 8000 bytes): revoking a token family can touch every access token it issued.
   */
  async revokeMany(entries: readonly { jti: string; exp: number }[]): Promise<void> {
    const now = Date.now() / 1000;
    const live = entries.filter((entry) => entry.exp + REVOCATION_RETAIN_SECONDS > now);
    if (live.length === 0) return;
    await this.dataSource.query(
      `INSERT INTO revoked_jtis (jti, expires_at)
       SELECT jti, to_timestamp(exp) FROM unnest($1::text[], $2::bigint[]) AS t(jti, exp)
       ON CONFLICT (jti) DO NOTHING`,
      [live.map((entry) => entry.jti), live.map((entry) => entry.exp)],
    );
    for (let i = 0; i < live.length; i += NOTIFY_BATCH) {
      const lines = live.slice(i, i + NOTIFY_BATCH).map((entry) => `${entry.jti} ${entry.exp}`);
      await this.bus.publish('revoked_jti', lines.join('\n'));
    }
  }

  private async load(): Promise<void> {
    const rows = await this.dataSource.query<{ jti: string; exp: string }[]>(
      `SELECT jti, extract(epoch FROM expires_at)::bigint AS exp
       FROM revoked_jtis WHERE expires_at > now() - make_interval(secs => $1)`,
      [REVOCATION_RETAIN_SECONDS],
    );
    // Merge rather than replace: a revocation notified while the query ran may be missing from
    // its rows, and revocations are never undone (the sweep drops them once expired).
    for (const row of rows) this.revoked.set(row.jti, Number(row.exp));
  }

  private async loadClients(): Promise<void> {
    const rows = await this.dataSource.query<
      { client_id: string; before: string; expires: string }[]
    >(
      `SELECT client_id, extract(epoch FROM revoked_before)::bigint AS before,
              extract(epoch FROM expires_at)::bigint AS expires
       FROM client_token_revocations WHERE expires_at > now()`,
    );
    for (const row of rows) this.addClient(row.client_id, Number(row.before), Number(row.expires));
  }

  /** Merges: a later cutoff wins, and a revocation is never undone while it matters. */
  private addClient(clientId: string, before: number, expires: number): void {
    const known = this.clients.get(clientId);
    this.clients.set(clientId, {
      before: Math.max(before, known?.before ?? before),
      expires: Math.max(expires, known?.expires ?? expires),
    });
  }

  /**
   * Forgets entries no verifier would accept any more, in memory only: the table's rows are
   * deleted by the cleanup job, once for the cluster rather than by every process.
   */
  private sweep(): void {
    const now = Date.now() / 1000;
    for (const [jti, exp] of this.revoked) {
      if (exp + REVOCATION_RETAIN_SECONDS < now) this.revoked.delete(jti);
    }
    for (const [id, entry] of this.clients) {
      if (entry.expires < now) this.clients.delete(id);
    }
  }
}
