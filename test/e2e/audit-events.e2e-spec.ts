import { AuditService } from '../../src/audit/audit.service.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';
import {
  createCodeClient,
  expectOAuthError,
  familyOf,
  issueCode,
  redeem,
  redeemOk,
  refresh,
  tokenHash,
} from '../utils/user-grants.js';

/** Security events that must leave a durable record, not only a log line. */
describe('audit events of token misuse', () => {
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startTestApp();
  });

  afterAll(async () => {
    await sut.close();
  });

  async function eventsOfFamily(
    familyId: string,
  ): Promise<{ type: string; client_id: string; details: Record<string, string> }[]> {
    // Events are written in batches: write what is queued before reading the table.
    await sut.app.get(AuditService).flush();
    return sut.dataSource.query(
      `SELECT type, client_id, details FROM audit_events
       WHERE details->>'family_id' = $1 AND type <> 'token.issued'`,
      [familyId],
    );
  }

  it('records a replayed authorization code', async () => {
    const client = await createCodeClient(sut);
    const issued = await issueCode(sut, client);
    const first = await redeemOk(sut, client, issued);
    const familyId = await familyOf(sut, first.refresh_token ?? '');
    await expectOAuthError(
      await redeem(sut, client, issued),
      400,
      'invalid_grant',
      'authorization code was already used',
    );
    expect(await eventsOfFamily(familyId)).toEqual([
      {
        type: 'authorization_code.replayed',
        client_id: client.client_id,
        details: { family_id: familyId, action: 'token family revoked' },
      },
    ]);
  });

  it('records refresh token reuse after the grace window', async () => {
    const client = await createCodeClient(sut);
    const first = await redeemOk(sut, client, await issueCode(sut, client));
    const original = first.refresh_token ?? '';
    const familyId = await familyOf(sut, original);
    expect((await refresh(sut, client, original)).status).toBe(200);
    await sut.dataSource.query(
      `UPDATE refresh_tokens SET rotated_at = now() - interval '1 hour' WHERE token_hash = $1`,
      [tokenHash(original)],
    );
    await expectOAuthError(
      await refresh(sut, client, original),
      400,
      'invalid_grant',
      'refresh token was already used',
    );
    expect(await eventsOfFamily(familyId)).toEqual([
      {
        type: 'refresh_token.reuse_detected',
        client_id: client.client_id,
        details: { family_id: familyId, action: 'token family revoked' },
      },
    ]);
  });

  it('records nothing for a refresh inside the grace window', async () => {
    const client = await createCodeClient(sut);
    const first = await redeemOk(sut, client, await issueCode(sut, client));
    const original = first.refresh_token ?? '';
    const familyId = await familyOf(sut, original);
    expect((await refresh(sut, client, original)).status).toBe(200);
    expect((await refresh(sut, client, original)).status).toBe(200);
    expect(await eventsOfFamily(familyId)).toEqual([]);
  });
});
