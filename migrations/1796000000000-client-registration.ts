import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Self-registered clients (RFC 7591/7592), client ID metadata documents, private_key_jwt
 * (RFC 7523), registered resource servers (RFC 8707) and initial access tokens.
 */
export class ClientRegistration1796000000000 implements MigrationInterface {
  name = 'ClientRegistration1796000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE clients
        ADD COLUMN source text NOT NULL DEFAULT 'admin',
        ADD COLUMN application_type text NOT NULL DEFAULT 'web',
        ADD COLUMN registration_access_token_hash text,
        ADD COLUMN jwks jsonb,
        ADD COLUMN jwks_uri text,
        ADD COLUMN client_uri text,
        ADD COLUMN software_id text,
        ADD COLUMN software_version text,
        ADD COLUMN metadata_expires_at timestamptz,
        ADD CONSTRAINT ck_clients_source CHECK (source IN ('admin', 'dcr', 'cimd')),
        ADD CONSTRAINT ck_clients_application_type CHECK (application_type IN ('web', 'native'))`);
    await q.query(`ALTER TABLE clients DROP CONSTRAINT ck_clients_auth_method`);
    await q.query(`ALTER TABLE clients ADD CONSTRAINT ck_clients_auth_method CHECK (
        token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'))`);
    // A confidential client proves itself with a secret or with its keys (private_key_jwt).
    await q.query(`ALTER TABLE clients DROP CONSTRAINT ck_clients_secret`);
    await q.query(`ALTER TABLE clients ADD CONSTRAINT ck_clients_secret CHECK (
        (type = 'public' AND secret_hash IS NULL) OR
        (type = 'confidential' AND (secret_hash IS NOT NULL OR token_endpoint_auth_method = 'private_key_jwt')))`);
    await q.query(
      `CREATE INDEX ix_clients_source_last_used ON clients (source, last_used_at) WHERE source <> 'admin'`,
    );

    await q.query(`
      CREATE TABLE resources (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        identifier text NOT NULL,
        name text NOT NULL,
        scopes text[] NOT NULL DEFAULT '{}',
        access_token_ttl_seconds integer,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_resources PRIMARY KEY (id),
        CONSTRAINT ck_resources_ttl CHECK (access_token_ttl_seconds IS NULL OR access_token_ttl_seconds BETWEEN 30 AND 86400)
      )`);
    await q.query(`CREATE UNIQUE INDEX ux_resources_identifier ON resources (identifier)`);
    await q.query(`CREATE INDEX ix_resources_created_at ON resources (created_at, id)`);

    await q.query(`
      CREATE TABLE initial_access_tokens (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        token_hash text NOT NULL,
        description text NOT NULL DEFAULT '',
        uses_remaining integer,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        CONSTRAINT pk_initial_access_tokens PRIMARY KEY (id),
        CONSTRAINT ck_initial_access_tokens_uses CHECK (uses_remaining IS NULL OR uses_remaining >= 0)
      )`);
    await q.query(
      `CREATE UNIQUE INDEX ux_initial_access_tokens_token_hash ON initial_access_tokens (token_hash)`,
    );

    // RFC 7523 §3: a client assertion's jti is accepted once, until the assertion expires.
    await q.query(`
      CREATE TABLE client_assertion_jtis (
        client_id text NOT NULL,
        jti text NOT NULL,
        expires_at timestamptz NOT NULL,
        CONSTRAINT pk_client_assertion_jtis PRIMARY KEY (client_id, jti)
      )`);
    await q.query(
      `CREATE INDEX ix_client_assertion_jtis_expires_at ON client_assertion_jtis (expires_at)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE client_assertion_jtis`);
    await q.query(`DROP TABLE initial_access_tokens`);
    await q.query(`DROP TABLE resources`);
    await q.query(`DROP INDEX ix_clients_source_last_used`);
    await q.query(`ALTER TABLE clients DROP CONSTRAINT ck_clients_secret`);
    await q.query(
      `ALTER TABLE clients ADD CONSTRAINT ck_clients_secret CHECK ((type = 'confidential') = (secret_hash IS NOT NULL))`,
    );
    await q.query(`ALTER TABLE clients DROP CONSTRAINT ck_clients_auth_method`);
    await q.query(`ALTER TABLE clients ADD CONSTRAINT ck_clients_auth_method CHECK (
        token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post', 'none'))`);
    await q.query(`
      ALTER TABLE clients
        DROP CONSTRAINT ck_clients_application_type,
        DROP CONSTRAINT ck_clients_source,
        DROP COLUMN metadata_expires_at,
        DROP COLUMN software_version,
        DROP COLUMN software_id,
        DROP COLUMN client_uri,
        DROP COLUMN jwks_uri,
        DROP COLUMN jwks,
        DROP COLUMN registration_access_token_hash,
        DROP COLUMN application_type,
        DROP COLUMN source`);
  }
}
