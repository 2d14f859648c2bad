import { AuditService } from '../../src/audit/audit.service.js';
import { RateLimitClock } from '../../src/rate-limits/rate-limit-store.js';
import {
  CookieJar,
  enrollAndSignIn,
  postJson,
  type CeremonyOverrides,
  type SignedInUser,
} from '../utils/soft-authenticator.js';
import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import {
  basicAuth,
  postForm,
  startTestApp,
  type TestApp,
  type TestClient,
} from '../utils/test-app.js';

const LOCK_SECONDS = 60;
/** The slow-down bound: failures after the first wait 100 ms, then 200 ms, then this. */
const MAX_DELAY_MS = 250;

interface AuditRow {
  client_id: string | null;
  user_id: string | null;
  details: Record<string, unknown>;
}

let nextAddress = 1;
/** Documentation-range addresses (RFC 5737), sent through the trusted proxy header. */
function freshAddress(): string {
  nextAddress += 1;
  return `203.0.113.${nextAddress}`;
}

describe('brute-force protection', () => {
  let sut: TestApp;
  let now: number;

  beforeAll(async () => {
    sut = await startTestApp({
      TRUST_PROXY: 'loopback',
      CLIENT_AUTH_MAX_FAILURES: '3',
      CLIENT_AUTH_MAX_FAILURES_PER_CLIENT: '5',
      CLIENT_AUTH_LOCK_SECONDS: String(LOCK_SECONDS),
      PASSKEY_MAX_FAILURES: '3',
      PASSKEY_MAX_FAILURES_PER_CREDENTIAL: '6',
      PASSKEY_MAX_FAILURES_PER_ADDRESS: '100',
      PASSKEY_LOCK_SECONDS: String(LOCK_SECONDS),
      BRUTE_FORCE_MAX_DELAY_MS: String(MAX_DELAY_MS),
    });
    // Locks end by moving this clock, not by waiting for them.
    const clock = sut.app.get(RateLimitClock);
    now = Date.now();
    clock.now = () => now;
  });

  afterAll(async () => {
    await sut.close();
  });

  async function auditRows(type: string): Promise<AuditRow[]> {
    await sut.app.get(AuditService).flush();
    return await sut.dataSource.query<AuditRow[]>(
      `SELECT client_id, user_id, details FROM audit_events WHERE type = $1 ORDER BY at`,
      [type],
    );
  }

  describe('client authentication', () => {
    const serviceClient = () => sut.createClient({ allowed_scopes: ['reports:read'] });

    function token(client: TestClient, address: string): Promise<Response> {
      return postForm(
        `${sut.baseUrl}/oauth/token`,
        { grant_type: 'client_credentials' },
        { authorization: basicAuth(client), 'x-forwarded-for': address },
      );
    }

    /** A failed attempt: its status and how long the answer took. */
    async function wrongSecret(
      client: TestClient,
      address: string,
    ): Promise<{ status: number; ms: number }> {
      const started = performance.now();
      const response = await token({ ...client, client_secret: 'lk_cs_wrong' }, address);
      await response.arrayBuffer();
      return { status: response.status, ms: performance.now() - started };
    }

    it('slows repeated failures, then locks the client id for that address, with an audit event', async () => {
      const client = await serviceClient();
      const attacker = freshAddress();

      const first = await wrongSecret(client, attacker);
      const second = await wrongSecret(client, attacker);
      const third = await wrongSecret(client, attacker);
      expect([first.status, second.status, third.status]).toEqual([401, 401, 401]);
      // Lower bounds only: each later failure waited at least its delay.
      expect(second.ms).toBeGreaterThanOrEqual(95);
      expect(third.ms).toBeGreaterThanOrEqual(195);

      // Locked: even the right secret is refused, without being checked.
      const refused = await token(client, attacker);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBe(LOCK_SECONDS);
      expect(refused.headers.get('cache-control')).toBe('no-store');
      expect(await refused.json()).toEqual({
        error: 'invalid_request',
        error_description: 'too many failed client authentications; retry later',
      });

      const events = (await auditRows('client.auth_locked')).filter(
        (row) => row.client_id === client.client_id,
      );
      expect(events).toHaveLength(1);
      expect(events[0].details).toEqual({ scope: 'address', failures: 3, lock_seconds: 60 });

      // The lock is per address: the client itself keeps working from elsewhere.
      expect((await token(client, freshAddress())).status).toBe(200);

      // And it ends after the lock period.
      now += LOCK_SECONDS * 1000 + 1000;
      expect((await token(client, attacker)).status).toBe(200);
    });

    it('locks a client id everywhere only at the much higher all-address threshold', async () => {
      const client = await serviceClient();
      // Two failures from each of two addresses: neither address reaches its threshold of 3.
      const addresses = [freshAddress(), freshAddress()];
      for (const address of addresses) {
        for (let i = 0; i < 2; i++) expect((await wrongSecret(client, address)).status).toBe(401);
      }
      expect((await token(client, freshAddress())).status).toBe(200);

      // The fifth failure overall, from a third address, locks the client everywhere.
      expect((await wrongSecret(client, freshAddress())).status).toBe(401);
      const refused = await token(client, freshAddress());
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

      const events = (await auditRows('client.auth_locked')).filter(
        (row) => row.client_id === client.client_id,
      );
      expect(events.map((row) => row.details.scope)).toEqual(['client']);

      now += LOCK_SECONDS * 1000 + 1000;
      expect((await token(client, freshAddress())).status).toBe(200);
    });

    it('counts failures for client ids that do not exist, so a lock says nothing about existence', async () => {
      const ghost = { client_id: `ghost-${Date.now()}`, client_secret: 'lk_cs_guess' };
      const address = freshAddress();
      for (let i = 0; i < 3; i++) expect((await token(ghost, address)).status).toBe(401);
      expect((await token(ghost, address)).status).toBe(429);
    });
  });

  describe('passkey sign-in', () => {
    let person: SignedInUser;

    beforeAll(async () => {
      person = await enrollAndSignIn(sut);
    });

    async function signIn(address: string, overrides: CeremonyOverrides = {}): Promise<Response> {
      const jar = new CookieJar();
      const headers = { 'x-forwarded-for': address };
      const started = await postJson(sut, '/webauthn/authenticate/options', {}, jar, headers);
      const options = (await started.json()) as PublicKeyCredentialRequestOptionsJSON;
      return postJson(
        sut,
        '/webauthn/authenticate/verify',
        person.authenticator.getAssertion(options, overrides),
        jar,
        headers,
      );
    }

    it('locks the passkey for that address after failed assertions, with an audit event', async () => {
      const attacker = freshAddress();
      const failures = [
        await signIn(attacker, { wrongKey: true }),
        await signIn(attacker, {
          challenge: Buffer.from('not the challenge').toString('base64url'),
        }),
        await signIn(attacker, { wrongKey: true }),
      ];
      for (const failure of failures) {
        expect(failure.status).toBe(400);
        expect(await failure.json()).toMatchObject({ code: 'webauthn_verification_failed' });
      }

      const locked = await signIn(attacker);
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get('retry-after'))).toBe(LOCK_SECONDS);
      expect(await locked.json()).toEqual({
        statusCode: 429,
        code: 'sign_in_locked',
        message: 'passkey sign-in is locked after too many failed attempts; try again later',
      });

      const events = (await auditRows('passkey.sign_in_locked')).filter(
        (row) => row.user_id === person.user.id,
      );
      expect(events).toHaveLength(1);
      expect(events[0].details).toMatchObject({
        scope: 'passkey-address',
        credential_id: person.authenticator.id,
        lock_seconds: 60,
      });

      // The owner, elsewhere, still signs in; and the lock ends after its period.
      expect((await signIn(freshAddress())).status).toBe(200);
      now += LOCK_SECONDS * 1000 + 1000;
      expect((await signIn(attacker)).status).toBe(200);
    });
  });
});
