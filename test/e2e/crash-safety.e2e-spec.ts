import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig, type AppConfig } from '../../src/config/app-config.js';
import { createTestDatabase, dropTestDatabase } from '../utils/database.js';
import {
  authenticate,
  CookieJar,
  register,
  SoftAuthenticator,
} from '../utils/soft-authenticator.js';
import {
  basicAuth,
  eventually,
  freePort,
  tokenRequest,
  type TestClient,
} from '../utils/test-app.js';
import { REDIRECT_URI, pkcePair, tokenHash, type UserTokenBody } from '../utils/user-grants.js';
import { consentForm } from '../utils/consent-form.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SERVER = join(ROOT, 'dist/src/main.js');
const SCOPE = 'openid offline_access';
/** Loops that run code flows and refreshes side by side, so requests are in flight at the kill. */
const LOOPS = 8;
/** Refreshes per chain before a loop starts a new chain with a new authorization code. */
const REFRESHES_PER_CHAIN = 4;
/** Successful refreshes, across all loops, after which the server is killed. */
const KILL_AFTER_REFRESHES = 40;
const START_TIMEOUT_MS = 30_000;

/** One token family as the client sees it: the last refresh token it actually received. */
interface Chain {
  held: string | null;
  /** The refresh token of a request whose answer never arrived (abandoned, or cut off by the kill). */
  inFlight: string | null;
}

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
}

/**
 * Crash safety: the real server, built and run as its own process on its own database, is
 * killed with SIGKILL while code flows and refreshes are in flight, then started again on the
 * same database, master key and issuer. Whatever the client received must still hold.
 */
describe('crash safety (SIGKILL under load, then restart)', () => {
  let database: { name: string; url: string };
  let port: number;
  let issuer: string;
  let env: Record<string, string>;
  let config: AppConfig;
  let db: pg.Client;
  const children = new Set<ChildProcess>();

  beforeAll(async () => {
    if (!existsSync(SERVER)) throw new Error('dist/ is missing: run `npm run build` first');
    database = await createTestDatabase();
    // The issuer names the port, and it must not change across the restart: pick it once.
    port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    env = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: database.url,
      MASTER_KEY: randomBytes(32).toString('hex'),
      PORT: String(port),
      HOST: '127.0.0.1',
      ISSUER: issuer,
      LOG_LEVEL: 'info',
      // The window in which a retried refresh gets the family's current pair must outlast the
      // restart, or a client whose answer died with the server loses its grant. A restart on a
      // busy test machine can take several seconds, so give it the longest window allowed.
      REFRESH_REUSE_GRACE_SECONDS: '60',
      // This test measures durability, not throttling.
      RATE_LIMIT_TOKEN_PER_MINUTE: '0',
      RATE_LIMIT_TOKEN_PER_CLIENT_PER_MINUTE: '0',
      RATE_LIMIT_AUTHORIZE_PER_MINUTE: '0',
      RATE_LIMIT_WEBAUTHN_PER_MINUTE: '0',
    };
    config = loadConfig(env);
    db = new pg.Client({ connectionString: database.url });
    await db.connect();
  });

  afterAll(async () => {
    for (const child of children) await kill(child);
    await db?.end().catch(() => undefined);
    if (database) await dropTestDatabase(database.name);
  });

  function kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    process.kill(child.pid as number, 'SIGKILL');
    return exited;
  }

  /** Starts `node dist/src/main.js` and waits until it listens. */
  async function startServer(): Promise<Running> {
    const child = spawn(process.execPath, [SERVER], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!stdout.includes('latchkey is listening')) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        await kill(child);
        throw new Error(`the server did not start (exit ${child.exitCode}):\n${stderr}`);
      }
      await new Promise((done) => setTimeout(done, 50));
    }
    return { child, stdout: () => stdout, stderr: () => stderr };
  }

  async function adminToken(admin: TestClient): Promise<string> {
    const response = await tokenRequest(issuer, admin, {
      grant_type: 'client_credentials',
      scope: 'admin',
      resource: config.audiences.admin,
    });
    const body = (await response.json()) as { access_token?: string };
    if (!body.access_token) throw new Error(`no admin token: ${JSON.stringify(body)}`);
    return body.access_token;
  }

  function authorizeUrl(client: TestClient, challenge: string, extra = {}): string {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      scope: SCOPE,
      state: randomBytes(8).toString('base64url'),
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...extra,
    });
    return `${issuer}/oauth/authorize?${query.toString()}`;
  }

  /** The code of a redirect back to the client, or null for anything else. */
  function codeOf(response: Response): string | null {
    // 302 from /authorize, 303 from the consent form's POST.
    if (response.status !== 302 && response.status !== 303) return null;
    const location = new URL(response.headers.get('location') ?? '', issuer);
    if (`${location.origin}${location.pathname}` !== REDIRECT_URI) return null;
    return location.searchParams.get('code');
  }

  /** A code through /authorize, with the session cookie and the remembered consent. */
  async function authorizeCode(
    client: TestClient,
    cookie: string,
  ): Promise<{ code: string | null; verifier: string }> {
    const { verifier, challenge } = pkcePair();
    const response = await fetch(authorizeUrl(client, challenge), {
      redirect: 'manual',
      headers: { cookie },
    });
    await response.arrayBuffer();
    return { code: codeOf(response), verifier };
  }

  function redeem(client: TestClient, code: string, verifier: string): Promise<Response> {
    return tokenRequest(issuer, client, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    });
  }

  function refresh(client: TestClient, token: string): Promise<Response> {
    return tokenRequest(issuer, client, { grant_type: 'refresh_token', refresh_token: token });
  }

  async function liveTokens(familyId: string): Promise<string[]> {
    const rows = await db.query<{ token_hash: string }>(
      `SELECT token_hash FROM refresh_tokens
       WHERE family_id = $1 AND rotated_at IS NULL AND expires_at > now()`,
      [familyId],
    );
    return rows.rows.map((row) => row.token_hash);
  }

  async function tokenRow(
    token: string,
  ): Promise<{ family_id: string; rotated: boolean; family_revoked: boolean }> {
    const rows = await db.query<{ family_id: string; rotated: boolean; family_revoked: boolean }>(
      `SELECT r.family_id, r.rotated_at IS NOT NULL AS rotated,
         f.revoked_at IS NOT NULL AS family_revoked
       FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id
       WHERE r.token_hash = $1`,
      [tokenHash(token)],
    );
    expect(rows.rows).toHaveLength(1);
    return rows.rows[0];
  }

  it('keeps every received refresh token usable exactly once, and every consent and passkey', async () => {
    const server = { baseUrl: issuer };
    const first = await startServer();

    // The first start bootstraps: an admin client, and a setup link for the first admin user.
    const secret = /Admin client secret: +(lk_cs_[A-Za-z0-9_-]+)\n/.exec(first.stdout())?.[1];
    const setupToken = /\/setup\/(lk_st_[A-Za-z0-9_-]+)/.exec(first.stdout())?.[1];
    expect(secret).toBeDefined();
    expect(setupToken).toBeDefined();
    const admin = { client_id: 'latchkey-admin', client_secret: secret! };

    const created = await fetch(`${issuer}/admin/clients`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await adminToken(admin)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        client_name: 'crash test app',
        client_type: 'confidential',
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: [REDIRECT_URI],
      }),
    });
    expect(created.status).toBe(201);
    const client = (await created.json()) as TestClient;

    // The admin user enrolls a passkey from the setup link and signs in.
    const authenticator = new SoftAuthenticator(config.webauthn.rpId, config.webauthn.origin);
    const jar = new CookieJar();
    expect((await register(server, jar, authenticator, setupToken)).status).toBe(200);
    expect((await authenticate(server, jar, authenticator)).status).toBe(200);
    const cookie = jar.header();

    // Consent, once: the consent page, then approval.
    const { verifier, challenge } = pkcePair();
    const page = await fetch(authorizeUrl(client, challenge), {
      redirect: 'manual',
      headers: { cookie },
    });
    expect(page.status).toBe(200);
    jar.store(page);
    const html = await page.text();
    const decision = await fetch(`${issuer}/oauth/authorize/decision`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
      body: new URLSearchParams({
        ...consentForm(html),
        decision: 'approve',
      }),
    });
    const consentCode = codeOf(decision);
    if (consentCode === null) {
      throw new Error(`no code from the consent decision: ${decision.status}`);
    }
    expect((await redeem(client, consentCode, verifier)).status).toBe(200);

    const chains: Chain[] = [];
    const unexpected: string[] = [];

    // One lost answer for certain, whatever the scheduler does at the kill: a refresh that the
    // server commits while the client gives up waiting (a dropped connection).
    const lost = await authorizeCode(client, cookie);
    const lostIssued = (await (
      await redeem(client, lost.code!, lost.verifier)
    ).json()) as UserTokenBody;
    const lostChain: Chain = { held: lostIssued.refresh_token!, inFlight: null };
    chains.push(lostChain);
    const abandon = new AbortController();
    lostChain.inFlight = lostChain.held;
    const abandoned = fetch(`${issuer}/oauth/token`, {
      method: 'POST',
      signal: abandon.signal,
      headers: {
        authorization: basicAuth(client),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: lostChain.held! }),
    }).catch(() => null);
    const committed = await eventually(async () => (await tokenRow(lostChain.held!)).rotated);
    abandon.abort();
    await abandoned;
    expect(committed).toBe(true);

    // Load: each loop runs code flows, each followed by a few refreshes, until the server dies.
    let refreshes = 0;
    let inFlight = 0;
    let inFlightAtKill = -1;
    let dead = false;
    const killServer = () => {
      dead = true;
      inFlightAtKill = inFlight;
      // Freeze the server first, so no answer leaves it any more while PostgreSQL finishes (and
      // commits) the statements it was already sent: the lost-response case, made likely.
      process.kill(first.child.pid as number, 'SIGSTOP');
      setTimeout(() => process.kill(first.child.pid as number, 'SIGKILL'), 200);
    };
    const send = async (request: () => Promise<Response>): Promise<Response | null> => {
      if (dead) return null;
      inFlight++;
      try {
        return await request();
      } catch {
        return null; // the connection died with the server
      } finally {
        inFlight--;
      }
    };
    const loop = async (): Promise<void> => {
      while (!dead) {
        const { code, verifier: codeVerifier } = await authorizeCode(client, cookie).catch(() => ({
          code: null,
          verifier: '',
        }));
        if (dead) return;
        if (code === null) {
          unexpected.push('authorize gave no code');
          return;
        }
        const redeemed = await send(() => redeem(client, code, codeVerifier));
        if (redeemed === null) return;
        const chain: Chain = { held: null, inFlight: null };
        chains.push(chain);
        const issued = (await redeemed.json().catch(() => ({}))) as Partial<UserTokenBody>;
        if (redeemed.status !== 200 || !issued.refresh_token) {
          if (!dead) unexpected.push(`redeem: ${redeemed.status} ${JSON.stringify(issued)}`);
          return;
        }
        chain.held = issued.refresh_token;
        for (let i = 0; i < REFRESHES_PER_CHAIN; i++) {
          chain.inFlight = chain.held;
          const response = await send(() => refresh(client, chain.held!));
          if (response === null) return;
          const body = (await response.json().catch(() => null)) as Partial<UserTokenBody> | null;
          if (response.status !== 200 || !body?.refresh_token) {
            // A response cut off by the kill was never received: the client keeps the old token.
            if (!dead) unexpected.push(`refresh: ${response.status} ${JSON.stringify(body)}`);
            return;
          }
          chain.held = body.refresh_token;
          chain.inFlight = null;
          if (++refreshes === KILL_AFTER_REFRESHES) killServer();
        }
      }
    };
    await Promise.all(Array.from({ length: LOOPS }, () => loop()));
    await new Promise<void>((done) =>
      first.child.exitCode !== null || first.child.signalCode !== null
        ? done()
        : first.child.once('exit', () => done()),
    );
    expect(unexpected).toEqual([]);
    expect(first.child.signalCode).toBe('SIGKILL');
    // The kill really cut requests off mid-way.
    expect(inFlightAtKill).toBeGreaterThan(0);

    const second = await startServer();
    const received = chains.filter((chain): chain is Chain & { held: string } => !!chain.held);
    expect(received.length).toBeGreaterThanOrEqual(LOOPS);

    // Every received token still works once. A refresh lost in flight may have committed on the
    // server; the client still holds the token it sent, so that token is now a rotated one, and
    // the grace window (ARCHITECTURE.md) answers it with the family's current pair.
    let lostButCommitted = 0;
    const currentOf = new Map<Chain, string>();
    for (const chain of received) {
      const before = await tokenRow(chain.held);
      expect(before.family_revoked).toBe(false);
      expect(await liveTokens(before.family_id)).toHaveLength(1);
      if (before.rotated) {
        expect(chain.inFlight).toBe(chain.held);
        lostButCommitted++;
      }
      const used = await refresh(client, chain.held);
      const body = (await used.json()) as UserTokenBody;
      expect(used.status).toBe(200);
      const live = await liveTokens(before.family_id);
      expect(live).toEqual([tokenHash(body.refresh_token!)]);

      // Exactly once: the same token again, inside the window, is the same pair, not another.
      const again = await refresh(client, chain.held);
      expect(again.status).toBe(200);
      expect(((await again.json()) as UserTokenBody).refresh_token).toBe(body.refresh_token);
      expect(await liveTokens(before.family_id)).toEqual(live);
      currentOf.set(chain, body.refresh_token!);
    }
    // The abandoned refresh at least; more when the kill cut off answers after their commit.
    expect(lostButCommitted).toBeGreaterThanOrEqual(1);

    // Outside the window, reusing any of those tokens is a replay: the family is revoked.
    for (const chain of received) {
      const { family_id: familyId } = await tokenRow(chain.held);
      await db.query(
        `UPDATE refresh_tokens SET rotated_at = rotated_at - interval '1 hour'
         WHERE family_id = $1 AND rotated_at IS NOT NULL`,
        [familyId],
      );
      const reused = await refresh(client, chain.held);
      expect({ status: reused.status, body: await reused.json() }).toEqual({
        status: 400,
        body: { error: 'invalid_grant', error_description: 'refresh token was already used' },
      });
      const successor = await refresh(client, currentOf.get(chain)!);
      expect(successor.status).toBe(400);
      await successor.arrayBuffer();
    }

    // The consent is remembered: no prompt, straight back to the client with a code.
    const afterRestart = await authorizeCode(client, cookie);
    expect(afterRestart.code).not.toBeNull();
    expect((await redeem(client, afterRestart.code!, afterRestart.verifier)).status).toBe(200);

    // The passkey still signs in, in a new browser.
    const fresh = new CookieJar();
    expect((await authenticate(server, fresh, authenticator)).status).toBe(200);
    expect(fresh.get(config.sessions.cookieName)).toBeDefined();

    await kill(second.child);
  }, 90_000);
});
