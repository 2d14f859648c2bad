import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { InvalidTarget } from '../common/oauth-errors.js';

export interface ResourceServer {
  identifier: string;
  name: string;
  /** Access-token lifetime for this audience, in seconds; null = the configured default. */
  accessTokenTtlSeconds: number | null;
}

/**
 * Registered resource servers (RFC 8707 audiences). Built in: the admin API. Admin-defined
 * resources come with the resources admin API.
 */
@Injectable()
export class ResourcesService {
  private readonly byIdentifier = new Map<string, ResourceServer>();

  constructor(private readonly config: AppConfig) {
    this.register({
      identifier: config.audiences.admin,
      name: 'Latchkey admin API',
      accessTokenTtlSeconds: null,
    });
  }

  /** The audience for a token request: the named resource, or the default audience. */
  resolve(resource: string | undefined): ResourceServer {
    if (resource === undefined) {
      return {
        identifier: this.config.audiences.default,
        name: 'default',
        accessTokenTtlSeconds: null,
      };
    }
    const key = normalizeResource(resource);
    const found = key === null ? undefined : this.byIdentifier.get(key);
    if (!found) throw new InvalidTarget('the requested resource is not known to this server');
    return found;
  }

  private register(resource: ResourceServer): void {
    const key = normalizeResource(resource.identifier);
    if (key !== null) this.byIdentifier.set(key, resource);
  }
}

/**
 * RFC 8707 §2: an absolute URI without a fragment. `https://host` and `https://host/` name the
 * same resource, so an empty path compares as `/`.
 */
export function normalizeResource(value: string): string | null {
  if (value.length > 2048) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.hash || value.includes('#')) return null;
  return url.href;
}
