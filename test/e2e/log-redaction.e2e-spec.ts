import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, dropTestDatabase } from '../utils/database.js';
import {
  CookieJar,
  SoftAuthenticator,
  authenticate,
  register,
} from '../utils/soft-authenticator.js';
import { basicAuth, freePort, postForm, tokenRequest, type TestClient } from '../utils/test-app.js';
import { pkcePair } from '../utils/user-grants.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'dist/src/cli.js');
const SERVER = join(ROOT, 'dist/src/main.js');
const REDIRECT_URI = 'https://app.example.com/callback';
/** Three base64url segments, the first a JSON object: a compact JWS (or JWE-ish) anywhere. */
const JWT_SHAPED = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/;
const OPAQUE_SECRET = /lk_(cs|st|rt|ac|rat|sid)_[A-Za-z0-9_-]{16,}/;

type Json = Record<string, unknown>;

interface Child {
  process: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Both streams: the server logs to stdout, the CLI to stderr. */
  output: () => string;
  exited: Promise<void>;
}

/** Runs a built entry point with only the given environment, collecting stdout and stderr. */
function run(script: string, args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  return {
    process: child,
    stdout: () => stdout,
    stderr: () => stderr,
    output: () => stdout + stderr,
    exited,
  };
}

/**
 * Drives the real server, started from the build like in production, through every flow that
 * handles a credential, at the most verbose log level; then no secret it saw may appear in the
 * log. Relies on `npm test`'s pretest build (run `npm run build` before running it alone).
 */
describe('log redaction', () => {
  let database: { name: string; url: string };
  let server: Child | undefined;
  let issuer: string;
  let bootstrapStderr = '';
  /** Every credential, token, code, cookie and email the run handled. */
  const secrets = new Set<string>();

  function keep(value: unknown): string {
    if (typeof value !== 'string' || value.length < 8) {
      throw new Error(`expected a secret, got ${JSON.stringify(value)}`);
    }
    secrets.add(value);
    // A JWT's payload and signature are secret on their own (the header is shared by many).
    const parts = value.split('.');
    if (parts.length === 3)
      for (const part of parts.slice(1)) if (part.length >= 8) secrets.add(part);
    return value;
  }

  async function json(response: Response, status: number): Promise<Json> {
    const text = await response.text();
    if (response.status !== status) {
      throw new Error(`expected ${status}, got ${response.status}: ${text.slice(0, 300)}`);
    }
    return text.length === 0 ? {} : (JSON.parse(text) as Json);
  }

  beforeAll(async () => {
    if (!existsSync(CLI) || !existsSync(SERVER)) {
      throw new Error('dist/ is missing: run `npm run build` before this test');
    }
    database = await createTestDatabase();
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    const env = {
      DATABASE_URL: database.url,
      MASTER_KEY: randomBytes(32).toString('hex'),
      ISSUER: issuer,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'trace',
      REGISTRATION_MODE: 'open',
    };
    // Bootstrap first, so the server itself has nothing to print for a person at start.
    const bootstrap = run(CLI, ['bootstrap', '--json'], env);
    await bootstrap.exited;
    // stdout is the one JSON result, for the operator; stderr is the log.
    const printed = JSON.parse(bootstrap.stdout()) as Json;
    bootstrapStderr = bootstrap.stderr();
    keep(printed.client_secret);
    keep(printed.setup_url);
    keep(String(printed.setup_url).slice(String(printed.setup_url).lastIndexOf('/') + 1));

    server = run(SERVER, [], env);
    const deadline = Date.now() + 25_000;
    while (!server.output().includes('latchkey is listening')) {
      if (server.process.exitCode !== null || Date.now() > deadline) {
        throw new Error(`the server did not start:\n${server.output().slice(0, 2000)}`);
      }
      await new Promise((done) => setTimeout(done, 50));
    }
    await driveEverything({
      client_id: printed.client_id as string,
      client_secret: printed.client_secret as string,
    });
    // SIGTERM: a clean shutdown flushes the log.
    server.process.kill('SIGTERM');
    await server.exited;
  }, 60_000);

  afterAll(async () => {
    if (server?.process.exitCode === null && server.process.signalCode === null) {
      server.process.kill('SIGKILL');
    }
    if (database) await dropTestDatabase(database.name);
  }, 30_000);

  async function driveEverything(bootstrapAdmin: TestClient): Promise<void> {
    // Admin API: token, a client with a secret, a user with a setup link.
    const adminToken = keep(
      (
        await json(
          await tokenRequest(issuer, bootstrapAdmin, {
            grant_type: 'client_credentials',
            scope: 'admin',
            resource: `${issuer}/admin`,
          }),
          200,
        )
      ).access_token,
    );
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${issuer}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const created = await json(
      await admin('POST', '/admin/clients', {
        client_name: 'Log Test App',
        client_type: 'confidential',
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        redirect_uris: [REDIRECT_URI],
        service_account_roles: ['admin'],
        allowed_scopes: ['admin'],
      }),
      201,
    );
    const client: TestClient = {
      client_id: created.client_id as string,
      client_secret: keep(created.client_secret),
    };
    const rotated = await json(
      await admin('POST', `/admin/clients/${client.client_id}/secret`),
      200,
    );
    client.client_secret = keep(rotated.client_secret);
    const email = keep(`log-${randomUUID()}@example.com`);
    const user = await json(
      await admin('POST', '/admin/users', { email, display_name: 'Log Person' }),
      201,
    );
    const link = await json(await admin('POST', `/admin/users/${String(user.id)}/setup-link`), 200);
    keep(link.setup_url);
    const setupToken = keep(
      String(link.setup_url).slice(String(link.setup_url).lastIndexOf('/') + 1),
    );

    // client_credentials, both client authentication methods; introspection; revocation.
    const service = keep(
      (
        await json(
          await tokenRequest(issuer, client, {
            grant_type: 'client_credentials',
            scope: 'admin',
            resource: `${issuer}/admin`,
          }),
          200,
        )
      ).access_token,
    );
    // The secret in the body too (refused or not, depending on the registered method).
    const posted = await postForm(`${issuer}/oauth/token`, {
      grant_type: 'client_credentials',
      scope: 'admin',
      resource: `${issuer}/admin`,
      client_id: client.client_id,
      client_secret: client.client_secret,
    });
    const postedBody = (await posted.json()) as Json;
    if (posted.status === 200) keep(postedBody.access_token);
    await json(await tokenRequest(issuer, client, { token: service }, '/oauth/introspect'), 200);
    await json(await tokenRequest(issuer, client, { token: service }, '/oauth/revoke'), 200);

    // The setup page, passkey enrollment and sign-in.
    expect((await fetch(`${issuer}/setup/${setupToken}`)).status).toBe(200);
    const server = { baseUrl: issuer };
    const jar = new CookieJar();
    const authenticator = new SoftAuthenticator('127.0.0.1', issuer);
    expect((await register(server, jar, authenticator, setupToken)).status).toBe(200);
    expect((await authenticate(server, jar, authenticator)).status).toBe(200);
    const cookie = jar.header();
    for (const pair of cookie.split('; ')) keep(pair.slice(pair.indexOf('=') + 1));
    expect((await fetch(`${issuer}/account`, { headers: { cookie } })).status).toBe(200);

    // Authorization code with PKCE, through the consent page.
    const { verifier, challenge } = pkcePair();
    keep(verifier);
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      scope: 'openid email profile offline_access',
      state: 'log-state',
      nonce: 'log-nonce',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const consent = await fetch(`${issuer}/oauth/authorize?${query.toString()}`, {
      headers: { cookie },
      redirect: 'manual',
    });
    const html = await consent.text();
    expect(consent.status).toBe(200);
    const field = (name: string) =>
      (new RegExp(`name='${name}' value='([^']*)'`).exec(html)?.[1] ?? '')
        .replace(/&amp;/g, '&')
        .replace(/&#x3D;/g, '=')
        .replace(/&#x27;/g, "'");
    keep(field('csrf'));
    const decided = await fetch(`${issuer}/oauth/authorize/decision`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({
        request: field('request'),
        csrf: field('csrf'),
        decision: 'approve',
      }),
    });
    expect(decided.status).toBe(303);
    const code = keep(new URL(decided.headers.get('location') ?? '').searchParams.get('code'));
    const redeem = () =>
      tokenRequest(issuer, client, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
      });
    const tokens = await json(await redeem(), 200);
    keep(tokens.access_token);
    keep(tokens.id_token);
    keep(tokens.refresh_token);
    // A replayed code (logged as such, and the grant revoked): a fresh pair is needed after it.
    await json(await redeem(), 400);
    const second = await issueAgain(client, cookie);
    const refreshed = await json(
      await tokenRequest(issuer, client, {
        grant_type: 'refresh_token',
        refresh_token: second.refresh_token as string,
      }),
      200,
    );
    keep(refreshed.access_token);
    keep(refreshed.refresh_token);
    await json(
      await fetch(`${issuer}/oauth/userinfo`, {
        headers: { authorization: `Bearer ${refreshed.access_token as string}` },
      }),
      200,
    );
    // Reuse of the rotated refresh token outside the grace window is not what this spec is
    // about; a refresh token that was never issued is.
    await json(
      await tokenRequest(issuer, client, {
        grant_type: 'refresh_token',
        refresh_token: keep(`lk_rt_${randomBytes(32).toString('base64url')}`),
      }),
      400,
    );

    // Anonymous session token.
    keep(
      (await json(await fetch(`${issuer}/oauth/anonymous`, { method: 'POST' }), 200)).access_token,
    );

    // Dynamic registration and management with the registration access token.
    const registered = await json(
      await fetch(`${issuer}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: 'Log DCR', redirect_uris: [REDIRECT_URI] }),
      }),
      201,
    );
    const rat = keep(registered.registration_access_token);
    if (registered.client_secret !== undefined) keep(registered.client_secret);
    const managed = { authorization: `Bearer ${rat}` };
    await json(await fetch(String(registered.registration_client_uri), { headers: managed }), 200);
    await json(
      await fetch(String(registered.registration_client_uri), {
        method: 'DELETE',
        headers: managed,
      }),
      204,
    );

    // Failures: wrong secrets, forged and malformed tokens, a wrong registration token.
    const wrong = {
      ...client,
      client_secret: keep(`lk_cs_${randomBytes(32).toString('base64url')}`),
    };
    await json(await tokenRequest(issuer, wrong, { grant_type: 'client_credentials' }), 401);
    await json(
      await fetch(`${issuer}/oauth/token`, {
        method: 'POST',
        headers: {
          authorization: keep(basicAuth(wrong)),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials&grant_type=password',
      }),
      400,
    );
    const forged = keep(
      `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.` +
        `${Buffer.from(`{"sub":"${randomUUID()}","scope":"admin"}`).toString('base64url')}.`,
    );
    const garbage = keep(
      `eyJ${randomBytes(24).toString('base64url')}.${randomBytes(40).toString('base64url')}.sig`,
    );
    for (const token of [forged, garbage]) {
      expect(
        (await fetch(`${issuer}/oauth/userinfo`, { headers: { authorization: `Bearer ${token}` } }))
          .status,
      ).toBe(401);
      expect(
        (await fetch(`${issuer}/admin/clients`, { headers: { authorization: `Bearer ${token}` } }))
          .status,
      ).toBe(401);
      await json(await tokenRequest(issuer, client, { token }, '/oauth/introspect'), 200);
    }
    const assertion = keep(
      `eyJhbGciOiJFUzI1NiJ9.${Buffer.from(`{"iss":"${client.client_id}","jti":"${randomUUID()}"}`).toString('base64url')}.${randomBytes(64).toString('base64url')}`,
    );
    await json(
      await postForm(`${issuer}/oauth/token`, {
        grant_type: 'client_credentials',
        client_id: client.client_id,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      }),
      401,
    );
    expect(
      (
        await fetch(String(registered.registration_client_uri), {
          headers: {
            authorization: `Bearer ${keep(`lk_rat_${randomBytes(32).toString('base64url')}`)}`,
          },
        })
      ).status,
    ).toBe(401);
    // A setup link that does not exist, and sign-out.
    expect(
      (await fetch(`${issuer}/setup/${keep(`lk_st_${randomBytes(32).toString('base64url')}`)}`))
        .status,
    ).toBe(400);
    await fetch(`${issuer}/logout`, { method: 'POST', headers: { cookie }, redirect: 'manual' });
  }

  /** A second authorization on the same session, redeemed: a refresh token to rotate. */
  async function issueAgain(client: TestClient, cookie: string): Promise<Json> {
    const { verifier, challenge } = pkcePair();
    keep(verifier);
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      scope: 'openid email offline_access',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const answer = await fetch(`${issuer}/oauth/authorize?${query.toString()}`, {
      headers: { cookie },
      redirect: 'manual',
    });
    // Consent was granted above, so the answer is the redirect with a code.
    expect(answer.status).toBe(302);
    const code = keep(new URL(answer.headers.get('location') ?? '').searchParams.get('code'));
    const tokens = await json(
      await tokenRequest(issuer, client, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
      }),
      200,
    );
    keep(tokens.access_token);
    keep(tokens.id_token);
    return { refresh_token: keep(tokens.refresh_token) };
  }

  it('wrote the access log (so the checks below read a real log)', () => {
    const lines = (server?.output() ?? '').split('\n').filter((line) => line.startsWith('{'));
    const requests = lines.filter((line) => line.includes('"msg":"request"'));
    expect(requests.length).toBeGreaterThanOrEqual(40);
  });

  it('holds none of the secrets, tokens, codes, cookies or emails it handled', () => {
    const log = (server?.output() ?? '') + bootstrapStderr;
    expect(secrets.size).toBeGreaterThan(40);
    const leaked = [...secrets].filter((secret) => log.includes(secret));
    expect(leaked).toEqual([]);
  });

  it('has no line that looks like a credential', () => {
    const lines = ((server?.output() ?? '') + bootstrapStderr).split('\n');
    const suspicious = lines.filter(
      (line) =>
        line.includes('Bearer ey') ||
        line.includes('Basic ') ||
        line.includes('lk_cs_') ||
        line.includes('lk_st_') ||
        OPAQUE_SECRET.test(line) ||
        JWT_SHAPED.test(line),
    );
    expect(suspicious).toEqual([]);
  });
});
