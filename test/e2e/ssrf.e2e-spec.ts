import { Writable } from 'node:stream';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/app-config.js';
import { setLogger } from '../../src/common/logger.js';
import { FetchRefused, SafeFetcher } from '../../src/common/safe-fetch.js';
import { DocumentServer } from '../utils/document-server.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

interface LogLine {
  clientId?: string;
  reason?: string;
  detail?: string;
}

/**
 * Client metadata URLs that point inside the network are refused before any connection: the
 * address check runs on the resolved addresses first. Nothing here ever connects to 10.x or
 * 169.254.x (the refusal reason proves the check refused, not a failed connection).
 */
describe('SSRF protection of outbound fetches', () => {
  const logs: LogLine[] = [];
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startTestApp();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (line.trim()) logs.push(JSON.parse(line) as LogLine);
        }
        done();
      },
    });
    setLogger(pino({ level: 'info' }, sink));
  });

  afterAll(async () => {
    setLogger(pino({ level: 'silent' }));
    await sut.close();
  });

  async function refusal(fetcher: SafeFetcher, url: string): Promise<string> {
    try {
      await fetcher.fetchJson(url);
    } catch (err) {
      if (err instanceof FetchRefused) return `${err.reason}: ${err.message}`;
      throw err;
    }
    throw new Error('the fetch was not refused');
  }

  it.each([
    ['https://127.0.0.1/client', 'address: the host resolves to a loopback address'],
    ['https://10.0.0.1/client', 'address: the host resolves to a private address'],
    [
      'https://169.254.169.254/latest/meta-data',
      'address: the host resolves to a link_local address',
    ],
    ['https://[::1]/client', 'address: the host resolves to a loopback address'],
    ['https://[::ffff:a9fe:a9fe]/client', 'address: the host resolves to a link_local address'],
    ['https://localhost/client', 'address: the host resolves to a loopback address'],
    ['http://93.184.215.14/client', 'scheme: only https URLs are fetched'],
  ])('refuses %s before connecting', async (url, expected) => {
    expect(await refusal(sut.app.get(SafeFetcher), url)).toBe(expected);
  });

  it.each([
    'https://127.0.0.1/client',
    'https://10.0.0.1/client',
    'https://169.254.169.254/latest/meta-data',
    'https://[::1]/client',
    'https://localhost/client',
  ])('shows the unknown-application page for the client id %s', async (clientId) => {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: 'https://agent.example.net/callback',
      code_challenge: 'c'.repeat(43),
      code_challenge_method: 'S256',
    });
    const response = await fetch(`${sut.baseUrl}/oauth/authorize?${query.toString()}`, {
      redirect: 'manual',
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('Unknown application');
    const line = logs.find((entry) => entry.clientId === clientId && entry.reason !== undefined);
    expect(line?.reason).toBe('address');
  });

  it('does not follow a redirect, even from an allow-listed host', async () => {
    const docs = new DocumentServer();
    await docs.start();
    try {
      const url = docs.serve('/moved', {
        status: 302,
        headers: { location: 'http://169.254.169.254/latest/meta-data' },
      });
      const fetcher = new SafeFetcher(
        loadConfig({ NODE_ENV: 'test', FETCH_ALLOW_HOSTS: `127.0.0.1:${docs.port}` }),
      );
      expect(await refusal(fetcher, url)).toBe('redirect: redirects are not followed');
      expect(docs.requests('/moved')).toBe(1);
    } finally {
      await docs.stop();
    }
  });

  it('allow-lists exactly the listed host and port', async () => {
    const docs = new DocumentServer();
    await docs.start();
    try {
      const url = docs.serve('/doc', { body: { ok: true } });
      const listed = new SafeFetcher(
        loadConfig({ NODE_ENV: 'test', FETCH_ALLOW_HOSTS: `127.0.0.1:${docs.port}` }),
      );
      expect((await listed.fetchJson(url)).body).toEqual({ ok: true });
      const otherPort = new SafeFetcher(
        loadConfig({ NODE_ENV: 'test', FETCH_ALLOW_HOSTS: `127.0.0.1:${docs.port + 1}` }),
      );
      expect(await refusal(otherPort, url)).toBe('scheme: only https URLs are fetched');
      expect(docs.requests('/doc')).toBe(1);
    } finally {
      await docs.stop();
    }
  });
});
