import { Injectable } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { secretMatchesHash } from '../common/crypto.js';
import type { FormParams } from '../common/http.js';
import { logger } from '../common/logger.js';
import { InvalidClient, InvalidRequest } from '../common/oauth-errors.js';
import {
  AssertionRejected,
  ClientAssertionService,
  JWT_BEARER_ASSERTION_TYPE,
} from './client-assertion.service.js';
import { ClientAuthLockout } from './client-auth-lockout.js';
import type { ClientRecord } from './client-record.js';
import { ClientsService } from './clients.service.js';

/** Methods a confidential client can authenticate with; discovery advertises these. */
export const SECRET_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;

const MAX_CREDENTIAL_LENGTH = 512;
const MAX_ASSERTION_LENGTH = 8192;
const FAILED = 'client authentication failed';

type PresentedCredentials =
  | {
      method: 'client_secret_basic' | 'client_secret_post' | 'none';
      clientId: string;
      secret: string | null;
    }
  | { method: 'private_key_jwt'; clientId: string | null; assertion: string };

/**
 * Client authentication at the token, introspection and revocation endpoints
 * (RFC 6749 §2.3.1): client_secret_basic, client_secret_post, private_key_jwt (RFC 7523 §2.2),
 * and `none` for public clients where the endpoint allows it. Every failure is the same 401
 * invalid_client, so a caller cannot tell an unknown client from a wrong secret or key.
 * Repeated failures for one client id slow down and then lock (ClientAuthLockout).
 */
@Injectable()
export class ClientAuthService {
  constructor(
    private readonly clients: ClientsService,
    private readonly assertions: ClientAssertionService,
    private readonly lockout: ClientAuthLockout,
  ) {}

  async authenticate(
    headers: IncomingHttpHeaders,
    form: FormParams,
    options: { allowPublic: boolean },
  ): Promise<ClientRecord> {
    const presented = presentedCredentials(headers, form);
    const clientId = presented.clientId ?? this.assertedClientId(presented);
    // No id, no guess to count: such requests never reach a credential check.
    if (clientId === null) return this.verify(presented, options);
    await this.lockout.assertOpen(clientId);
    try {
      return await this.verify(presented, options);
    } catch (err) {
      if (err instanceof InvalidClient) await this.lockout.failed(clientId);
      throw err;
    }
  }

  private async verify(
    presented: PresentedCredentials,
    options: { allowPublic: boolean },
  ): Promise<ClientRecord> {
    if (presented.method === 'private_key_jwt') {
      return this.authenticateAssertion(presented.assertion, presented.clientId);
    }
    const client = await this.clients.findRecord(presented.clientId);
    if (!client || client.tokenEndpointAuthMethod !== presented.method)
      throw new InvalidClient(FAILED);
    if (presented.method === 'none') {
      if (!options.allowPublic || client.type !== 'public') throw new InvalidClient(FAILED);
    } else if (
      presented.secret === null ||
      client.secretHash === null ||
      !secretMatchesHash(presented.secret, client.secretHash)
    ) {
      throw new InvalidClient(FAILED);
    }
    this.clients.markUsed(client.id);
    return client;
  }

  /** The `iss` a private_key_jwt assertion claims, or null when it is not even a JWT. */
  private assertedClientId(presented: PresentedCredentials): string | null {
    if (presented.method !== 'private_key_jwt') return null;
    try {
      return this.assertions.claimedClientId(presented.assertion);
    } catch {
      return null;
    }
  }

  private async authenticateAssertion(
    assertion: string,
    bodyClientId: string | null,
  ): Promise<ClientRecord> {
    try {
      const clientId = this.assertions.claimedClientId(assertion);
      // RFC 7523 §3: a client_id sent alongside must name the same client as iss and sub.
      if (bodyClientId !== null && bodyClientId !== clientId) {
        throw new AssertionRejected('client_id does not match the assertion');
      }
      const client = await this.clients.findRecord(clientId);
      if (!client || client.tokenEndpointAuthMethod !== 'private_key_jwt') {
        throw new AssertionRejected('the client does not use private_key_jwt');
      }
      await this.assertions.verify(assertion, client);
      this.clients.markUsed(client.id);
      return client;
    } catch (err) {
      if (!(err instanceof AssertionRejected)) throw err;
      logger.info({ reason: err.message }, 'client assertion rejected');
      throw new InvalidClient(FAILED);
    }
  }
}

function presentedCredentials(
  headers: IncomingHttpHeaders,
  form: FormParams,
): PresentedCredentials {
  if (
    form.multi.has('client_id') ||
    form.multi.has('client_secret') ||
    form.multi.has('client_assertion') ||
    form.multi.has('client_assertion_type')
  ) {
    throw new InvalidRequest('client credentials must not be repeated');
  }
  const bodyId = form.values.get('client_id');
  const bodySecret = form.values.get('client_secret');
  const authorization = headers.authorization;
  const assertion = form.values.get('client_assertion');
  const assertionType = form.values.get('client_assertion_type');
  if (assertion !== undefined || assertionType !== undefined) {
    // RFC 6749 §2.3: a client must not use more than one authentication method per request.
    if (
      bodySecret !== undefined ||
      (authorization !== undefined && /^basic /i.test(authorization))
    ) {
      throw new InvalidRequest('use only one client authentication method');
    }
    if (
      assertionType !== JWT_BEARER_ASSERTION_TYPE ||
      assertion === undefined ||
      assertion.length === 0 ||
      assertion.length > MAX_ASSERTION_LENGTH ||
      (bodyId?.length ?? 0) > MAX_CREDENTIAL_LENGTH
    ) {
      throw new InvalidClient(FAILED);
    }
    return { method: 'private_key_jwt', clientId: bodyId ?? null, assertion };
  }
  if (authorization !== undefined && /^basic /i.test(authorization)) {
    // RFC 6749 §2.3: a client must not use more than one authentication method per request.
    if (bodySecret !== undefined) {
      throw new InvalidRequest('use either HTTP Basic or client_secret in the body, not both');
    }
    const basic = parseBasic(authorization.slice(6).trim());
    if (bodyId !== undefined && bodyId !== basic.clientId) {
      throw new InvalidClient(FAILED);
    }
    return { method: 'client_secret_basic', ...basic };
  }
  if (bodyId === undefined || bodyId.length === 0) {
    throw new InvalidClient('client authentication is required');
  }
  if (bodyId.length > MAX_CREDENTIAL_LENGTH || (bodySecret?.length ?? 0) > MAX_CREDENTIAL_LENGTH) {
    throw new InvalidClient(FAILED);
  }
  if (bodySecret !== undefined)
    return { method: 'client_secret_post', clientId: bodyId, secret: bodySecret };
  return { method: 'none', clientId: bodyId, secret: null };
}

/** RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined and base64-encoded. */
function parseBasic(encoded: string): { clientId: string; secret: string } {
  if (
    encoded.length === 0 ||
    encoded.length > 4 * MAX_CREDENTIAL_LENGTH ||
    !/^[A-Za-z0-9+/]+=*$/.test(encoded)
  ) {
    throw new InvalidClient(FAILED);
  }
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new InvalidClient(FAILED);
  try {
    const clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
    const secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
    if (secret.length === 0) throw new InvalidClient(FAILED);
    return { clientId, secret };
  } catch {
    throw new InvalidClient(FAILED);
  }
}
