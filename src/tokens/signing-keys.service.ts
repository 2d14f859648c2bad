import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';
import { DataSource, Repository } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { AuditService } from '../audit/audit.service.js';
import { EventBus } from '../database/event-bus.service.js';
import { returnedRows } from '../database/query-result.js';
import { logger } from '../common/logger.js';
import { prebuild, type PrebuiltDocument } from '../common/documents.js';
import { cacheCounters } from '../health/metrics-registry.js';
import { MAX_RESOURCE_TOKEN_TTL_SECONDS } from '../resources/resource-server.js';
import { SigningKeyEntity, type KeyState, type KeyUse } from './entities/signing-key.entity.js';
import { decryptPrivateKey, encryptPrivateKey, resolveMasterKey } from './key-encryption.js';
import { revokeKey } from './key-revocation.js';

export interface ActiveKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
}

export interface PublicKeyEntry {
  kid: string;
  alg: string;
  use: KeyUse;
  publicKey: CryptoKey;
}

export interface KeySummary {
  kid: string;
  use: KeyUse;
  alg: string;
  /** `revoked`: retired early by an admin, out of the JWKS since `revokedAt`. */
  state: KeyState | 'revoked';
  createdAt: string;
  activateAt: string;
  retiredAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

export interface KeyRevocation {
  revoked: KeySummary;
  /** The key now signing in its place, when the revoked key was the active one. */
  replacement: KeySummary | null;
}

/** Extra time a retired key stays published, for clock skew between issuer and verifiers. */
const RETIRE_MARGIN_SECONDS = 60;
/** Upper bound between checks for due promotions and expiries. */
const MAX_TIMER_MS = 60_000;
/** After a failed promotion or reload: soon, so a pending key does not wait a whole minute. */
const RETRY_MS = 1_000;
const USES: KeyUse[] = ['access_token', 'id_token'];
/** Every published key is in memory: a miss is a token naming a kid this server does not know. */
const keyLookups = cacheCounters('signing_keys');

/**
 * Signing keys: pending → active → retired. Pending keys are published before they sign, and
 * retired keys stay published until every token they signed has expired. Each process keeps the
 * keys in memory and reloads them on a `keys` event.
 */
@Injectable()
export class SigningKeysService implements OnModuleInit, OnApplicationShutdown {
  private masterKey: Buffer;
  private active = new Map<KeyUse, ActiveKey>();
  private published = new Map<string, PublicKeyEntry>();
  private jwksDocument: PrebuiltDocument;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | null = null;
  private reloadAgain = false;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    @InjectRepository(SigningKeyEntity) private readonly keys: Repository<SigningKeyEntity>,
    private readonly bus: EventBus,
    private readonly audit: AuditService,
  ) {}

  async onModuleInit(): Promise<void> {
    this.masterKey = resolveMasterKey(this.config);
    this.bus.subscribe('keys', () => void this.scheduleReload());
    await this.ensureActiveKeys();
    await this.promoteDue();
    await this.reload();
  }

  onApplicationShutdown(): void {
    clearTimeout(this.timer);
  }

  /** The key that signs new tokens of this use. */
  activeKey(use: KeyUse): ActiveKey {
    const key = this.active.get(use);
    if (!key) throw new Error(`no active ${use} signing key`);
    return key;
  }

  /** A published key by id, for verifying tokens this server issued. */
  publicKey(kid: string): PublicKeyEntry | undefined {
    const key = this.published.get(kid);
    if (key === undefined) keyLookups.miss.value++;
    else keyLookups.hit.value++;
    return key;
  }

  jwks(): PrebuiltDocument {
    return this.jwksDocument;
  }

  /**
   * The longest time any token signed by a key may still be valid after the key retires. A
   * registered resource may give its access tokens their own lifetime, up to
   * MAX_RESOURCE_TOKEN_TTL_SECONDS, and that lifetime can change at any time on any node. So the
   * bound is the static maximum, not the lifetimes in force now: a retired key then outlives
   * every token it signed without tracking resources here, at the cost of staying in the JWKS a
   * little longer.
   */
  private retireWindowSeconds(): number {
    const t = this.config.tokens;
    return (
      Math.max(t.accessTokenTtlSeconds, t.idTokenTtlSeconds, MAX_RESOURCE_TOKEN_TTL_SECONDS) +
      RETIRE_MARGIN_SECONDS
    );
  }

  async list(): Promise<KeySummary[]> {
    const rows = await this.keys.find({ order: { createdAt: 'DESC' } });
    return rows.map((row) => ({
      kid: row.kid,
      use: row.use,
      alg: row.alg,
      state: row.revokedAt === null ? row.state : 'revoked',
      createdAt: row.createdAt.toISOString(),
      activateAt: row.activateAt.toISOString(),
      retiredAt: row.retiredAt?.toISOString() ?? null,
      expiresAt: row.expiresAt?.toISOString() ?? null,
      revokedAt: row.revokedAt?.toISOString() ?? null,
    }));
  }

  /**
   * Revokes a key now (a suspected compromise): it leaves the JWKS, and tokens it signed stop
   * verifying, on every node once the `keys` event reaches it. An active key is first replaced
   * by another of the same use (key-revocation.ts). Revoking a revoked key changes nothing.
   */
  async revoke(kid: string, via: 'api' | 'cli' = 'api'): Promise<KeyRevocation> {
    const outcome = await this.dataSource.transaction((tx) =>
      revokeKey(tx, kid, (use) => this.generate(use, 'active', new Date())),
    );
    if (outcome.previousState !== null) {
      logger.warn(
        { kid, use: outcome.use, replacement: outcome.replacementKid },
        'signing key revoked',
      );
      await this.bus.publish('keys', 'revoked');
      await this.scheduleReload();
    }
    const keys = await this.list();
    const summary = (id: string | null) => keys.find((key) => key.kid === id) ?? null;
    const revoked = summary(kid);
    if (revoked === null) throw new Error(`revoked key ${kid} vanished`);
    const replacement = summary(outcome.replacementKid);
    if (outcome.previousState !== null) {
      this.audit.record({
        type: 'key.revoked',
        ...(via === 'cli' ? { actor: { type: 'admin' as const, id: null } } : {}),
        details: {
          via,
          kid,
          use: outcome.use,
          previous_state: outcome.previousState,
          replacement_kid: outcome.replacementKid,
        },
        before: { state: outcome.previousState },
        after: { state: 'revoked' },
      });
    }
    return { revoked, replacement };
  }

  /**
   * Adds a pending key for each use. It is published at once and signs after
   * KEY_PROMOTION_DELAY_SECONDS, so verifiers that cache the JWKS learn it first.
   */
  /** `via` says who asked, for the audit trail: the admin API or an operator's CLI. */
  async rotate(via: 'api' | 'cli' = 'api'): Promise<KeySummary[]> {
    const delay = this.config.keys.promotionDelaySeconds;
    const activateAt = new Date(Date.now() + delay * 1000);
    const kids: string[] = [];
    for (const use of USES) {
      const row = await this.generate(use, 'pending', activateAt);
      await this.keys.insert(row);
      kids.push(row.kid);
    }
    logger.info({ kids, activateAt }, 'signing keys rotated in as pending');
    if (delay === 0) await this.promoteDue();
    await this.bus.publish('keys', 'rotated');
    // Through the serialized reload: a direct one could finish after a concurrent older one and
    // be overwritten by its stale view, leaving the new pending key without a promotion timer.
    await this.scheduleReload();
    const rotated = (await this.list()).filter((key) => kids.includes(key.kid));
    // Key ids and schedule only: never key material.
    this.audit.record({
      type: 'key.rotated',
      ...(via === 'cli' ? { actor: { type: 'admin' as const, id: null } } : {}),
      details: { via, kids, activate_at: activateAt.toISOString() },
      after: {
        keys: rotated.map((key) => ({
          kid: key.kid,
          use: key.use,
          alg: key.alg,
          state: key.state,
        })),
      },
    });
    return rotated;
  }

  private async ensureActiveKeys(): Promise<void> {
    const now = new Date();
    for (const use of USES) {
      const exists = await this.keys.exists({ where: { use, state: 'active' } });
      if (exists) continue;
      const row = await this.generate(use, 'active', now);
      // Several processes may start at once: the partial unique index lets one of them win.
      await this.dataSource.query(
        `INSERT INTO signing_keys (kid, use, alg, state, public_jwk, private_key_enc, created_at, activate_at)
         VALUES ($1, $2, $3, 'active', $4, $5, $6, $6)
         ON CONFLICT (use) WHERE state = 'active' DO NOTHING`,
        [row.kid, use, row.alg, JSON.stringify(row.publicJwk), row.privateKeyEnc, now],
      );
      logger.info({ use, alg: row.alg }, 'generated the first signing key');
    }
  }

  private async generate(
    use: KeyUse,
    state: KeyState,
    activateAt: Date,
  ): Promise<SigningKeyEntity> {
    const alg =
      use === 'access_token' ? this.config.tokens.accessTokenAlg : this.config.tokens.idTokenAlg;
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateJwk = await exportJWK(privateKey);
    const row = new SigningKeyEntity();
    row.kid = kid;
    row.use = use;
    row.alg = alg;
    row.state = state;
    row.publicJwk = { ...publicJwk, kid, alg, use: 'sig' };
    row.privateKeyEnc = encryptPrivateKey(this.masterKey, kid, JSON.stringify(privateJwk));
    row.createdAt = new Date();
    row.activateAt = activateAt;
    row.retiredAt = null;
    row.expiresAt = null;
    row.revokedAt = null;
    return row;
  }

  /**
   * Promotes the newest due pending key of each use and retires the one it replaces, in one
   * transaction. Conditional updates make concurrent promoters harmless.
   */
  private async promoteDue(): Promise<boolean> {
    let changed = false;
    for (const use of USES) {
      const due = await this.dataSource.query<{ kid: string }[]>(
        `SELECT kid FROM signing_keys WHERE use = $1 AND state = 'pending' AND activate_at <= now()
         ORDER BY activate_at DESC, created_at DESC`,
        [use],
      );
      if (due.length === 0) continue;
      const [newest, ...older] = due.map((row) => row.kid);
      const retireSql = `UPDATE signing_keys SET state = 'retired', retired_at = now(),
          expires_at = now() + make_interval(secs => $2)`;
      await this.dataSource
        .transaction(async (tx) => {
          await tx.query(`${retireSql} WHERE use = $1 AND state = 'active'`, [
            use,
            this.retireWindowSeconds(),
          ]);
          // An older pending key that never signed anything can go straight to retired.
          if (older.length > 0) {
            await tx.query(`${retireSql} WHERE use = $1 AND state = 'pending' AND kid = ANY($3)`, [
              use,
              this.retireWindowSeconds(),
              older,
            ]);
          }
          const promoted = returnedRows(
            await tx.query(
              `UPDATE signing_keys SET state = 'active' WHERE kid = $1 AND state = 'pending' RETURNING kid`,
              [newest],
            ),
          );
          if (promoted.length === 0) throw new PromotionLost();
        })
        .then(
          () => {
            changed = true;
            logger.info({ use, kid: newest }, 'signing key promoted to active');
          },
          (err: unknown) => {
            if (!(err instanceof PromotionLost)) throw err;
          },
        );
    }
    if (changed) await this.bus.publish('keys', 'promoted');
    return changed;
  }

  /**
   * Coalesces reload requests. One that arrives while a reload runs may describe a change that
   * reload already missed, so it makes exactly one more reload follow.
   */
  private scheduleReload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.reloadAgain = false;
        await this.reload().catch((err: unknown) => {
          logger.error({ err }, 'signing key reload failed');
          // Keep due promotions and expiries on schedule: try again soon.
          this.armTimer(Date.now() + RETRY_MS);
        });
      } while (this.reloadAgain);
    })().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  /** Loads the published keys, decrypts the active ones, rebuilds the JWKS and the timer. */
  private async reload(): Promise<void> {
    const rows = await this.dataSource.query<
      {
        kid: string;
        use: KeyUse;
        alg: string;
        state: KeyState;
        public_jwk: JWK;
        private_key_enc: string;
        activate_at: Date;
        expires_at: Date | null;
      }[]
    >(
      `SELECT kid, use, alg, state, public_jwk, private_key_enc, activate_at, expires_at
       FROM signing_keys WHERE state <> 'retired' OR expires_at > now()
       ORDER BY created_at ASC`,
    );
    const active = new Map<KeyUse, ActiveKey>();
    const published = new Map<string, PublicKeyEntry>();
    let nextEvent = Date.now() + MAX_TIMER_MS;
    for (const row of rows) {
      published.set(row.kid, {
        kid: row.kid,
        alg: row.alg,
        use: row.use,
        publicKey: (await importJWK(row.public_jwk, row.alg)) as CryptoKey,
      });
      if (row.state === 'active') {
        const jwk = JSON.parse(
          decryptPrivateKey(this.masterKey, row.kid, row.private_key_enc),
        ) as JWK;
        active.set(row.use, {
          kid: row.kid,
          alg: row.alg,
          privateKey: (await importJWK(jwk, row.alg)) as CryptoKey,
        });
      }
      if (row.state === 'pending') nextEvent = Math.min(nextEvent, row.activate_at.getTime());
      if (row.state === 'retired' && row.expires_at) {
        nextEvent = Math.min(nextEvent, row.expires_at.getTime());
      }
    }
    for (const use of USES) {
      if (!active.has(use)) throw new Error(`no active ${use} signing key in the database`);
    }
    this.active = active;
    this.published = published;
    this.jwksDocument = prebuild({ keys: rows.map((row) => row.public_jwk) });
    this.armTimer(nextEvent);
  }

  private armTimer(at: number): void {
    clearTimeout(this.timer);
    const delay = Math.min(Math.max(at - Date.now(), 0) + 50, MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.promoteDue()
        .then(() => this.scheduleReload())
        .catch((err: unknown) => {
          logger.error({ err }, 'signing key promotion failed');
          this.armTimer(Date.now() + RETRY_MS);
        });
    }, delay);
    this.timer.unref();
  }
}

class PromotionLost extends Error {}
