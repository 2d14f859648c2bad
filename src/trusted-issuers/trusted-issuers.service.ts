import { isUuid } from '../common/crypto.js';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import {
  createLocalJWKSet,
  decodeJwt,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyOptions,
} from 'jose';
import { randomUUID } from 'node:crypto';
import { DataSource, Repository } from 'typeorm';
import { AuditService, auditSnapshot, type AuditJson } from '../audit/audit.service.js';
import { isPublicKeySet } from '../clients/client-assertion.service.js';
import { logger } from '../common/logger.js';
import { keysetPage } from '../common/pagination.js';
import { FetchRefused, SafeFetcher } from '../common/safe-fetch.js';
import { AppConfig, isLoopbackHost } from '../config/app-config.js';
import { EventBus } from '../database/event-bus.service.js';
import { insertIfAbsent, returnedRows } from '../database/query-result.js';
import { UsersService } from '../users/users.service.js';
import type { CreateTrustedIssuerDto } from './dto/create-trusted-issuer.dto.js';
import type {
  SubjectLinkResponseDto,
  TrustedIssuerListResponseDto,
  TrustedIssuerResponseDto,
} from './dto/trusted-issuer-response.dto.js';
import type { UpdateTrustedIssuerDto } from './dto/update-trusted-issuer.dto.js';
import { TrustedIssuerEntity, type SubjectMapping } from './entities/trusted-issuer.entity.js';
import { TrustedIssuerRejected, type ExternalSubject } from './external-subject.js';
import { TrustedIssuersError, TrustedIssuersErrorCode } from './trusted-issuers.errors.js';

export { TrustedIssuerRejected, type ExternalSubject };
export type { TrustedIssuerRejectionReason } from './external-subject.js';

/** Asymmetric algorithms only: never `none`, never HS* (the "secret" would be a public key). */
export const TRUSTED_ISSUER_ALGS: readonly string[] = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'];

/** Clock skew tolerated on exp, nbf and iat, in seconds. */
const CLOCK_SKEW_SECONDS = 30;
/** A jwks_uri is fetched again for an unknown kid at most this often, in ms. */
const KID_REFETCH_INTERVAL_MS = 60_000;
const MAX_SUBJECT_LENGTH = 255;

interface TrustedIssuer {
  issuer: string;
  jwksUri: string | null;
  jwks: JSONWebKeySet | null;
  algorithms: string[];
  subjectMapping: SubjectMapping;
  allowedClientIds: ReadonlySet<string>;
  audience: string | null;
}

/**
 * Trusted issuers: external authorization servers whose signed JWTs this server accepts as
 * token-exchange subject tokens (RFC 8693), with the admin API behind them. Every process keeps
 * them in memory by issuer, reloaded on a `trusted_issuers` event.
 */
@Injectable()
export class TrustedIssuersService implements OnModuleInit {
  private byIssuer = new Map<string, TrustedIssuer>();
  private reloads: Promise<void> = Promise.resolve();
  private readonly lastKidRefetch = new Map<string, number>();

  constructor(
    private readonly config: AppConfig,
    @InjectRepository(TrustedIssuerEntity)
    private readonly issuers: Repository<TrustedIssuerEntity>,
    private readonly dataSource: DataSource,
    private readonly bus: EventBus,
    private readonly fetcher: SafeFetcher,
    private readonly users: UsersService,
    private readonly audit: AuditService,
  ) {}

  async onModuleInit(): Promise<void> {
    this.bus.subscribe('trusted_issuers', () => void this.reload());
    await this.load();
  }

  /**
   * Verifies an external JWT for `clientId` and maps its subject. The unverified `iss` only
   * picks the key set; nothing else is read before the signature and claims verify. Throws
   * TrustedIssuerRejected.
   */
  async verify(token: string, clientId: string): Promise<ExternalSubject> {
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      throw new TrustedIssuerRejected('malformed_token', 'the token is not a JWT');
    }
    if (typeof unverified.iss !== 'string' || unverified.iss.length === 0) {
      throw new TrustedIssuerRejected('malformed_token', 'the token has no iss');
    }
    const trusted = this.byIssuer.get(unverified.iss);
    if (!trusted) throw new TrustedIssuerRejected('untrusted_issuer', 'the issuer is not trusted');
    if (!trusted.allowedClientIds.has(clientId)) {
      throw new TrustedIssuerRejected(
        'client_not_allowed',
        'the client may not exchange tokens of this issuer',
      );
    }
    const claims = await this.verifySignature(token, trusted);
    const subject = claims.sub as string;
    return {
      issuer: trusted.issuer,
      subject,
      userId: await this.mapSubject(trusted, subject, claims),
      scope: typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [],
      exp: claims.exp as number,
      claims,
    };
  }

  list(limit = 50, cursor?: string): Promise<TrustedIssuerListResponseDto> {
    return keysetPage(
      this.issuers.createQueryBuilder('t'),
      't',
      { limit, cursor },
      isUuid,
      () => new TrustedIssuersError(TrustedIssuersErrorCode.InvalidCursor, 'cursor is not valid'),
      toResponse,
    );
  }

  async get(id: string): Promise<TrustedIssuerResponseDto> {
    return toResponse(await this.getEntity(id));
  }

  async create(dto: CreateTrustedIssuerDto): Promise<TrustedIssuerResponseDto> {
    const problem = issuerProblem(dto.issuer);
    if (problem !== null) throw invalid(problem);
    const now = new Date();
    const entity = this.issuers.create({
      id: randomUUID(),
      issuer: dto.issuer,
      ...this.checkKeys(dto.jwks_uri ?? null, dto.jwks ?? null),
      algorithms: checkAlgorithms(dto.algorithms),
      subjectMapping: dto.subject_mapping,
      allowedClientIds: dto.allowed_client_ids ?? [],
      audience: dto.audience ?? null,
      createdAt: now,
      updatedAt: now,
    });
    if (!(await insertIfAbsent(this.issuers, entity))) {
      throw new TrustedIssuersError(
        TrustedIssuersErrorCode.TrustedIssuerTaken,
        'a trusted issuer with this issuer already exists',
      );
    }
    await this.changed(entity.id);
    this.audit.record({
      type: 'trusted_issuer.created',
      details: { trusted_issuer_id: entity.id },
      after: issuerState(toResponse(entity)),
    });
    return toResponse(entity);
  }

  async update(id: string, dto: UpdateTrustedIssuerDto): Promise<TrustedIssuerResponseDto> {
    const entity = await this.getEntity(id);
    let jwksUri = dto.jwks_uri === undefined ? entity.jwksUri : dto.jwks_uri;
    let jwks = dto.jwks === undefined ? entity.jwks : dto.jwks;
    // Naming one kind of key source replaces the other.
    if (dto.jwks_uri != null && dto.jwks === undefined) jwks = null;
    if (dto.jwks != null && dto.jwks_uri === undefined) jwksUri = null;
    const changes = {
      ...this.checkKeys(jwksUri, jwks),
      algorithms:
        dto.algorithms === undefined ? entity.algorithms : checkAlgorithms(dto.algorithms),
      subjectMapping: dto.subject_mapping ?? entity.subjectMapping,
      allowedClientIds: dto.allowed_client_ids ?? entity.allowedClientIds,
      audience: dto.audience === undefined ? entity.audience : dto.audience,
      updatedAt: new Date(),
    };
    await this.issuers.update({ id }, changes);
    await this.changed(id);
    const updated = toResponse({ ...entity, ...changes });
    this.audit.record({
      type: 'trusted_issuer.updated',
      details: { trusted_issuer_id: id },
      before: issuerState(toResponse(entity)),
      after: issuerState(updated),
    });
    return updated;
  }

  async remove(id: string): Promise<void> {
    const existing = isUuid(id) ? await this.issuers.findOne({ where: { id } }) : null;
    const result = existing ? await this.issuers.delete({ id }) : null;
    if (!existing || !result?.affected) throw notFound();
    await this.changed(id);
    this.audit.record({
      type: 'trusted_issuer.deleted',
      details: { trusted_issuer_id: id },
      before: issuerState(toResponse(existing)),
    });
  }

  /** Links an external subject of the issuer to a local user (subject_mapping `sub_link`). */
  async link(id: string, subject: string, userId: string): Promise<SubjectLinkResponseDto> {
    const entity = await this.getEntity(id);
    checkSubject(subject);
    if ((await this.users.findById(userId)) === null) {
      throw new TrustedIssuersError(TrustedIssuersErrorCode.LinkUserNotFound, 'user not found');
    }
    await this.dataSource.query(
      `INSERT INTO external_subject_links (issuer, subject, user_id) VALUES ($1, $2, $3)
       ON CONFLICT ON CONSTRAINT pk_external_subject_links DO UPDATE SET user_id = EXCLUDED.user_id`,
      [entity.issuer, subject, userId],
    );
    this.audit.record({
      type: 'subject_link.created',
      userId,
      details: { trusted_issuer_id: id, issuer: entity.issuer, subject },
    });
    return { issuer: entity.issuer, subject, user_id: userId };
  }

  async unlink(id: string, subject: string): Promise<void> {
    const entity = await this.getEntity(id);
    const deleted: unknown = await this.dataSource.query(
      `DELETE FROM external_subject_links WHERE issuer = $1 AND subject = $2 RETURNING subject`,
      [entity.issuer, subject],
    );
    if (returnedRows(deleted).length === 0) {
      throw new TrustedIssuersError(
        TrustedIssuersErrorCode.SubjectLinkNotFound,
        'subject link not found',
      );
    }
    this.audit.record({
      type: 'subject_link.deleted',
      details: { trusted_issuer_id: id, issuer: entity.issuer, subject },
    });
  }

  private async verifySignature(token: string, trusted: TrustedIssuer): Promise<JWTPayload> {
    const options: JWTVerifyOptions = {
      algorithms: trusted.algorithms,
      issuer: trusted.issuer,
      audience: trusted.audience ?? this.config.issuer,
      requiredClaims: ['exp', 'sub'],
      clockTolerance: CLOCK_SKEW_SECONDS,
    };
    const check = async (fresh: boolean) => {
      const keys = await this.keysOf(trusted, fresh);
      const { payload } = await jwtVerify(token, createLocalJWKSet(keys), options);
      if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
        throw new TrustedIssuerRejected('invalid_token', 'the token has no usable sub');
      }
      return payload;
    };
    try {
      return await check(false);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey) || trusted.jwksUri === null) {
        throw rejected(err);
      }
    }
    // A key the cached set does not have: the issuer may have rotated. Look once more.
    const last = this.lastKidRefetch.get(trusted.jwksUri) ?? 0;
    if (Date.now() - last < KID_REFETCH_INTERVAL_MS) {
      throw new TrustedIssuerRejected('invalid_token', 'no key of the issuer matches the token');
    }
    this.lastKidRefetch.set(trusted.jwksUri, Date.now());
    try {
      return await check(true);
    } catch (err) {
      throw rejected(err);
    }
  }

  private async keysOf(trusted: TrustedIssuer, fresh: boolean): Promise<JSONWebKeySet> {
    if (trusted.jwks !== null) return trusted.jwks;
    const { body } = await this.fetcher.fetchJson(trusted.jwksUri as string, { fresh });
    if (!isPublicKeySet(body)) {
      throw new TrustedIssuerRejected(
        'keys_unavailable',
        'jwks_uri does not hold a public JWK set',
      );
    }
    return body;
  }

  private async mapSubject(
    trusted: TrustedIssuer,
    subject: string,
    claims: JWTPayload,
  ): Promise<string | null> {
    let userId: string;
    switch (trusted.subjectMapping) {
      case 'external':
        return null;
      case 'sub_link': {
        const rows = await this.dataSource.query<{ user_id: string }[]>(
          `SELECT user_id FROM external_subject_links WHERE issuer = $1 AND subject = $2`,
          [trusted.issuer, subject],
        );
        if (rows.length === 0) {
          throw new TrustedIssuerRejected(
            'unmapped_subject',
            'the subject is not linked to a user',
          );
        }
        userId = rows[0].user_id;
        break;
      }
      case 'verified_email': {
        if (typeof claims.email !== 'string' || claims.email_verified !== true) {
          throw new TrustedIssuerRejected('unmapped_subject', 'the token has no verified email');
        }
        const user = await this.users.findByEmail(claims.email);
        if (!user) {
          throw new TrustedIssuerRejected('unmapped_subject', 'no user has the verified email');
        }
        userId = user.id;
        break;
      }
    }
    const user = await this.users.findById(userId);
    if (!user) throw new TrustedIssuerRejected('unmapped_subject', 'the linked user is gone');
    if (user.status !== 'active') {
      throw new TrustedIssuerRejected('user_disabled', 'the user is disabled');
    }
    return user.id;
  }

  private checkKeys(
    jwksUri: string | null,
    jwks: JSONWebKeySet | null,
  ): { jwksUri: string | null; jwks: JSONWebKeySet | null } {
    if ((jwksUri === null) === (jwks === null)) {
      throw invalid('exactly one of jwks_uri and jwks is required');
    }
    if (jwksUri !== null) {
      let url: URL | null = null;
      try {
        url = new URL(jwksUri);
      } catch {
        // reported below
      }
      const allowed =
        url !== null &&
        (url.protocol === 'https:' ||
          (url.protocol === 'http:' && this.fetcher.isAllowListed(url)));
      if (!allowed || url === null || url.username || url.password || url.hash) {
        throw invalid('jwks_uri must be an https URL without credentials or fragment');
      }
    }
    if (jwks !== null && !isPublicKeySet(jwks)) {
      throw invalid('jwks must be a JWK set of 1 to 20 asymmetric public keys (EC, RSA, OKP)');
    }
    return { jwksUri, jwks };
  }

  private async changed(id: string): Promise<void> {
    await this.bus.publish('trusted_issuers', id);
    await this.reloads;
  }

  private reload(): Promise<void> {
    this.reloads = this.reloads
      .then(() => this.load())
      .catch((err: unknown) => logger.error({ err }, 'reloading trusted issuers failed'));
    return this.reloads;
  }

  private async load(): Promise<void> {
    const rows = await this.issuers.find();
    const next = new Map<string, TrustedIssuer>();
    for (const row of rows) {
      next.set(row.issuer, {
        issuer: row.issuer,
        jwksUri: row.jwksUri,
        jwks: row.jwks,
        algorithms: row.algorithms.filter((alg) => TRUSTED_ISSUER_ALGS.includes(alg)),
        subjectMapping: row.subjectMapping,
        allowedClientIds: new Set(row.allowedClientIds),
        audience: row.audience,
      });
    }
    this.byIssuer = next;
  }

  private async getEntity(id: string): Promise<TrustedIssuerEntity> {
    const entity = isUuid(id) ? await this.issuers.findOne({ where: { id } }) : null;
    if (!entity) throw notFound();
    return entity;
  }
}

/** Why `value` cannot be a trusted issuer, or null when it can. */
export function issuerProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'issuer must be an absolute URL';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    return 'issuer must use https (http only on a loopback host)';
  }
  if (value.includes('?') || value.includes('#')) {
    return 'issuer must not have a query or fragment';
  }
  if (url.username || url.password) return 'issuer must not contain credentials';
  return null;
}

function checkAlgorithms(algorithms: string[]): string[] {
  if (algorithms.length === 0 || algorithms.some((alg) => !TRUSTED_ISSUER_ALGS.includes(alg))) {
    throw invalid(`algorithms must be a non-empty subset of ${TRUSTED_ISSUER_ALGS.join(', ')}`);
  }
  return algorithms;
}

function checkSubject(subject: string): void {
  if (subject.length === 0 || subject.length > MAX_SUBJECT_LENGTH) {
    throw invalid(`subject must be 1 to ${MAX_SUBJECT_LENGTH} characters`);
  }
}

function rejected(err: unknown): TrustedIssuerRejected {
  if (err instanceof TrustedIssuerRejected) return err;
  if (err instanceof joseErrors.JOSEError)
    return new TrustedIssuerRejected('invalid_token', err.code);
  if (err instanceof FetchRefused) {
    return new TrustedIssuerRejected('keys_unavailable', `jwks_uri: ${err.reason}`);
  }
  throw err;
}

function invalid(message: string): TrustedIssuersError {
  return new TrustedIssuersError(TrustedIssuersErrorCode.InvalidTrustedIssuer, message);
}

function notFound(): TrustedIssuersError {
  return new TrustedIssuersError(
    TrustedIssuersErrorCode.TrustedIssuerNotFound,
    'trusted issuer not found',
  );
}

/**
 * A trusted issuer for the audit trail: inline keys by their key ids (what an operator compares),
 * without bookkeeping times.
 */
function issuerState(issuer: TrustedIssuerResponseDto): AuditJson {
  const state = auditSnapshot(issuer, ['created_at', 'updated_at', 'jwks']);
  state.jwks_key_ids = issuer.jwks === null ? null : issuer.jwks.keys.map((key) => key.kid ?? null);
  return state;
}

function toResponse(entity: TrustedIssuerEntity): TrustedIssuerResponseDto {
  return {
    id: entity.id,
    issuer: entity.issuer,
    jwks_uri: entity.jwksUri,
    jwks: entity.jwks,
    algorithms: entity.algorithms,
    subject_mapping: entity.subjectMapping,
    allowed_client_ids: entity.allowedClientIds,
    audience: entity.audience,
    created_at: entity.createdAt.toISOString(),
    updated_at: entity.updatedAt.toISOString(),
  };
}
