import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { freePort } from './test-app.js';

export interface CimdHost {
  /** https://127.0.0.1:<port>: also the `host:port` to put in FETCH_ALLOW_HOSTS. */
  origin: string;
  /** Serves `document` as JSON at `origin + path`. */
  publish(path: string, document: unknown): string;
  /** How often each path was fetched. */
  fetches: Map<string, number>;
  close(): Promise<void>;
}

/**
 * An https server on 127.0.0.1 with a throwaway self-signed certificate, for Client ID
 * Metadata Documents. The MCP SDK only accepts an https `clientMetadataUrl` (SEP-991), so the
 * document cannot be served over plain http. While the host runs, the process trusts its
 * certificate besides the usual roots: what NODE_EXTRA_CA_CERTS does, which Node 20 reads only
 * at startup. Latchkey still needs the host in FETCH_ALLOW_HOSTS, since 127.0.0.1 is not a
 * public address.
 */
export async function startCimdHost(): Promise<CimdHost> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-cimd-'));
  let cert: Buffer;
  let key: Buffer;
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    cert = readFileSync(join(dir, 'cert.pem'));
    key = readFileSync(join(dir, 'key.pem'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const documents = new Map<string, string>();
  const fetches = new Map<string, number>();
  const server: Server = createServer({ cert, key }, (req, res) => {
    const path = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
    fetches.set(path, (fetches.get(path) ?? 0) + 1);
    const body = documents.get(path);
    if (req.method !== 'GET' || body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
    res.end(body);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));

  const original = tls.createSecureContext;
  const ca = [...tls.rootCertificates, cert.toString('utf8')];
  tls.createSecureContext = (options) =>
    original(options?.ca === undefined ? { ...options, ca } : options);

  const origin = `https://127.0.0.1:${port}`;
  return {
    origin,
    fetches,
    publish(path, document) {
      documents.set(path, JSON.stringify(document));
      return `${origin}${path}`;
    },
    close: () => {
      tls.createSecureContext = original;
      server.closeAllConnections();
      return new Promise((resolve, reject) =>
        server.close((err) => (err ? reject(err) : resolve())),
      );
    },
  };
}
