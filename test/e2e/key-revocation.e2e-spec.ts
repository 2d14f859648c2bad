import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeProtectedHeader, type JWK } from 'jose';
import pg from 'pg';
import { RemoteAccessTokenVerifier } from '../../src/auth-guards/access-token-verifier.js';
import { AccessTokenRejected } from '../../src/tokens/access-tokens.service.js';
import { createTestDatabase, dropTestDatabase } from '../utils/database.js';
import {
  basicAuth,
  eventually,
  postForm,
  startTestApp,
  tokenRequest,
  type TestApp,
  type TestClient,
} from '../utils/test-app.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'dist/src/cli.js');
/** Word for word the statement in docs/operations.md (Backup and restore). */
const LOST_MASTER_KEY_SQL = `UPDATE signing_keys
   SET state = 'retired', retired_at = coalesce(retired_at, now()),
       expires_at = now(), revoked_at = now()
 WHERE revoked_at IS NULL;`;

interface Key {
  kid: string;
  use: 'access_token' | 'id_token';
  state: 'pending' | 'active' | 'retired' | 'revoked';
  retired_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

interface Revocation {
  revoked: Key;
  replacement: Key | null;
}

/**
 * POST /admin/keys/:kid/revoke and `keys revoke`, on a database of their own: revoking the
 * active key kills every token it signed, which would break specs sharing the run's database.
 */
describe('revoking a signing key', () => {
  let database: { name: string; url: string };
  let sut: TestApp;
  let node2: TestApp;
  let client: TestClient;

  beforeAll(async () => {
    database = await createTestDatabase();
    sut = await startTestApp({ DATABASE_URL: database.url });
    // A second node of the same deployment: same database and issuer.
    node2 = await startTestApp({ DATABASE_URL: database.url, ISSUER: sut.baseUrl });
    client = await sut.createClient({ allowed_scopes: ['reports:read'] });
  }, 60_000);

  afterAll(async () => {
    await node2?.close();
    await sut?.close();
    if (database) await dropTestDatabase(database.name);
  }, 60_000);

  async function accessToken(): Promise<string> {
    const response = await tokenRequest(sut.baseUrl, client, { grant_type: 'client_credentials' });
    expect(response.status).toBe(200);
    return ((await response.json()) as { access_token: string }).access_token;
  }

  async function admin(method: string, path: string, token?: string): Promise<Response> {
    return fetch(`${sut.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token ?? (await sut.adminToken())}` },
    });
  }

  async function keys(): Promise<Key[]> {
    const response = await admin('GET', '/admin/keys');
    expect(response.status).toBe(200);
    return ((await response.json()) as { data: Key[] }).data;
  }

  async function revoke(kid: string): Promise<Revocation> {
    const response = await admin('POST', `/admin/keys/${kid}/revoke`);
    expect(response.status).toBe(200);
    return (await response.json()) as Revocation;
  }

  async function active(use: Key['use']): Promise<Key> {
    const found = (await keys()).filter((key) => key.use === use && key.state === 'active');
    expect(found).toHaveLength(1);
    return found[0];
  }

  async function jwksKids(node: TestApp): Promise<string[]> {
    const response = await fetch(`${node.baseUrl}/.well-known/jwks.json`);
    return ((await response.json()) as { keys: JWK[] }).keys.map((key) => key.kid ?? '');
  }

  async function introspect(node: TestApp, token: string): Promise<Record<string, unknown>> {
    const response = await postForm(
      `${node.baseUrl}/oauth/introspect`,
      { token },
      { authorization: basicAuth(client) },
    );
    expect(response.status).toBe(200);
    return (await response.json()) as Record<string, unknown>;
  }

  function remoteVerify(token: string): Promise<unknown> {
    // A fresh verifier, as a resource server would have after fetching the JWKS again.
    return new RemoteAccessTokenVerifier({
      issuer: sut.baseUrl,
      jwksUri: `${sut.baseUrl}/.well-known/jwks.json`,
    }).verify(token, {});
  }

  it('replaces the active key at once; it leaves the JWKS and its tokens stop verifying on every node', async () => {
    const oldToken = await accessToken();
    const oldAdminToken = await sut.adminToken();
    const kid = decodeProtectedHeader(oldToken).kid ?? '';
    expect((await active('access_token')).kid).toBe(kid);
    await expect(remoteVerify(oldToken)).resolves.toMatchObject({ client_id: client.client_id });
    expect(await introspect(node2, oldToken)).toMatchObject({ active: true });

    const result = await revoke(kid);

    expect(result.revoked).toMatchObject({ kid, use: 'access_token', state: 'revoked' });
    expect(result.revoked.revoked_at).not.toBeNull();
    expect(result.revoked.expires_at).toBe(result.revoked.revoked_at);
    expect(result.replacement).toMatchObject({ use: 'access_token', state: 'active' });
    const replacement = result.replacement?.kid ?? '';
    expect(replacement).not.toBe(kid);

    expect(await jwksKids(sut)).not.toContain(kid);
    expect(await jwksKids(sut)).toContain(replacement);
    expect(await introspect(sut, oldToken)).toEqual({ active: false });
    const guarded = await admin('GET', '/admin/keys', oldAdminToken);
    expect(guarded.status).toBe(401);
    expect(guarded.headers.get('www-authenticate')).toContain(
      'error_description="the access token signature is not valid"',
    );
    await expect(remoteVerify(oldToken)).rejects.toEqual(new AccessTokenRejected('signature'));

    const newToken = await accessToken();
    expect(decodeProtectedHeader(newToken).kid).toBe(replacement);
    expect(await introspect(sut, newToken)).toMatchObject({ active: true });

    // The other node hears of it through the `keys` event.
    expect(
      await eventually(async () => {
        const kids = await jwksKids(node2);
        return !kids.includes(kid) && kids.includes(replacement);
      }),
    ).toBe(true);
    expect(await introspect(node2, oldToken)).toEqual({ active: false });
    expect(await introspect(node2, newToken)).toMatchObject({ active: true });

    const listed = (await keys()).find((key) => key.kid === kid);
    expect(listed).toMatchObject({ state: 'revoked', revoked_at: result.revoked.revoked_at });
    expect(
      (await keys())
        .filter((key) => key.state === 'active')
        .map((key) => key.use)
        .sort(),
    ).toEqual(['access_token', 'id_token']);
  });

  it('promotes the newest pending key of the same use in place of the revoked active one', async () => {
    const rotated = await admin('POST', '/admin/keys/rotate');
    expect(rotated.status).toBe(200);
    const pending = ((await rotated.json()) as { data: Key[] }).data;
    const pendingAccess = pending.find((key) => key.use === 'access_token');
    const pendingId = pending.find((key) => key.use === 'id_token');
    expect(pendingAccess?.state).toBe('pending');
    const current = await active('access_token');

    const result = await revoke(current.kid);

    expect(result.replacement).toMatchObject({ kid: pendingAccess?.kid, state: 'active' });
    expect(decodeProtectedHeader(await accessToken()).kid).toBe(pendingAccess?.kid);
    // The ID-token side is left alone: its pending key still waits for its promotion time.
    const after = await keys();
    expect(after.find((key) => key.kid === pendingId?.kid)?.state).toBe('pending');
  });

  it('revokes a pending key without touching the active ones', async () => {
    const rotated = await admin('POST', '/admin/keys/rotate');
    const pending = ((await rotated.json()) as { data: Key[] }).data.find(
      (key) => key.use === 'id_token',
    );
    const activeBefore = (await keys()).filter((key) => key.state === 'active');
    expect(await jwksKids(sut)).toContain(pending?.kid);

    const result = await revoke(pending?.kid ?? '');

    expect(result).toMatchObject({
      revoked: { kid: pending?.kid, state: 'revoked' },
      replacement: null,
    });
    expect(await jwksKids(sut)).not.toContain(pending?.kid);
    expect((await keys()).filter((key) => key.state === 'active')).toEqual(activeBefore);
  });

  it('changes nothing on a second revocation, and answers 404 for an unknown key and 401 without a token', async () => {
    const current = await active('access_token');
    const first = await revoke(current.kid);
    const replacement = first.replacement?.kid;
    const before = await keys();

    const again = await revoke(current.kid);

    expect(again).toEqual({ revoked: first.revoked, replacement: null });
    expect(await keys()).toEqual(before);
    expect((await active('access_token')).kid).toBe(replacement);

    for (const kid of ['A'.repeat(43), 'not-a-kid!', 'x'.repeat(200)]) {
      const response = await admin('POST', `/admin/keys/${encodeURIComponent(kid)}/revoke`);
      expect({ status: response.status, body: await response.json() }).toEqual({
        status: 404,
        body: { statusCode: 404, code: 'key_not_found', message: 'signing key not found' },
      });
    }
    const anonymous = await fetch(`${sut.baseUrl}/admin/keys/${replacement}/revoke`, {
      method: 'POST',
    });
    expect(anonymous.status).toBe(401);
    expect(await keys()).toEqual(before);
  });

  it('writes an audit event with the key, its use and its replacement', async () => {
    const current = await active('id_token');
    const result = await revoke(current.kid);

    let events: { type: string; details: Record<string, unknown> }[] = [];
    const found = await eventually(async () => {
      const response = await admin('GET', '/admin/audit-events?type=key.revoked');
      events = ((await response.json()) as { data: typeof events }).data.filter(
        (event) => event.details.kid === current.kid,
      );
      return events.length > 0;
    }, 5000);
    expect(found).toBe(true);
    expect(events).toHaveLength(1);
    expect(events[0].details).toEqual({
      via: 'api',
      kid: current.kid,
      use: 'id_token',
      previous_state: 'active',
      replacement_kid: result.replacement?.kid,
    });
  });

  it('revokes from the command line too, and the running nodes drop the key', async () => {
    const current = await active('access_token');
    const env = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: database.url,
      MASTER_KEY: process.env.MASTER_KEY ?? '',
      ISSUER: sut.baseUrl,
      NODE_ENV: 'test',
    };

    const result = await runCli(['keys', 'revoke', current.kid], env);

    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout) as {
      revoked: { kid: string; state: string };
      replacement: { kid: string; use: string; state: string } | null;
    };
    expect(output.revoked).toMatchObject({ kid: current.kid, state: 'revoked' });
    expect(output.replacement).toMatchObject({ use: 'access_token', state: 'active' });
    for (const node of [sut, node2]) {
      expect(
        await eventually(async () => {
          const kids = await jwksKids(node);
          return !kids.includes(current.kid) && kids.includes(output.replacement?.kid ?? '');
        }),
      ).toBe(true);
    }

    const unknown = await runCli(['keys', 'revoke', 'A'.repeat(43)], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('signing key not found');
  }, 60_000);
});

function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', fail);
    child.once('exit', (code) => done({ code, stdout, stderr }));
  });
}

/** docs/operations.md: what to do when MASTER_KEY is lost but the database is not. */
describe('starting again after losing MASTER_KEY', () => {
  let database: { name: string; url: string };

  beforeAll(async () => {
    database = await createTestDatabase();
  }, 60_000);

  afterAll(async () => {
    if (database) await dropTestDatabase(database.name);
  }, 60_000);

  it('refuses to start with another key, and starts with new signing keys once the old ones are revoked in SQL', async () => {
    const first = await startTestApp({ DATABASE_URL: database.url, MASTER_KEY: 'a'.repeat(64) });
    const client = await first.createClient({ allowed_scopes: ['reports:read'] });
    const oldKids = await first.dataSource.query<{ kid: string }[]>(`SELECT kid FROM signing_keys`);
    await first.close();

    // The stored private keys do not open with another key (AES-GCM authentication fails).
    await expect(
      startTestApp({ DATABASE_URL: database.url, MASTER_KEY: 'b'.repeat(64) }),
    ).rejects.toThrow('unable to authenticate data');

    // The documented statement, run as an operator would with psql.
    const pgClient = new pg.Client({ connectionString: database.url });
    await pgClient.connect();
    try {
      await pgClient.query(LOST_MASTER_KEY_SQL);
    } finally {
      await pgClient.end();
    }
    const second = await startTestApp({ DATABASE_URL: database.url, MASTER_KEY: 'b'.repeat(64) });
    try {
      const response = await tokenRequest(second.baseUrl, client, {
        grant_type: 'client_credentials',
      });
      expect(response.status).toBe(200);
      const token = ((await response.json()) as { access_token: string }).access_token;
      const jwks = (await (await fetch(`${second.baseUrl}/.well-known/jwks.json`)).json()) as {
        keys: JWK[];
      };
      const kids = jwks.keys.map((key) => key.kid);
      expect(kids).toContain(decodeProtectedHeader(token).kid);
      for (const { kid } of oldKids) expect(kids).not.toContain(kid);
    } finally {
      await second.close();
    }
  }, 60_000);
});
