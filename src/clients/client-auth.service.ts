import { Injectable } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { secretMatchesHash } from '../common/crypto.js';
import type { FormParams } from '../common/http.js';
import { InvalidClient, InvalidRequest } from '../common/oauth-errors.js';
import type { ClientRecord } from './client-record.js';
import { ClientsService } from './clients.service.js';

/** Methods a confidential client can authenticate with; discovery advertises these. */
export const SECRET_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;

const MAX_CREDENTIAL_LENGTH = 512;
const FAILED = 'client authentication failed';

interface PresentedCredentials {
  method: 'client_secret_basic' | 'client_secret_post' | 'none';
  clientId: string;
  secret: string | null;
}

/**
 * Client authentication at the token, introspection and revocation endpoints
 * (RFC 6749 §2.3.1): client_secret_basic, client_secret_post, and `none` for public clients
 * where the endpoint allows it. Every failure is the same 401 invalid_client, so a caller
 * cannot tell an unknown client from a wrong secret.
 */
@Injectable()
export class ClientAuthService {
  constructor(private readonly clients: ClientsService) {}

  async authenticate(
    headers: IncomingHttpHeaders,
    form: FormParams,
    options: { allowPublic: boolean },
  ): Promise<ClientRecord> {
    const presented = presentedCredentials(headers, form);
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
}

function presentedCredentials(
  headers: IncomingHttpHeaders,
  form: FormParams,
): PresentedCredentials {
  if (form.multi.has('client_id') || form.multi.has('client_secret')) {
    throw new InvalidRequest('client credentials must not be repeated');
  }
  const bodyId = form.values.get('client_id');
  const bodySecret = form.values.get('client_secret');
  const authorization = headers.authorization;
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
