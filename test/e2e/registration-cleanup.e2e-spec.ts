import { randomUUID } from 'node:crypto';
import { AuditService } from '../../src/audit/audit.service.js';
import { ClientsService } from '../../src/clients/clients.service.js';
import { RegistrationCleanupService } from '../../src/clients/registration-cleanup.service.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

interface Aged {
  source: 'admin' | 'dcr' | 'cimd';
  createdDaysAgo: number;
  lastUsedDaysAgo: number | null;
}

/** The scheduled removal of unused self-registered and metadata-document clients. */
describe('stale client cleanup', () => {
  let sut: TestApp;
  let cleanup: RegistrationCleanupService;

  beforeAll(async () => {
    sut = await startTestApp({ STALE_CLIENT_DAYS: '30' });
    cleanup = sut.app.get(RegistrationCleanupService);
  });

  afterAll(async () => {
    await sut.close();
  });

  /** Inserts a public client with the given age, straight into the table. */
  async function insert(aged: Aged): Promise<string> {
    const id = `${aged.source}-${randomUUID()}`;
    await sut.dataSource.query(
      `INSERT INTO clients (id, name, type, token_endpoint_auth_method, redirect_uris, grant_types,
                            source, created_at, last_used_at)
       VALUES ($1, $1, 'public', 'none', '{https://app.example.com/cb}', '{authorization_code}', $2,
               now() - make_interval(days => $3),
               CASE WHEN $4::int IS NULL THEN NULL ELSE now() - make_interval(days => $4::int) END)`,
      [id, aged.source, aged.createdDaysAgo, aged.lastUsedDaysAgo],
    );
    return id;
  }

  async function existing(ids: string[]): Promise<string[]> {
    const rows = await sut.dataSource.query<{ id: string }[]>(
      `SELECT id FROM clients WHERE id = ANY($1) ORDER BY id`,
      [ids],
    );
    return rows.map((row) => row.id);
  }

  it('deletes unused dcr and cimd clients, with an audit event each, and nothing else', async () => {
    const staleDcr = await insert({ source: 'dcr', createdDaysAgo: 40, lastUsedDaysAgo: null });
    const staleCimd = await insert({ source: 'cimd', createdDaysAgo: 90, lastUsedDaysAgo: 31 });
    const usedDcr = await insert({ source: 'dcr', createdDaysAgo: 90, lastUsedDaysAgo: 1 });
    const newDcr = await insert({ source: 'dcr', createdDaysAgo: 1, lastUsedDaysAgo: null });
    const oldAdmin = await insert({ source: 'admin', createdDaysAgo: 400, lastUsedDaysAgo: null });
    const clients = sut.app.get(ClientsService);
    // Cached on this node: the removal must reach the cache too.
    expect(await clients.findRecord(staleDcr)).not.toBeNull();

    const removed = await cleanup.removeStaleClients();

    expect(removed).toBeGreaterThanOrEqual(2);
    expect(await existing([staleDcr, staleCimd, usedDcr, newDcr, oldAdmin])).toEqual(
      [usedDcr, newDcr, oldAdmin].sort(),
    );
    expect(await clients.findRecord(staleDcr)).toBeNull();
    await sut.app.get(AuditService).flush();
    const events = await sut.dataSource.query<{ client_id: string; details: unknown }[]>(
      `SELECT client_id, details FROM audit_events
       WHERE type = 'client.stale_removed' AND client_id = ANY($1) ORDER BY client_id`,
      [[staleDcr, staleCimd, usedDcr, newDcr, oldAdmin]],
    );
    expect(events).toEqual(
      [
        { client_id: staleCimd, details: { source: 'cimd', stale_client_days: 30 } },
        { client_id: staleDcr, details: { source: 'dcr', stale_client_days: 30 } },
      ].sort((a, b) => (a.client_id < b.client_id ? -1 : 1)),
    );
  });

  it('deletes in batches until none are left', async () => {
    const rows = await sut.dataSource.query<{ id: string }[]>(
      `INSERT INTO clients (id, name, type, token_endpoint_auth_method, source, created_at)
       SELECT 'batch-' || gen_random_uuid(), 'batch', 'public', 'none', 'dcr',
              now() - interval '60 days'
       FROM generate_series(1, 1100) RETURNING id`,
    );
    expect(await cleanup.removeStaleClients()).toBeGreaterThanOrEqual(1100);
    expect(await existing(rows.map((row) => row.id))).toEqual([]);
  });

  it('does nothing while another node holds the lock', async () => {
    const stale = await insert({ source: 'dcr', createdDaysAgo: 40, lastUsedDaysAgo: null });
    const other = sut.dataSource.createQueryRunner();
    await other.connect();
    try {
      await other.query(`SELECT pg_advisory_lock($1)`, [0x4c6b0001]);
      expect(await cleanup.removeStaleClients()).toBe(0);
      expect(await existing([stale])).toEqual([stale]);
      await other.query(`SELECT pg_advisory_unlock($1)`, [0x4c6b0001]);
    } finally {
      await other.release();
    }
    expect(await cleanup.removeStaleClients()).toBeGreaterThanOrEqual(1);
    expect(await existing([stale])).toEqual([]);
  });
});
