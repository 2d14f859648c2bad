import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { logger } from '../common/logger.js';

export type BusTopic =
  'clients' | 'keys' | 'revoked_jti' | 'revoked_client' | 'roles' | 'resources' | 'trusted_issuers';
type Handler = (data: string) => void;

const CHANNEL = 'latchkey_events';
const RECONNECT_DELAY_MS = 1000;

/**
 * Cross-process cache invalidation over PostgreSQL LISTEN/NOTIFY. A publish is applied in this
 * process at once and reaches every other process through NOTIFY, which PostgreSQL delivers
 * after commit. Embedded mode is single-process, so there only the local delivery happens.
 */
@Injectable()
export class EventBus implements OnModuleInit, OnApplicationShutdown {
  private readonly origin = randomUUID();
  private readonly handlers = new Map<BusTopic, Handler[]>();
  private listener: pg.Client | null = null;
  private closing = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.config.database.url !== null) await this.listen();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    await this.listener?.end().catch(() => undefined);
    this.listener = null;
  }

  subscribe(topic: BusTopic, handler: Handler): void {
    const list = this.handlers.get(topic) ?? [];
    list.push(handler);
    this.handlers.set(topic, list);
  }

  async publish(topic: BusTopic, data: string): Promise<void> {
    this.deliver(topic, data);
    if (this.config.database.url === null) return;
    const payload = JSON.stringify({ o: this.origin, t: topic, d: data });
    await this.dataSource.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]);
  }

  private deliver(topic: BusTopic, data: string): void {
    for (const handler of this.handlers.get(topic) ?? []) {
      try {
        handler(data);
      } catch (err) {
        logger.error({ err, topic }, 'event handler failed');
      }
    }
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.config.database.url ?? undefined });
    client.on('notification', (msg) => {
      if (!msg.payload) return;
      try {
        const { o, t, d } = JSON.parse(msg.payload) as { o: string; t: BusTopic; d: string };
        if (o !== this.origin) this.deliver(t, d);
      } catch (err) {
        logger.warn({ err }, 'ignored a malformed notification');
      }
    });
    client.on('error', (err) => {
      logger.error({ err }, 'event bus connection lost');
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.listener = client;
  }

  /** The listening connection ended; events of a connection already replaced are ignored. */
  private lost(client: pg.Client): void {
    if (this.listener !== client) return;
    this.listener = null;
    this.scheduleReconnect();
  }

  /**
   * Retries every RECONNECT_DELAY_MS until listening again, for as long as PostgreSQL is away.
   * Every cache may be stale after a gap, so a reconnect flushes them all.
   */
  private scheduleReconnect(): void {
    if (this.closing || this.reconnectTimer !== undefined) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closing) return;
      this.listen()
        .then(() => {
          for (const topic of this.handlers.keys()) this.deliver(topic, '*');
        })
        .catch((err: unknown) => {
          logger.error({ err }, 'event bus reconnect failed');
          this.scheduleReconnect();
        });
    }, RECONNECT_DELAY_MS);
    this.reconnectTimer.unref();
  }
}
