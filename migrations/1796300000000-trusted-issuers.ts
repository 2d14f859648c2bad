import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Trusted issuers (RFC 8693 token exchange): external authorization servers whose JWTs this
 * server accepts as subject tokens, and the links from their subjects to local users.
 */
export class TrustedIssuers1796300000000 implements MigrationInterface {
  name = 'TrustedIssuers1796300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE trusted_issuers (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        issuer text NOT NULL,
        jwks_uri text,
        jwks jsonb,
        algorithms text[] NOT NULL,
        subject_mapping text NOT NULL,
        allowed_client_ids text[] NOT NULL DEFAULT '{}',
        audience text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_trusted_issuers PRIMARY KEY (id),
        CONSTRAINT ux_trusted_issuers_issuer UNIQUE (issuer),
        CONSTRAINT ck_trusted_issuers_subject_mapping
          CHECK (subject_mapping IN ('sub_link', 'verified_email', 'external')),
        CONSTRAINT ck_trusted_issuers_keys CHECK ((jwks_uri IS NULL) <> (jwks IS NULL))
      )`);
    await q.query(`
      CREATE TABLE external_subject_links (
        issuer text NOT NULL,
        subject text NOT NULL,
        user_id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_external_subject_links PRIMARY KEY (issuer, subject),
        CONSTRAINT fk_external_subject_links_issuer FOREIGN KEY (issuer)
          REFERENCES trusted_issuers (issuer) ON DELETE CASCADE,
        CONSTRAINT fk_external_subject_links_user FOREIGN KEY (user_id)
          REFERENCES users (id) ON DELETE CASCADE
      )`);
    await q.query(
      `CREATE INDEX ix_external_subject_links_user ON external_subject_links (user_id)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE external_subject_links`);
    await q.query(`DROP TABLE trusted_issuers`);
  }
}
