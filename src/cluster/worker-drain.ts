import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer } from 'node:net';

/** What the primary sends a worker it is retiring (cluster-primary.ts). */
export const DRAIN_MESSAGE = 'latchkey:drain';

/**
 * Lets a cluster worker leave without failing a request. On the primary's drain message the
 * worker stops accepting connections (the primary hands new ones to the other workers), answers
 * every further request with `Connection: close`, and calls `close` once its last connection has
 * ended.
 *
 * It closes the listener with net.Server's close, not http.Server's: the latter also closes idle
 * keep-alive connections at once, which races a request a client may be sending on one at that
 * moment (RFC 9112 §9.6), and that request would fail. Idle connections instead expire through
 * the server's keepAliveTimeout, which it announces in `Keep-Alive: timeout=…` and which clients'
 * own idle timeouts undercut, so they are normally closed from the client's side first.
 */
export function drainOnRequest(server: Server, close: () => Promise<void>): void {
  let draining = false;
  // Prepended: a handler that answers synchronously must already see the flag.
  server.prependListener('request', (_request: IncomingMessage, response: ServerResponse) => {
    if (draining) response.shouldKeepAlive = false;
  });
  process.on('message', (message: unknown) => {
    if (message !== DRAIN_MESSAGE || draining) return;
    draining = true;
    NetServer.prototype.close.call(server, () => void close());
  });
}
