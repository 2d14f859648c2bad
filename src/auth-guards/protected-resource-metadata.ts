import { Controller, Get, Header, type Type } from '@nestjs/common';

/** Input of `protectedResourceMetadata`: the RFC 9728 §2 members, in camelCase. */
export interface ProtectedResourceOptions {
  /** The resource identifier: the audience its tokens carry, as registered in Latchkey. */
  resource: string;
  /** Issuers of the authorization servers that issue tokens for it. */
  authorizationServers: string[];
  scopesSupported?: string[];
  resourceName?: string;
  resourceDocumentation?: string;
  /** Default `['header']`: RFC 6750 §2.1 only. */
  bearerMethodsSupported?: string[];
}

/** RFC 9728 §2 protected resource metadata (the JSON document). */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  bearer_methods_supported: string[];
  scopes_supported?: string[];
  resource_name?: string;
  resource_documentation?: string;
}

export function protectedResourceMetadata(
  options: ProtectedResourceOptions,
): ProtectedResourceMetadata {
  const metadata: ProtectedResourceMetadata = {
    resource: options.resource,
    authorization_servers: options.authorizationServers,
    bearer_methods_supported: options.bearerMethodsSupported ?? ['header'],
  };
  if (options.scopesSupported) metadata.scopes_supported = options.scopesSupported;
  if (options.resourceName) metadata.resource_name = options.resourceName;
  if (options.resourceDocumentation) {
    metadata.resource_documentation = options.resourceDocumentation;
  }
  return metadata;
}

/**
 * RFC 9728 §3.1: the metadata URL of a resource is its origin, then
 * `/.well-known/oauth-protected-resource`, then the resource's path (none for a bare origin).
 * `https://api.example.com/mcp` → `https://api.example.com/.well-known/oauth-protected-resource/mcp`.
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.origin}/.well-known/oauth-protected-resource${path}`;
}

/** Caches may keep the document this long, in seconds. */
const METADATA_MAX_AGE_SECONDS = 300;

/**
 * A controller that serves `metadata` at `path` (by default the RFC 9728 well-known path of its
 * resource). Add it to a module's `controllers`; AuthGuardsModule.forResourceServer does.
 */
export function protectedResourceMetadataController(
  metadata: ProtectedResourceMetadata,
  path: string = new URL(protectedResourceMetadataUrl(metadata.resource)).pathname,
): Type<unknown> {
  @Controller()
  class ProtectedResourceMetadataController {
    @Get(path)
    @Header('Cache-Control', `public, max-age=${METADATA_MAX_AGE_SECONDS}`)
    @Header('Access-Control-Allow-Origin', '*')
    get(): ProtectedResourceMetadata {
      return metadata;
    }
  }
  return ProtectedResourceMetadataController;
}
