import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { logger } from '../common/logger.js';
import { FetchRefused, SafeFetcher, type FetchRefusalReason } from '../common/safe-fetch.js';
import { EventBus } from '../database/event-bus.service.js';
import { currentAddress } from '../rate-limits/client-address.js';
import { RateLimiter } from '../rate-limits/rate-limiter.service.js';
import {
  CimdInvalid,
  checkMetadataDocument,
  isMetadataDocumentUrl,
  type CimdMetadata,
} from './cimd-document.js';
import { ClientEntity } from './entities/client.entity.js';

/**
 * Fetch failures that say nothing about the document itself (the publisher is briefly down):
 * the last good document keeps serving for CIMD_STALE_GRACE_SECONDS. A document that is
 * invalid, gone (404), redirected or refused by the address check ends the client at once.
 */
const TRANSIENT: ReadonlySet<FetchRefusalReason> = new Set([
  'network',
  'timeout',
  'dns',
  'rate_limited',
]);

/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a client whose
 * id is an https URL is described by the JSON document at that URL. The document is fetched
 * through the SSRF-safe fetcher, validated, and stored as a `source = 'cimd'` client row (so
 * consents and token families can reference it) that expires with the document's HTTP cache
 * lifetime.
 */
@Injectable()
export class CimdResolver {
  constructor(
    private readonly config: AppConfig,
    @InjectRepository(ClientEntity) private readonly clients: Repository<ClientEntity>,
    private readonly fetcher: SafeFetcher,
    private readonly bus: EventBus,
    private readonly limiter: RateLimiter,
  ) {}

  /** Whether this client id names a metadata document. */
  handles(id: string): boolean {
    return isMetadataDocumentUrl(id, (url) => this.fetcher.isAllowListed(url));
  }

  /**
   * The client row for a document URL: the stored one while its document is fresh, else the
   * document fetched again. null when there is no usable document (the client is unknown).
   */
  async load(id: string): Promise<ClientEntity | null> {
    const row = await this.clients.findOne({ where: { id } });
    if (row && row.source !== 'cimd') return row;
    const now = Date.now();
    if (row && (row.metadataExpiresAt?.getTime() ?? 0) > now) return row;
    // Every new URL a caller names costs an outbound fetch: limit them per caller address
    // (the fetcher's own per-host and global buckets protect the hosts fetched from).
    const address = currentAddress();
    if (address !== null) {
      await this.limiter.consume(
        'cimd-fetch',
        address,
        'too many client metadata fetches; retry later',
      );
    }
    try {
      // The stored row carries the document's lifetime, so a fetch here is always a fresh one.
      const fetched = await this.fetcher.fetchJson(id, { fresh: true });
      const metadata = checkMetadataDocument(id, fetched.body, (url) =>
        this.fetcher.isAllowListed(url),
      );
      return await this.store(id, metadata, new Date(fetched.expiresAt));
    } catch (err) {
      if (!(err instanceof CimdInvalid) && !(err instanceof FetchRefused)) throw err;
      const reason = err instanceof FetchRefused ? err.reason : 'invalid_document';
      const staleUntil =
        (row?.metadataExpiresAt?.getTime() ?? 0) + this.config.clients.cimdStaleGraceSeconds * 1000;
      if (row && err instanceof FetchRefused && TRANSIENT.has(err.reason) && staleUntil > now) {
        logger.warn(
          { clientId: id, reason, detail: err.message },
          'client metadata document could not be refreshed; the previous one stays in use',
        );
        // Retry after the shortest cache lifetime, not on every request, while the grace lasts.
        const retryAt = Math.min(staleUntil, now + this.config.fetch.cacheMinSeconds * 1000);
        return { ...row, metadataExpiresAt: new Date(retryAt) };
      }
      logger.warn(
        { clientId: id, reason, detail: err.message },
        'client metadata document refused; the client is unknown',
      );
      return null;
    }
  }

  /** One statement: insert or refresh the row, never touching a client of another source. */
  private async store(id: string, m: CimdMetadata, expiresAt: Date): Promise<ClientEntity | null> {
    await this.clients.query(
      `INSERT INTO clients (id, name, type, secret_hash, secret_rotated_at, redirect_uris,
         post_logout_redirect_uris, grant_types, response_types, allowed_scopes, service_roles,
         token_endpoint_auth_method, owner_user_id, contacts, logo_uri, policy_uri, tos_uri,
         source, application_type, jwks, jwks_uri, client_uri, software_id, software_version,
         metadata_expires_at, created_at, updated_at)
       VALUES ($1, $2, $3, NULL, NULL, $4, $5, $6, '{code}', $19, '{}', $7, NULL, $8, $9, $10,
         $11, 'cimd', $12, $13, $14, $15, $16, $17, $18, now(), now())
       ON CONFLICT (id) DO UPDATE SET
         name = EXCLUDED.name, type = EXCLUDED.type, redirect_uris = EXCLUDED.redirect_uris,
         post_logout_redirect_uris = EXCLUDED.post_logout_redirect_uris,
         grant_types = EXCLUDED.grant_types, allowed_scopes = EXCLUDED.allowed_scopes,
         token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method,
         contacts = EXCLUDED.contacts, logo_uri = EXCLUDED.logo_uri,
         policy_uri = EXCLUDED.policy_uri, tos_uri = EXCLUDED.tos_uri,
         application_type = EXCLUDED.application_type, jwks = EXCLUDED.jwks,
         jwks_uri = EXCLUDED.jwks_uri, client_uri = EXCLUDED.client_uri,
         software_id = EXCLUDED.software_id, software_version = EXCLUDED.software_version,
         metadata_expires_at = EXCLUDED.metadata_expires_at, updated_at = now()
       WHERE clients.source = 'cimd'`,
      [
        id,
        m.name,
        m.type,
        m.redirectUris,
        m.postLogoutRedirectUris,
        m.grantTypes,
        m.tokenEndpointAuthMethod,
        m.contacts,
        m.logoUri,
        m.policyUri,
        m.tosUri,
        m.applicationType,
        m.jwks === null ? null : JSON.stringify(m.jwks),
        m.jwksUri,
        m.clientUri,
        m.softwareId,
        m.softwareVersion,
        expiresAt,
        m.scopes,
      ],
    );
    // Other nodes drop what they cached of the previous document.
    await this.bus.publish('clients', id);
    return this.clients.findOne({ where: { id } });
  }
}
