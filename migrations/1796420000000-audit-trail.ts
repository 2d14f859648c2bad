import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Who, from where and in which request: the audit trail's context columns, the state of
 * administered objects around a change, and indexes for the admin API's filters. Every index
 * ends in (at, id) so a filtered list pages newest first by keyset without sorting.
 */
export class AuditTrail1796420000000 implements MigrationInterface {
  name = 'AuditTrail1796420000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE audit_events
        ADD COLUMN actor_type text,
        ADD COLUMN actor_id text,
        ADD COLUMN ip text,
        ADD COLUMN user_agent text,
        ADD COLUMN request_id text,
        ADD COLUMN before jsonb,
        ADD COLUMN after jsonb,
        ADD CONSTRAINT ck_audit_events_actor_type
          CHECK (actor_type IN ('user', 'client', 'system', 'admin')),
        ADD CONSTRAINT ck_audit_events_ip CHECK (char_length(ip) <= 64),
        ADD CONSTRAINT ck_audit_events_user_agent CHECK (char_length(user_agent) <= 512),
        ADD CONSTRAINT ck_audit_events_request_id CHECK (char_length(request_id) <= 128)`);
    await q.query(`DROP INDEX ix_audit_events_type_at`);
    await q.query(`CREATE INDEX ix_audit_events_type_at ON audit_events (type, at, id)`);
    for (const column of ['actor_id', 'client_id', 'user_id', 'ip', 'request_id']) {
      await q.query(
        `CREATE INDEX ix_audit_events_${column}_at ON audit_events (${column}, at, id)
         WHERE ${column} IS NOT NULL`,
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const column of ['actor_id', 'client_id', 'user_id', 'ip', 'request_id']) {
      await q.query(`DROP INDEX ix_audit_events_${column}_at`);
    }
    await q.query(`DROP INDEX ix_audit_events_type_at`);
    await q.query(`CREATE INDEX ix_audit_events_type_at ON audit_events (type, at)`);
    await q.query(`
      ALTER TABLE audit_events
        DROP COLUMN actor_type,
        DROP COLUMN actor_id,
        DROP COLUMN ip,
        DROP COLUMN user_agent,
        DROP COLUMN request_id,
        DROP COLUMN before,
        DROP COLUMN after`);
  }
}
