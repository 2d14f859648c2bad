import { jest } from '@jest/globals';
import { getRepositoryToken } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import type { Repository } from 'typeorm';
import { ClientsService } from '../../src/clients/clients.service.js';
import { ClientEntity } from '../../src/clients/entities/client.entity.js';
import { EventBus } from '../../src/database/event-bus.service.js';
import {
  basicAuth,
  eventually,
  postForm,
  startTestApp,
  type TestApp,
  type TestClient,
} from '../utils/test-app.js';

const FAILED = 'client authentication failed';
const REQUIRED = 'client authentication is required';
const CHALLENGE = 'Basic realm="latchkey", charset="UTF-8"';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Attempt {
  /** The Authorization header, as sent. */
  authorization?: string;
  /** Extra body parameters (client_id, client_secret). */
  body?: Record<string, string>;
  /** A raw body, instead of `body`. */
  rawBody?: string;
  path?: string;
}

/** A client_credentials request: 200 when the client authenticated (the clients here may get a scope). */
function attempt(app: TestApp, { authorization, body, rawBody, path = '' }: Attempt) {
  return postForm(
    `${app.baseUrl}/oauth/token${path}`,
    rawBody ?? { grant_type: 'client_credentials', ...body },
    authorization === undefined ? {} : { authorization },
  );
}

function basic(clientId: string, secret: string): string {
  return basicAuth({ client_id: clientId, client_secret: secret });
}

function postCredentials(client: TestClient): Record<string, string> {
  return { client_id: client.client_id, client_secret: client.client_secret };
}

async function expectInvalidClient(response: Response, description = FAILED): Promise<void> {
  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toBe(CHALLENGE);
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(await response.json()).toEqual({
    error: 'invalid_client',
    error_description: description,
  });
}

async function expectAccepted(response: Response): Promise<void> {
  const body = (await response.json()) as Record<string, unknown>;
  expect(response.status).toBe(200);
  expect(typeof body.access_token).toBe('string');
}

describe('client authentication at the token endpoint', () => {
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startTestApp();
  });

  afterAll(async () => {
    await sut.close();
  });

  const basicClient = () => sut.createClient({ allowed_scopes: ['reports:read'] });
  const postClient = () =>
    sut.createClient({
      allowed_scopes: ['reports:read'],
      token_endpoint_auth_method: 'client_secret_post',
    });

  /** The client's stored configuration and secret hash, without last_used_at. */
  async function clientRow(clientId: string): Promise<Record<string, unknown> | undefined> {
    const rows = await sut.dataSource.query<Record<string, unknown>[]>(
      `SELECT id, name, type, secret_hash, secret_rotated_at, grant_types, allowed_scopes,
              service_roles, token_endpoint_auth_method, updated_at
       FROM clients WHERE id = $1`,
      [clientId],
    );
    return rows[0];
  }

  /** Runs a failing attempt and shows that the client's row did not change. */
  async function expectRefusedUnchanged(
    client: TestClient,
    request: Attempt,
    description = FAILED,
  ): Promise<void> {
    const before = await clientRow(client.client_id);
    expect(before).toBeDefined();
    await expectInvalidClient(await attempt(sut, request), description);
    expect(await clientRow(client.client_id)).toEqual(before);
  }

  describe('client_secret_basic', () => {
    it('accepts the registered method', async () => {
      const client = await basicClient();
      await expectAccepted(await attempt(sut, { authorization: basicAuth(client) }));
    });

    it('accepts the scheme name in any case', async () => {
      const client = await basicClient();
      const header = basicAuth(client).replace(/^Basic/, 'bAsIc');
      await expectAccepted(await attempt(sut, { authorization: header }));
    });

    it('accepts a body client_id equal to the Basic one', async () => {
      const client = await basicClient();
      await expectAccepted(
        await attempt(sut, {
          authorization: basicAuth(client),
          body: { client_id: client.client_id },
        }),
      );
    });

    it('refuses client_secret_post for a client registered with client_secret_basic', async () => {
      const client = await basicClient();
      await expectRefusedUnchanged(client, { body: postCredentials(client) });
    });

    it('refuses a wrong secret', async () => {
      const client = await basicClient();
      await expectRefusedUnchanged(client, {
        authorization: basic(client.client_id, `${client.client_secret}x`),
      });
      await expectRefusedUnchanged(client, {
        authorization: basic(client.client_id, client.client_secret.slice(0, -1)),
      });
      const other = await basicClient();
      await expectRefusedUnchanged(client, {
        authorization: basic(client.client_id, other.client_secret),
      });
    });

    it('refuses a body client_id different from the Basic one', async () => {
      const client = await basicClient();
      const other = await basicClient();
      await expectRefusedUnchanged(client, {
        authorization: basicAuth(client),
        body: { client_id: other.client_id },
      });
      expect(await clientRow(other.client_id)).toBeDefined();
    });

    it('refuses Basic together with client_secret in the body (RFC 6749 §2.3)', async () => {
      const client = await basicClient();
      const before = await clientRow(client.client_id);
      const response = await attempt(sut, {
        authorization: basicAuth(client),
        body: { client_secret: client.client_secret },
      });
      expect(response.status).toBe(400);
      expect(response.headers.get('www-authenticate')).toBeNull();
      expect(await response.json()).toEqual({
        error: 'invalid_request',
        error_description: 'use either HTTP Basic or client_secret in the body, not both',
      });
      expect(await clientRow(client.client_id)).toEqual(before);
    });

    it.each([
      ['characters outside base64', () => 'Basic !!!!'],
      ['no colon', (c: TestClient) => `Basic ${b64(c.client_id + c.client_secret)}`],
      ['an empty client id', (c: TestClient) => `Basic ${b64(`:${c.client_secret}`)}`],
      ['an empty secret', (c: TestClient) => `Basic ${b64(`${c.client_id}:`)}`],
      ['bad percent-encoding', (c: TestClient) => `Basic ${b64(`${c.client_id}:%ZZ`)}`],
      ['an over-long value', () => `Basic ${'A'.repeat(4096)}`],
      ['base64 with inner padding', (c: TestClient) => `Basic ${b64(c.client_id)}=${b64(':x')}`],
    ])('refuses a malformed Basic header (%s)', async (_label, header) => {
      const client = await basicClient();
      await expectRefusedUnchanged(client, { authorization: header(client) });
    });

    it('refuses a client id that differs only in case', async () => {
      const client = await basicClient();
      expect(client.client_id).toMatch(UUID);
      await expectRefusedUnchanged(client, {
        authorization: basic(client.client_id.toUpperCase(), client.client_secret),
      });
    });
  });

  describe('client_secret_post', () => {
    it('accepts the registered method', async () => {
      const client = await postClient();
      await expectAccepted(await attempt(sut, { body: postCredentials(client) }));
    });

    it('refuses client_secret_basic for a client registered with client_secret_post', async () => {
      const client = await postClient();
      await expectRefusedUnchanged(client, { authorization: basicAuth(client) });
    });

    it('refuses a wrong secret', async () => {
      const client = await postClient();
      await expectRefusedUnchanged(client, {
        body: { client_id: client.client_id, client_secret: `${client.client_secret}x` },
      });
      await expectRefusedUnchanged(client, {
        body: { client_id: client.client_id, client_secret: '' },
      });
    });

    it('refuses a confidential client that sends no secret', async () => {
      const client = await postClient();
      await expectRefusedUnchanged(client, { body: { client_id: client.client_id } });
      const basicOne = await basicClient();
      await expectRefusedUnchanged(basicOne, { body: { client_id: basicOne.client_id } });
    });

    it('refuses an over-long client_id or secret', async () => {
      const client = await postClient();
      await expectRefusedUnchanged(client, {
        body: { client_id: client.client_id, client_secret: 'x'.repeat(600) },
      });
      await expectInvalidClient(
        await attempt(sut, { body: { client_id: 'x'.repeat(600), client_secret: 'x' } }),
      );
    });

    it('refuses repeated credentials in the body', async () => {
      const client = await postClient();
      const before = await clientRow(client.client_id);
      const body = new URLSearchParams({
        grant_type: 'client_credentials',
        ...postCredentials(client),
      });
      body.append('client_secret', client.client_secret);
      const response = await attempt(sut, { rawBody: body.toString() });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: 'invalid_request',
        error_description: 'parameter client_secret must not be repeated',
      });
      expect(await clientRow(client.client_id)).toEqual(before);
    });
  });

  describe('unknown, missing and public credentials', () => {
    it('answers an unknown client exactly like a wrong secret', async () => {
      const client = await basicClient();
      const unknownId = randomUUID();
      await expectInvalidClient(
        await attempt(sut, { authorization: basic(unknownId, client.client_secret) }),
      );
      await expectInvalidClient(
        await attempt(sut, { body: { client_id: unknownId, client_secret: client.client_secret } }),
      );
      const rows = await sut.dataSource.query<unknown[]>(`SELECT id FROM clients WHERE id = $1`, [
        unknownId,
      ]);
      expect(rows).toHaveLength(0);
    });

    it('refuses a client id with a NUL character, which no stored id can hold', async () => {
      const client = await basicClient();
      const withNul = `${client.client_id}\u0000`;
      await expectRefusedUnchanged(client, { authorization: basic(withNul, client.client_secret) });
      await expectRefusedUnchanged(client, {
        body: { client_id: withNul, client_secret: client.client_secret },
      });
      await expectRefusedUnchanged(client, { body: { client_id: '\u0000' } });
    });

    it('requires client authentication', async () => {
      await expectInvalidClient(await attempt(sut, {}), REQUIRED);
      await expectInvalidClient(await attempt(sut, { body: { client_id: '' } }), REQUIRED);
    });

    it('does not take a non-Basic Authorization header as client authentication', async () => {
      const client = await basicClient();
      await expectRefusedUnchanged(
        client,
        { authorization: `Bearer ${client.client_secret}` },
        REQUIRED,
      );
    });

    it('ignores credentials in the query string (RFC 6749 §2.3.1)', async () => {
      const client = await postClient();
      const query = new URLSearchParams(postCredentials(client)).toString();
      await expectRefusedUnchanged(client, { path: `?${query}` }, REQUIRED);
    });

    it('refuses a secret sent by a public client', async () => {
      const client = await sut.createClient({
        client_type: 'public',
        redirect_uris: ['http://127.0.0.1/callback'],
      });
      expect(client.client_secret).toBe('');
      await expectRefusedUnchanged(client, {
        body: { client_id: client.client_id, client_secret: 'lk_cs_guess' },
      });
      await expectRefusedUnchanged(client, {
        authorization: basic(client.client_id, 'lk_cs_guess'),
      });
    });

    it('issues UUID client ids and lk_cs_ secrets of 256 bits', async () => {
      const client = await basicClient();
      expect(client.client_id).toMatch(UUID);
      expect(client.client_secret).toMatch(/^lk_cs_[A-Za-z0-9_-]{43}$/);
      const row = await clientRow(client.client_id);
      // Only the SHA-256 of the secret is stored.
      expect(row?.secret_hash).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(JSON.stringify(row)).not.toContain(client.client_secret);
    });
  });

  describe('secret rotation and deletion', () => {
    it('refuses the old secret at once after a rotation, and accepts the new one', async () => {
      const client = await basicClient();
      await expectAccepted(await attempt(sut, { authorization: basicAuth(client) }));

      const rotated = await sut.app.get(ClientsService).rotateSecret(client.client_id);
      expect(rotated.client_id).toBe(client.client_id);
      expect(rotated.client_secret).not.toBe(client.client_secret);

      await expectInvalidClient(await attempt(sut, { authorization: basicAuth(client) }));
      await expectAccepted(
        await attempt(sut, { authorization: basic(client.client_id, rotated.client_secret) }),
      );
    });

    it('refuses a deleted client', async () => {
      const client = await postClient();
      await expectAccepted(await attempt(sut, { body: postCredentials(client) }));
      await sut.app.get(ClientsService).remove(client.client_id);
      await expectInvalidClient(await attempt(sut, { body: postCredentials(client) }));
      expect(await clientRow(client.client_id)).toBeUndefined();
    });

    it('records a use only for a successful authentication', async () => {
      const clients = sut.app.get(ClientsService);
      // The service writes last_used_at in batches; flush the batch instead of waiting for it.
      const flush = () =>
        (clients as unknown as { flushLastUsed(): Promise<void> }).flushLastUsed();
      const lastUsed = async (id: string) =>
        (
          await sut.dataSource.query<{ last_used_at: Date | null }[]>(
            `SELECT last_used_at FROM clients WHERE id = $1`,
            [id],
          )
        )[0].last_used_at;

      const refused = await basicClient();
      await expectInvalidClient(
        await attempt(sut, { authorization: basic(refused.client_id, 'lk_cs_wrong') }),
      );
      await flush();
      expect(await lastUsed(refused.client_id)).toBeNull();

      const accepted = await basicClient();
      await expectAccepted(await attempt(sut, { authorization: basicAuth(accepted) }));
      await flush();
      expect(await lastUsed(accepted.client_id)).toBeInstanceOf(Date);
    });
  });

  describe('across processes (LISTEN/NOTIFY)', () => {
    let peer: TestApp;
    let adminToken: string;

    beforeAll(async () => {
      // A second server on the same database: a cluster of two nodes.
      peer = await startTestApp();
      adminToken = await sut.adminToken();
    });

    afterAll(async () => {
      await peer.close();
    });

    const status = async (app: TestApp, authorization: string) =>
      (await attempt(app, { authorization })).status;

    it('a secret rotated on one node stops working on the other', async () => {
      // Authenticating on the peer caches the client there. A change written without NOTIFY
      // is then not seen by the peer, which shows that what follows exercises the notification,
      // not a database read. The peer does not cache a read that overlapped an invalidation
      // (other spec files change clients all the time), so this may take a few clients.
      let client: TestClient | undefined;
      for (let i = 0; i < 5 && client === undefined; i++) {
        const candidate = await basicClient();
        await expectAccepted(await attempt(peer, { authorization: basicAuth(candidate) }));
        await sut.dataSource.query(`UPDATE clients SET secret_hash = $2 WHERE id = $1`, [
          candidate.client_id,
          'A'.repeat(43),
        ]);
        if ((await status(peer, basicAuth(candidate))) === 200) client = candidate;
      }
      if (client === undefined) throw new Error('the peer never answered from its cache');
      const oldHeader = basicAuth(client);

      const response = await fetch(`${sut.baseUrl}/admin/clients/${client.client_id}/secret`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(response.status).toBe(200);
      const rotated = (await response.json()) as TestClient;
      expect(rotated.client_id).toBe(client.client_id);
      const newHeader = basic(client.client_id, rotated.client_secret);

      // The node that rotated applies the change at once.
      await expectInvalidClient(await attempt(sut, { authorization: oldHeader }));
      await expectAccepted(await attempt(sut, { authorization: newHeader }));

      // The peer learns it through NOTIFY: bounded polling, not a timing assertion.
      const converged = await eventually(
        async () =>
          (await status(peer, oldHeader)) === 401 && (await status(peer, newHeader)) === 200,
      );
      expect(converged).toBe(true);
      await expectInvalidClient(await attempt(peer, { authorization: oldHeader }));
      await expectAccepted(await attempt(peer, { authorization: newHeader }));
    });

    it('a client deleted on one node is refused on the other', async () => {
      const client = await basicClient();
      const header = basicAuth(client);
      await expectAccepted(await attempt(peer, { authorization: header }));

      const response = await fetch(`${sut.baseUrl}/admin/clients/${client.client_id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(response.status).toBe(204);

      expect(await eventually(async () => (await status(peer, header)) === 401)).toBe(true);
      await expectInvalidClient(await attempt(peer, { authorization: header }));
    });

    it('a read in flight during a rotation does not leave the old secret cached', async () => {
      // Events for each client id, as the peer receives them.
      const seen = new Map<string, number>();
      const waiters: (() => void)[] = [];
      peer.app.get(EventBus).subscribe('clients', (id) => {
        seen.set(id, (seen.get(id) ?? 0) + 1);
        for (const wake of waiters.splice(0)) wake();
      });
      const eventsFor = (id: string) => seen.get(id) ?? 0;
      const untilEvents = async (id: string, count: number) => {
        while (eventsFor(id) < count) await new Promise<void>((resolve) => waiters.push(resolve));
      };

      const client = await basicClient();
      // The creation event must reach the peer first, so that the next event is the rotation.
      await untilEvents(client.client_id, 1);
      const oldHeader = basicAuth(client);

      // Hold the peer's database read of this client until the rotation's NOTIFY has reached
      // the peer: the read then returns the row as it was, after the cache was invalidated.
      const repository = peer.app.get<Repository<ClientEntity>>(getRepositoryToken(ClientEntity));
      // A cache miss reads the row with one plain query (ClientsService.findRecord).
      const query = repository.query.bind(repository);
      let readDone!: () => void;
      const read = new Promise<void>((resolve) => (readDone = resolve));
      const held = jest
        .spyOn(repository, 'query')
        .mockImplementation(async (...args: Parameters<typeof query>) => {
          const rows = await query<{ id?: string }[]>(...args);
          if (rows[0]?.id === client.client_id) {
            readDone();
            await untilEvents(client.client_id, 2);
          }
          return rows;
        });
      try {
        const inFlight = attempt(peer, { authorization: oldHeader });
        await read;
        const rotated = await sut.app.get(ClientsService).rotateSecret(client.client_id);
        // The request started before the rotation, so it may still succeed.
        expect((await inFlight).status).toBe(200);
        held.mockRestore();

        const newHeader = basic(client.client_id, rotated.client_secret);
        const converged = await eventually(
          async () =>
            (await status(peer, oldHeader)) === 401 && (await status(peer, newHeader)) === 200,
        );
        expect(converged).toBe(true);
      } finally {
        held.mockRestore();
      }
    });

    it('a client created on one node is usable on the other, even after an unknown-id probe there', async () => {
      // The peer remembers unknown ids for a while; creating the client must clear that.
      const id = randomUUID();
      await expectInvalidClient(await attempt(peer, { authorization: basic(id, 'lk_cs_probe') }));
      const created = await sut.app
        .get(ClientsService)
        .create({ client_name: `probe ${randomUUID()}`, allowed_scopes: ['reports:read'] }, { id });
      const header = basic(id, created.client_secret ?? '');
      expect(await eventually(async () => (await status(peer, header)) === 200)).toBe(true);
    });
  });
});

function b64(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64');
}
