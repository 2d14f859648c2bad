import { decodeJwt } from 'jose';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { AppConfig } from '../../src/config/app-config.js';
import { AuditRetentionService } from '../../src/audit/audit-retention.service.js';
import { AuditService } from '../../src/audit/audit.service.js';
import {
  CookieJar,
  SoftAuthenticator,
  authenticationOptions,
  postJson,
  registrationOptions,
} from '../utils/soft-authenticator.js';
import {
  eventually,
  startTestApp,
  tokenRequest,
  type TestApp,
  type TestClient,
} from '../utils/test-app.js';
import { REDIRECT_URI, pkcePair } from '../utils/user-grants.js';
import { consentForm } from '../utils/consent-form.js';

const USER_AGENT = 'audit-trail-spec/1.0 (+test)';

interface AuditEventBody {
  id: string;
  at: string;
  type: string;
  actor: { type: string; id: string | null } | null;
  client_id: string | null;
  user_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: Record<string, unknown>;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

interface AuditPage {
  data: AuditEventBody[];
  next_cursor: string | null;
}

/** The audit trail of real flows, read back through GET /admin/audit-events. */
describe('audit trail', () => {
  let sut: TestApp;
  let admin: TestClient;
  let adminToken: string;
  /** Every secret, token and code this spec obtains: none may reach an audit row. */
  const secrets: string[] = [];
  /** Passkey public keys: not secret, but never part of the trail either. */
  const publicKeys: Buffer[] = [];

  beforeAll(async () => {
    sut = await startTestApp();
    admin = await sut.createAdminClient();
    secrets.push(admin.client_secret);
    const response = await tokenRequest(sut.baseUrl, admin, {
      grant_type: 'client_credentials',
      scope: 'admin',
      resource: sut.config.audiences.admin,
    });
    adminToken = ((await response.json()) as { access_token: string }).access_token;
    secrets.push(adminToken);
  });

  afterAll(async () => {
    await sut.close();
  });

  function requestId(): string {
    return `audit-${randomUUID()}`;
  }

  /** Headers every request of this spec sends: the trail must record them. */
  function traced(id: string, extra: Record<string, string> = {}): Record<string, string> {
    return { 'user-agent': USER_AGENT, 'x-request-id': id, ...extra };
  }

  async function adminApi(
    method: string,
    path: string,
    id: string,
    body?: unknown,
  ): Promise<Response> {
    return fetch(`${sut.baseUrl}${path}`, {
      method,
      headers: traced(id, {
        authorization: `Bearer ${adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async function list(query: Record<string, string>): Promise<Response> {
    return fetch(`${sut.baseUrl}/admin/audit-events?${new URLSearchParams(query).toString()}`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
  }

  async function listOk(query: Record<string, string>): Promise<AuditPage> {
    const response = await list(query);
    expect(response.status).toBe(200);
    return (await response.json()) as AuditPage;
  }

  /** The events of one request, once the batched writer has flushed `count` of them. */
  async function eventsOf(id: string, count = 1): Promise<AuditEventBody[]> {
    let events: AuditEventBody[] = [];
    const arrived = await eventually(async () => {
      events = (await listOk({ request_id: id })).data;
      return events.length >= count;
    }, 3000);
    expect(arrived).toBe(true);
    return events;
  }

  async function oneEvent(id: string, type: string): Promise<AuditEventBody> {
    const events = await eventsOf(id);
    const matching = events.filter((event) => event.type === type);
    expect(matching).toHaveLength(1);
    return matching[0];
  }

  /** The caller context every event of a traced request carries. */
  function expectContext(event: AuditEventBody, id: string): void {
    expect(event.request_id).toBe(id);
    expect(event.user_agent).toBe(USER_AGENT);
    expect(event.ip).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    expect(Date.parse(event.at)).toBeGreaterThan(Date.now() - 60_000);
  }

  function adminActor(): { type: string; id: string } {
    return { type: 'admin', id: admin.client_id };
  }

  describe('people and sessions', () => {
    let userId: string;
    let authenticator: SoftAuthenticator;
    let jar: CookieJar;
    let sessionCookie: string;
    let codeClient: TestClient;

    beforeAll(async () => {
      codeClient = await sut.createClient({
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: [REDIRECT_URI],
      });
      secrets.push(codeClient.client_secret);
    });

    it('records an admin creating a user, with the state after', async () => {
      const id = requestId();
      const response = await adminApi('POST', '/admin/users', id, {
        email: `audit-${randomUUID()}@example.com`,
        display_name: 'Audit Person',
      });
      expect(response.status).toBe(201);
      userId = ((await response.json()) as { id: string }).id;
      const event = await oneEvent(id, 'user.created');
      expectContext(event, id);
      expect(event).toMatchObject({
        actor: adminActor(),
        user_id: userId,
        before: null,
        after: { id: userId, display_name: 'Audit Person', status: 'active', roles: ['user'] },
      });
    });

    it('records a setup link and the passkey enrolled with it, never the link', async () => {
      const issueId = requestId();
      const issued = await adminApi('POST', `/admin/users/${userId}/setup-link`, issueId);
      expect(issued.status).toBe(200);
      const setupUrl = ((await issued.json()) as { setup_url: string }).setup_url;
      const setupToken = setupUrl.slice(setupUrl.lastIndexOf('/') + 1);
      secrets.push(setupUrl, setupToken);
      const linkEvent = await oneEvent(issueId, 'setup_link.issued');
      expect(linkEvent).toMatchObject({ actor: adminActor(), user_id: userId });

      authenticator = SoftAuthenticator.for(sut);
      jar = new CookieJar();
      const enrollId = requestId();
      const options = await registrationOptions(sut, jar, setupToken);
      const enrolled = await postJson(
        sut,
        '/webauthn/register/verify',
        authenticator.createCredential(options),
        jar,
        traced(enrollId),
      );
      expect(enrolled.status).toBe(200);
      const event = await oneEvent(enrollId, 'passkey.enrolled');
      expectContext(event, enrollId);
      expect(event).toMatchObject({
        actor: { type: 'user', id: userId },
        user_id: userId,
        details: { credential_id: authenticator.id, via: 'setup_link' },
      });
    });

    it('records a passkey sign-in and a failed one', async () => {
      const id = requestId();
      const options = await authenticationOptions(sut, jar);
      const signedIn = await postJson(
        sut,
        '/webauthn/authenticate/verify',
        authenticator.getAssertion(options),
        jar,
        traced(id),
      );
      expect(signedIn.status).toBe(200);
      const name = sut.config.sessions.cookieName;
      sessionCookie = `${name}=${jar.get(name) ?? ''}`;
      secrets.push(jar.get(name) ?? 'missing session cookie');
      const event = await oneEvent(id, 'user.signed_in');
      expectContext(event, id);
      expect(event).toMatchObject({
        actor: { type: 'user', id: userId },
        user_id: userId,
        details: { method: 'passkey', credential_id: authenticator.id },
      });

      const [stored] = await sut.dataSource.query<{ public_key: Buffer }[]>(
        `SELECT public_key FROM webauthn_credentials WHERE user_id = $1`,
        [userId],
      );
      publicKeys.push(stored.public_key);

      const failedId = requestId();
      const otherBrowser = jar.clone();
      const forged = await postJson(
        sut,
        '/webauthn/authenticate/verify',
        authenticator.getAssertion(await authenticationOptions(sut, otherBrowser), {
          wrongKey: true,
        }),
        otherBrowser,
        traced(failedId),
      );
      expect(forged.status).toBe(400);
      const failed = await oneEvent(failedId, 'user.sign_in_failed');
      expectContext(failed, failedId);
      expect(failed).toMatchObject({
        user_id: userId,
        details: { method: 'passkey', reason: 'webauthn_verification_failed' },
      });
    });

    it('records consent, the code and refresh issuance, and revocation', async () => {
      const pkce = pkcePair();
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: codeClient.client_id,
        redirect_uri: REDIRECT_URI,
        scope: 'openid email offline_access',
        state: 'audit-state',
        code_challenge: pkce.challenge,
        code_challenge_method: 'S256',
      });
      const page = await fetch(`${sut.baseUrl}/oauth/authorize?${query.toString()}`, {
        redirect: 'manual',
        headers: { cookie: sessionCookie },
      });
      expect(page.status).toBe(200);
      const html = await page.text();
      const consentId = requestId();
      const decided = await fetch(`${sut.baseUrl}/oauth/authorize/decision`, {
        method: 'POST',
        redirect: 'manual',
        headers: traced(consentId, {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: sessionCookie,
        }),
        body: new URLSearchParams({
          ...consentForm(html),
          decision: 'approve',
        }),
      });
      expect(decided.status).toBe(303);
      const code = new URL(decided.headers.get('location') ?? '').searchParams.get('code') ?? '';
      secrets.push(code);
      const consent = await oneEvent(consentId, 'consent.granted');
      expectContext(consent, consentId);
      expect(consent).toMatchObject({
        actor: { type: 'user', id: userId },
        user_id: userId,
        client_id: codeClient.client_id,
        details: { scope: 'email offline_access openid' },
      });

      const redeemId = requestId();
      const redeemed = await fetch(`${sut.baseUrl}/oauth/token`, {
        method: 'POST',
        headers: traced(redeemId, {
          authorization: `Basic ${Buffer.from(`${codeClient.client_id}:${codeClient.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        }),
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT_URI,
          code_verifier: pkce.verifier,
        }),
      });
      expect(redeemed.status).toBe(200);
      const tokens = (await redeemed.json()) as {
        access_token: string;
        refresh_token: string;
        id_token: string;
      };
      secrets.push(tokens.access_token, tokens.refresh_token, tokens.id_token);
      const issued = await oneEvent(redeemId, 'token.issued');
      expectContext(issued, redeemId);
      expect(issued).toMatchObject({
        actor: { type: 'client', id: codeClient.client_id },
        client_id: codeClient.client_id,
        user_id: userId,
        details: {
          grant_type: 'authorization_code',
          sub: userId,
          jti: decodeJwt(tokens.access_token).jti,
          refresh_token_issued: true,
        },
      });

      const refreshId = requestId();
      const refreshed = await fetch(`${sut.baseUrl}/oauth/token`, {
        method: 'POST',
        headers: traced(refreshId, {
          authorization: `Basic ${Buffer.from(`${codeClient.client_id}:${codeClient.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        }),
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: tokens.refresh_token,
        }),
      });
      expect(refreshed.status).toBe(200);
      const rotated = (await refreshed.json()) as { access_token: string; refresh_token: string };
      secrets.push(rotated.access_token, rotated.refresh_token);
      expect(await oneEvent(refreshId, 'token.issued')).toMatchObject({
        details: { grant_type: 'refresh_token', jti: decodeJwt(rotated.access_token).jti },
      });

      const revokeId = requestId();
      const revoked = await fetch(`${sut.baseUrl}/oauth/revoke`, {
        method: 'POST',
        headers: traced(revokeId, {
          authorization: `Basic ${Buffer.from(`${codeClient.client_id}:${codeClient.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        }),
        body: new URLSearchParams({ token: rotated.refresh_token }),
      });
      expect(revoked.status).toBe(200);
      const revocation = await oneEvent(revokeId, 'token.revoked');
      expectContext(revocation, revokeId);
      expect(revocation).toMatchObject({
        actor: { type: 'client', id: codeClient.client_id },
        client_id: codeClient.client_id,
        details: { token_type: 'refresh_token', family_revoked: true },
      });
    });

    it('records an admin signing the user out everywhere', async () => {
      const id = requestId();
      const response = await adminApi('DELETE', `/admin/users/${userId}/sessions`, id);
      expect(response.status).toBe(200);
      const event = await oneEvent(id, 'session.revoked');
      expectContext(event, id);
      expect(event).toMatchObject({
        actor: adminActor(),
        user_id: userId,
        details: { scope: 'all_sessions', revoked_sessions: 1 },
      });
    });

    it('records an admin removing a passkey', async () => {
      const id = requestId();
      const response = await adminApi(
        'DELETE',
        `/admin/users/${userId}/credentials/${authenticator.id}`,
        id,
      );
      expect(response.status).toBe(204);
      expect(await oneEvent(id, 'passkey.removed')).toMatchObject({
        actor: adminActor(),
        user_id: userId,
        details: { credential_id: authenticator.id, by: 'admin' },
      });
    });
  });

  describe('clients and keys', () => {
    it('records client_credentials issuance and access token revocation', async () => {
      const service = await sut.createClient({ allowed_scopes: ['reports:read'] });
      secrets.push(service.client_secret);
      const issueId = requestId();
      const response = await fetch(`${sut.baseUrl}/oauth/token`, {
        method: 'POST',
        headers: traced(issueId, {
          authorization: `Basic ${Buffer.from(`${service.client_id}:${service.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        }),
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'reports:read' }),
      });
      expect(response.status).toBe(200);
      const token = ((await response.json()) as { access_token: string }).access_token;
      secrets.push(token);
      const jti = decodeJwt(token).jti;
      const issued = await oneEvent(issueId, 'token.issued');
      expectContext(issued, issueId);
      expect(issued).toMatchObject({
        actor: { type: 'client', id: service.client_id },
        client_id: service.client_id,
        user_id: null,
        details: { grant_type: 'client_credentials', sub: service.client_id, jti },
      });

      const revokeId = requestId();
      const revoked = await fetch(`${sut.baseUrl}/oauth/revoke`, {
        method: 'POST',
        headers: traced(revokeId, {
          authorization: `Basic ${Buffer.from(`${service.client_id}:${service.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        }),
        body: new URLSearchParams({ token }),
      });
      expect(revoked.status).toBe(200);
      expect(await oneEvent(revokeId, 'token.revoked')).toMatchObject({
        client_id: service.client_id,
        details: { token_type: 'access_token', jti },
      });
    });

    it('records an admin creating, updating, rotating and deleting a client, with before/after', async () => {
      const createId = requestId();
      const created = await adminApi('POST', '/admin/clients', createId, {
        client_name: 'Audited app',
        allowed_scopes: [],
      });
      expect(created.status).toBe(201);
      const client = (await created.json()) as { client_id: string; client_secret: string };
      secrets.push(client.client_secret);
      const createdEvent = await oneEvent(createId, 'client.created');
      expectContext(createdEvent, createId);
      expect(createdEvent).toMatchObject({
        actor: adminActor(),
        client_id: client.client_id,
        before: null,
        after: { client_id: client.client_id, client_name: 'Audited app' },
      });

      const updateId = requestId();
      const updated = await adminApi('PATCH', `/admin/clients/${client.client_id}`, updateId, {
        client_name: 'Renamed app',
      });
      expect(updated.status).toBe(200);
      const updatedEvent = await oneEvent(updateId, 'client.updated');
      expect(updatedEvent).toMatchObject({
        actor: adminActor(),
        client_id: client.client_id,
        before: { client_name: 'Audited app' },
        after: { client_name: 'Renamed app' },
      });

      const rotateId = requestId();
      const rotated = await adminApi('POST', `/admin/clients/${client.client_id}/secret`, rotateId);
      expect(rotated.status).toBe(200);
      secrets.push(((await rotated.json()) as { client_secret: string }).client_secret);
      expect(await oneEvent(rotateId, 'client.secret_rotated')).toMatchObject({
        actor: adminActor(),
        client_id: client.client_id,
      });

      const deleteId = requestId();
      const deleted = await adminApi('DELETE', `/admin/clients/${client.client_id}`, deleteId);
      expect(deleted.status).toBe(204);
      const deletedEvent = await oneEvent(deleteId, 'client.deleted');
      expect(deletedEvent).toMatchObject({
        actor: adminActor(),
        client_id: client.client_id,
        before: { client_name: 'Renamed app' },
        after: null,
      });

      const single = await fetch(`${sut.baseUrl}/admin/audit-events/${deletedEvent.id}`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(single.status).toBe(200);
      expect(await single.json()).toEqual(deletedEvent);
    });

    it('records a key rotation through the admin API', async () => {
      const id = requestId();
      const response = await adminApi('POST', '/admin/keys/rotate', id);
      expect(response.status).toBe(200);
      const kids = ((await response.json()) as { data: { kid: string }[] }).data.map(
        (key) => key.kid,
      );
      const event = await oneEvent(id, 'key.rotated');
      expectContext(event, id);
      expect(event).toMatchObject({ actor: adminActor(), details: { via: 'api' } });
      expect([...(event.details.kids as string[])].sort()).toEqual([...kids].sort());
    });
  });

  describe('listing', () => {
    it('filters by type list and prefix, client, actor and time', async () => {
      const probe = await sut.createClient({ client_name: 'filter probe' });
      secrets.push(probe.client_secret);
      const id = requestId();
      expect(
        (await adminApi('PATCH', `/admin/clients/${probe.client_id}`, id, { client_name: 'x' }))
          .status,
      ).toBe(200);
      await eventsOf(id);

      const byClient = await listOk({ client_id: probe.client_id });
      expect(byClient.data.map((event) => event.type)).toEqual([
        'client.updated',
        'client.created',
      ]);
      const prefixed = await listOk({ type: 'client.*', client_id: probe.client_id });
      expect(prefixed.data).toHaveLength(2);
      const exact = await listOk({
        type: 'client.created,token.issued',
        client_id: probe.client_id,
      });
      expect(exact.data.map((event) => event.type)).toEqual(['client.created']);
      const byActor = await listOk({ actor_id: admin.client_id, client_id: probe.client_id });
      expect(byActor.data.map((event) => event.type)).toEqual(['client.updated']);
      expect(
        (await listOk({ type: 'client.*' })).data.every((e) => e.type.startsWith('client.')),
      ).toBe(true);
      const updatedAt = byClient.data[0].at;
      expect(
        (await listOk({ client_id: probe.client_id, since: updatedAt })).data.map((e) => e.type),
      ).toEqual(['client.updated']);
      expect(
        (await listOk({ client_id: probe.client_id, until: updatedAt })).data.map((e) => e.type),
      ).toEqual(['client.created']);
      // An address nobody used (other specs send from 203.0.113.x): no events.
      const unused = `2001:db8:feed::${randomBytes(2).toString('hex')}`;
      expect((await listOk({ ip: unused })).data).toEqual([]);
    });

    it('pages newest first without duplicates or gaps, also across equal timestamps', async () => {
      const marker = `page-${randomUUID()}`;
      // 23 events, several sharing one timestamp: the id breaks the tie.
      await sut.dataSource.query(
        `INSERT INTO audit_events (type, at, request_id)
         SELECT 'test.paging', now() - make_interval(secs => n / 4), $1
         FROM generate_series(1, 23) AS n`,
        [marker],
      );
      const expected = (
        await sut.dataSource.query<{ id: string }[]>(
          `SELECT id FROM audit_events WHERE request_id = $1 ORDER BY at DESC, id DESC`,
          [marker],
        )
      ).map((row) => row.id);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: AuditPage = await listOk({
          request_id: marker,
          limit: '5',
          ...(cursor === null ? {} : { cursor }),
        });
        seen.push(...page.data.map((event) => event.id));
        cursor = page.next_cursor;
        pages += 1;
      } while (cursor !== null && pages < 10);
      expect(pages).toBe(5);
      expect(seen).toEqual(expected);
      expect(new Set(seen).size).toBe(23);
    });

    it.each([
      [{ type: 'Client.Created' }, 'invalid_audit_filter'],
      [{ type: 'client.*.x' }, 'invalid_audit_filter'],
      [{ type: Array.from({ length: 21 }, (_, n) => `t.e${n}`).join(',') }, 'invalid_audit_filter'],
      [{ since: 'yesterday' }, 'invalid_audit_filter'],
      [{ until: '2026-02-30T00:00:00' }, 'invalid_audit_filter'],
      [{ since: '2026-02-01T00:00:00Z', until: '2026-01-01T00:00:00Z' }, 'invalid_audit_filter'],
      [{ cursor: 'not-a-cursor' }, 'invalid_audit_cursor'],
      [{ limit: '0' }, 'validation_failed'],
      [{ colour: 'red' }, 'validation_failed'],
    ])('rejects %j with 400 %s', async (query, code) => {
      const response = await list(query);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ statusCode: 400, code });
    });

    it('answers 404 for an unknown event and 401 without a token', async () => {
      const missing = await fetch(`${sut.baseUrl}/admin/audit-events/${randomUUID()}`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ code: 'audit_event_not_found' });
      const notUuid = await fetch(`${sut.baseUrl}/admin/audit-events/nope`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(notUuid.status).toBe(404);
      expect((await fetch(`${sut.baseUrl}/admin/audit-events`)).status).toBe(401);
    });
  });

  describe('retention', () => {
    it('deletes only events older than the retention period', async () => {
      const marker = `retention-${randomUUID()}`;
      await sut.dataSource.query(
        `INSERT INTO audit_events (type, at, request_id) VALUES
           ('test.retention', now() - interval '400 days', $1),
           ('test.retention', now() - interval '366 days', $1),
           ('test.retention', now() - interval '364 days', $1),
           ('test.retention', now(), $1)`,
        [marker],
      );
      const removed = await sut.app.get(AuditRetentionService).removeExpiredEvents();
      expect(removed).toBeGreaterThanOrEqual(2);
      const left = await sut.dataSource.query<{ days: number }[]>(
        `SELECT extract(day FROM now() - at)::int AS days FROM audit_events
         WHERE request_id = $1 ORDER BY at`,
        [marker],
      );
      expect(left.map((row) => row.days)).toEqual([364, 0]);
    });

    it('keeps everything with retention 0, and skips while another node holds the lock', async () => {
      const marker = `retention-${randomUUID()}`;
      await sut.dataSource.query(
        `INSERT INTO audit_events (type, at, request_id)
         VALUES ('test.retention', now() - interval '4000 days', $1)`,
        [marker],
      );
      const config = sut.app.get(AppConfig);
      const keepForever = new AuditRetentionService(
        { ...config, audit: { retentionDays: 0 } } as AppConfig,
        sut.dataSource,
      );
      expect(await keepForever.removeExpiredEvents()).toBe(0);

      const other = sut.dataSource.createQueryRunner();
      await other.connect();
      try {
        await other.query(`SELECT pg_advisory_lock($1)`, [0x4c6b0002]);
        expect(await sut.app.get(AuditRetentionService).removeExpiredEvents()).toBe(0);
        const [row] = await sut.dataSource.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM audit_events WHERE request_id = $1`,
          [marker],
        );
        expect(row.n).toBe(1);
      } finally {
        await other.query(`SELECT pg_advisory_unlock($1)`, [0x4c6b0002]);
        await other.release();
      }
      expect(await sut.app.get(AuditRetentionService).removeExpiredEvents()).toBeGreaterThan(0);
    });
  });

  describe('robustness', () => {
    it('bounds oversized values and replaces NUL instead of losing the batch', async () => {
      const marker = `robust-${randomUUID()}`;
      const audit = sut.app.get(AuditService);
      audit.record({
        type: 'token.revoked',
        requestId: marker,
        ip: `203.0.113.1, ${'9'.repeat(100)}`,
        userAgent: `agent\u0000${'x'.repeat(600)}`,
        details: { note: 'nul\u0000inside' },
      });
      audit.record({ type: 'token.revoked', requestId: marker, details: { note: 'plain' } });
      await audit.flush();
      const rows = await sut.dataSource.query<
        { ip: string; user_agent: string | null; details: { note: string } }[]
      >(
        `SELECT ip, user_agent, details FROM audit_events WHERE request_id = $1 ORDER BY details->>'note'`,
        [marker],
      );
      expect(rows).toHaveLength(2);
      expect(rows[0].ip).toHaveLength(64);
      expect(rows[0].user_agent).toHaveLength(512);
      expect(rows[0].user_agent?.startsWith('agent\uFFFDx')).toBe(true);
      expect(rows[0].details).toEqual({ note: 'nul\uFFFDinside' });
      expect(rows[1].details).toEqual({ note: 'plain' });
    });
  });

  describe('shutdown', () => {
    it('writes queued events before the application closes', async () => {
      const other = await startTestApp();
      const marker = `shutdown-${randomUUID()}`;
      for (let n = 0; n < 5; n++) {
        other.app.get(AuditService).record({
          type: 'token.revoked',
          requestId: marker,
          details: { n },
        });
      }
      await other.close();
      const [row] = await sut.dataSource.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM audit_events WHERE request_id = $1`,
        [marker],
      );
      expect(row.n).toBe(5);
    });
  });

  // Last: it checks every row the flows above wrote.
  describe('secrets', () => {
    it('stores no secret, token, code, setup link, secret hash or passkey public key', async () => {
      await sut.app.get(AuditService).flush();
      const forbidden = [
        ...secrets,
        // Client secrets are stored as SHA-256: the hash must not be copied into the trail.
        ...secrets.map((secret) => createHash('sha256').update(secret).digest('base64url')),
        ...publicKeys.flatMap((key) => [
          key.toString('base64url'),
          key.toString('base64'),
          key.toString('hex'),
        ]),
      ].filter((value) => value.length >= 16);
      expect(publicKeys).toHaveLength(1);
      expect(forbidden.length).toBeGreaterThan(10);
      const [{ dump }] = await sut.dataSource.query<{ dump: string }[]>(
        `SELECT coalesce(json_agg(a)::text, '') AS dump FROM audit_events a`,
      );
      expect(dump.length).toBeGreaterThan(1000);
      for (const value of forbidden) expect(dump.includes(value)).toBe(false);
    });
  });
});
