import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Security events, kept for operators. No foreign keys: events outlive what they name. */
export class AuditEvents1795900000000 implements MigrationInterface {
  name = 'AuditEvents1795900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_events (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        at timestamptz NOT NULL DEFAULT now(),
        type text NOT NULL,
        client_id text,
        user_id text,
        details jsonb NOT NULL DEFAULT '{}',
        CONSTRAINT pk_audit_events PRIMARY KEY (id)
      )`);
    await q.query(`CREATE INDEX ix_audit_events_at ON audit_events (at, id)`);
    await q.query(`CREATE INDEX ix_audit_events_type_at ON audit_events (type, at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_events`);
  }
}
