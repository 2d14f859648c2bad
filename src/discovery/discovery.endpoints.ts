import { Injectable } from '@nestjs/common';
import { serveDocument } from '../common/documents.js';
import type { RawRequest, RawResponse } from '../common/http.js';
import type { ProtocolEndpoint } from '../common/protocol-endpoint.js';
import { ROUTES } from '../common/routes.js';
import { SigningKeysService } from '../tokens/signing-keys.service.js';
import { DiscoveryService } from './discovery.service.js';

/** Caches may keep metadata and keys this long; key promotion waits longer than this. */
export const DOCUMENT_MAX_AGE_SECONDS = 300;
const GET = ['GET', 'HEAD'];

@Injectable()
export class DiscoveryEndpoints {
  readonly endpoints: ProtocolEndpoint[];

  constructor(discovery: DiscoveryService, keys: SigningKeysService) {
    const metadata = (req: RawRequest, res: RawResponse) =>
      serveDocument(req, res, discovery.metadata, DOCUMENT_MAX_AGE_SECONDS);
    this.endpoints = [
      { path: ROUTES.openidConfiguration, methods: GET, handle: metadata },
      { path: ROUTES.oauthAuthorizationServer, methods: GET, handle: metadata },
      {
        path: ROUTES.jwks,
        methods: GET,
        handle: (req, res) => serveDocument(req, res, keys.jwks(), DOCUMENT_MAX_AGE_SECONDS),
      },
      {
        path: ROUTES.protectedResource,
        methods: GET,
        handle: (req, res) =>
          serveDocument(req, res, discovery.protectedResource, DOCUMENT_MAX_AGE_SECONDS),
      },
    ];
  }
}
