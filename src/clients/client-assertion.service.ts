import { Injectable } from '@nestjs/common';
import {
  createLocalJWKSet,
  decodeJwt,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
} from 'jose';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { ROUTES } from '../common/routes.js';
import { FetchRefused, SafeFetcher } from '../common/safe-fetch.js';
import { returnedRows } from '../database/query-result.js';
import type { ClientRecord } from './client-record.js';

/** RFC 7523 §2.2. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Asymmetric algorithms only: never `none`, never HS* (the "secret" would be a public key). */
export const ASSERTION_SIGNING_ALGS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'];

const MAX_JTI_LENGTH = 256;
/** Clock skew tolerated on exp, nbf and iat, in seconds. */
const CLOCK_SKEW_SECONDS = 30;
/** A jwks_uri is fetched again for an unknown kid at most this often, in ms. */
const KID_REFETCH_INTERVAL_MS = 60_000;

/** Why an assertion was refused: logged, never shown (every failure is the same invalid_client). */
export class AssertionRejected extends Error {}

/**
 * private_key_jwt (RFC 7523 §2.2, §3; OIDC Core §9): the client signs a short-lived JWT with a
 * key from its registered `jwks` or `jwks_uri`. Each `jti` is accepted once until `exp`; the
 * expired-data cleanup job (src/lifecycle/) deletes the remembered ids after that.
 */
@Injectable()
export class ClientAssertionService {
  private readonly audiences: string[];
  private readonly lastKidRefetch = new Map<string, number>();

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly fetcher: SafeFetcher,
  ) {
    // RFC 7523 §3 item 3: the issuer identifies the AS; the token endpoint URL is accepted too.
    this.audiences = [config.issuer, `${config.issuer}${ROUTES.token}`];
  }

  /** The client id the assertion claims to come from (`iss`), before anything is verified. */
  claimedClientId(assertion: string): string {
    let payload: JWTPayload;
    try {
      payload = decodeJwt(assertion);
    } catch {
      throw new AssertionRejected('the assertion is not a JWT');
    }
    if (typeof payload.iss !== 'string' || payload.iss.length === 0) {
      throw new AssertionRejected('the assertion has no iss');
    }
    return payload.iss;
  }

  /** Verifies the assertion for `client` and consumes its jti; throws AssertionRejected. */
  async verify(assertion: string, client: ClientRecord): Promise<void> {
    const payload = await this.verifySignature(assertion, client);
    const now = Math.floor(Date.now() / 1000);
    const exp = payload.exp as number;
    if (payload.iat !== undefined && payload.iat > now + CLOCK_SKEW_SECONDS) {
      throw new AssertionRejected('iat is in the future');
    }
    const lifetime = exp - (payload.iat ?? now);
    if (lifetime > this.config.clients.assertionMaxLifetimeSeconds) {
      throw new AssertionRejected('the assertion lives too long');
    }
    const jti = payload.jti;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
      throw new AssertionRejected('the assertion has no usable jti');
    }
    await this.consumeJti(client.id, jti, exp);
  }

  private async verifySignature(assertion: string, client: ClientRecord): Promise<JWTPayload> {
    const options = {
      algorithms: ASSERTION_SIGNING_ALGS,
      issuer: client.id,
      subject: client.id,
      audience: this.audiences,
      requiredClaims: ['exp', 'jti'],
      clockTolerance: CLOCK_SKEW_SECONDS,
    };
    try {
      const keys = await this.keysOf(client, false);
      return (await jwtVerify(assertion, createLocalJWKSet(keys), options)).payload;
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey) || client.jwksUri === null) {
        throw rejected(err);
      }
    }
    // A key the cached set does not have: the client may have rotated. Look once more.
    const last = this.lastKidRefetch.get(client.jwksUri) ?? 0;
    if (Date.now() - last < KID_REFETCH_INTERVAL_MS) {
      throw new AssertionRejected('no registered key matches the assertion');
    }
    this.lastKidRefetch.set(client.jwksUri, Date.now());
    try {
      const keys = await this.keysOf(client, true);
      return (await jwtVerify(assertion, createLocalJWKSet(keys), options)).payload;
    } catch (err) {
      throw rejected(err);
    }
  }

  private async keysOf(client: ClientRecord, fresh: boolean): Promise<JSONWebKeySet> {
    if (client.jwks !== null) return client.jwks;
    if (client.jwksUri === null) throw new AssertionRejected('the client has no keys');
    const { body } = await this.fetcher.fetchJson(client.jwksUri, { fresh });
    if (!isPublicKeySet(body)) throw new AssertionRejected('jwks_uri does not hold a JWK set');
    return body;
  }

  /** RFC 7523 §3 item 7: one INSERT decides; an expired row of the same jti may be reused. */
  private async consumeJti(clientId: string, jti: string, exp: number): Promise<void> {
    const result: unknown = await this.dataSource.query(
      `INSERT INTO client_assertion_jtis (client_id, jti, expires_at)
       VALUES ($1, $2, to_timestamp($3))
       ON CONFLICT ON CONSTRAINT pk_client_assertion_jtis DO UPDATE
         SET expires_at = EXCLUDED.expires_at
         WHERE client_assertion_jtis.expires_at < now()
       RETURNING jti`,
      [clientId, jti, exp + CLOCK_SKEW_SECONDS],
    );
    if (returnedRows(result).length === 0) {
      throw new AssertionRejected('the assertion jti was already used');
    }
  }
}

function rejected(err: unknown): AssertionRejected {
  if (err instanceof AssertionRejected) return err;
  if (err instanceof joseErrors.JOSEError) return new AssertionRejected(err.code);
  if (err instanceof FetchRefused) return new AssertionRejected(`jwks_uri: ${err.reason}`);
  throw err;
}

/** JWK members only private or symmetric keys have (RFC 7518 §6.2.2, §6.3.2, §6.4). */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const MAX_KEYS = 20;

/** A JWK set of asymmetric public keys (RFC 7517 §5). */
export function isPublicKeySet(value: unknown): value is JSONWebKeySet {
  if (typeof value !== 'object' || value === null) return false;
  const keys = (value as { keys?: unknown }).keys;
  return (
    Array.isArray(keys) &&
    keys.length > 0 &&
    keys.length <= MAX_KEYS &&
    keys.every(
      (key: unknown) =>
        typeof key === 'object' &&
        key !== null &&
        ['EC', 'RSA', 'OKP'].includes(String((key as { kty?: unknown }).kty)) &&
        PRIVATE_JWK_MEMBERS.every((member) => !(member in key)),
    )
  );
}
