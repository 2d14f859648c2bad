import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How one path answers. Omitted fields: 200, application/json, `Cache-Control: max-age=300`. */
export interface ServedDocument {
  status?: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string as is. */
  body?: unknown;
  /** Holds the answer back this long (a slow server), in ms. */
  delayMs?: number;
}

/**
 * A plain http server on 127.0.0.1 that serves client metadata documents and JWK sets for the
 * tests, and counts the requests each path received.
 */
export class DocumentServer {
  private readonly documents = new Map<string, ServedDocument>();
  private readonly counts = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.answer(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  url(path: string): string {
    return `${this.origin}${path}`;
  }

  serve(path: string, document: ServedDocument): string {
    this.documents.set(path, document);
    return this.url(path);
  }

  requests(path: string): number {
    return this.counts.get(path) ?? 0;
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    this.counts.set(path, (this.counts.get(path) ?? 0) + 1);
    const doc = this.documents.get(path) ?? { status: 404, body: { error: 'not found' } };
    const send = () => {
      this.timers.delete(timer);
      const body = typeof doc.body === 'string' ? doc.body : JSON.stringify(doc.body ?? {});
      res.writeHead(doc.status ?? 200, {
        'content-type': 'application/json',
        'cache-control': 'max-age=300',
        ...doc.headers,
      });
      res.end(body);
    };
    const timer = setTimeout(send, doc.delayMs ?? 0);
    this.timers.add(timer);
  }
}
