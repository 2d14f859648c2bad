import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Incident response: revoking a signing key at once, and every access token issued to a client.
 *
 * Both changes only add (expand), so the previous release keeps working against this schema
 * during a rolling upgrade:
 * - signing_keys.revoked_at marks a key revoked. A revoked key is stored as `retired` with
 *   `expires_at` at the revocation time, so a node of the previous release, which ignores the
 *   new column, also stops publishing and accepting it.
 * - client_token_revocations holds, per client, the time up to which every access token issued
 *   to it is revoked. Rows are kept until the longest-lived token they cover has expired.
 * - Indexes on the client of token families and consents, for revoking everything a client
 *   holds without scanning either table.
 */
export class IncidentResponse1796600000000 implements MigrationInterface {
  name = 'IncidentResponse1796600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE signing_keys ADD COLUMN revoked_at timestamptz`);
    await q.query(`
      CREATE TABLE client_token_revocations (
        client_id text NOT NULL,
        revoked_before timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        CONSTRAINT pk_client_token_revocations PRIMARY KEY (client_id)
      )`);
    await q.query(
      `CREATE INDEX ix_client_token_revocations_expires_at ON client_token_revocations (expires_at)`,
    );
    await q.query(`CREATE INDEX ix_token_families_client_id ON token_families (client_id)`);
    await q.query(`CREATE INDEX ix_consents_client_id ON consents (client_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ix_consents_client_id`);
    await q.query(`DROP INDEX ix_token_families_client_id`);
    await q.query(`DROP TABLE client_token_revocations`);
    await q.query(`ALTER TABLE signing_keys DROP COLUMN revoked_at`);
  }
}
