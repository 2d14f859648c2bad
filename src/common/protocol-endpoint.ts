import type { RawRequest, RawResponse } from './http.js';

/**
 * A protocol endpoint on the hot path. These are mounted on the HTTP server directly, ahead of
 * Nest's router, so no guard, pipe, interceptor or body parser runs for them.
 */
export interface ProtocolEndpoint {
  readonly path: string;
  readonly methods: readonly string[];
  handle(req: RawRequest, res: RawResponse): Promise<void> | void;
}

export const PROTOCOL_ENDPOINTS = Symbol('protocol-endpoints');
