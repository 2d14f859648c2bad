import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Foundation1795400000000 implements MigrationInterface {
  name = 'Foundation1795400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE clients (
        id text NOT NULL,
        name text NOT NULL,
        type text NOT NULL,
        secret_hash text,
        secret_rotated_at timestamptz,
        redirect_uris text[] NOT NULL DEFAULT '{}',
        grant_types text[] NOT NULL DEFAULT '{}',
        response_types text[] NOT NULL DEFAULT '{}',
        allowed_scopes text[] NOT NULL DEFAULT '{}',
        service_roles text[] NOT NULL DEFAULT '{}',
        token_endpoint_auth_method text NOT NULL,
        owner_user_id uuid,
        contacts text[] NOT NULL DEFAULT '{}',
        logo_uri text,
        policy_uri text,
        tos_uri text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        CONSTRAINT pk_clients PRIMARY KEY (id),
        CONSTRAINT ck_clients_type CHECK (type IN ('confidential', 'public')),
        CONSTRAINT ck_clients_secret CHECK ((type = 'confidential') = (secret_hash IS NOT NULL)),
        CONSTRAINT ck_clients_auth_method CHECK (
          token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post', 'none')
        )
      )`);
    await q.query(`CREATE INDEX ix_clients_created_at ON clients (created_at, id)`);
    await q.query(`CREATE INDEX ix_clients_owner_user_id ON clients (owner_user_id)`);

    await q.query(`
      CREATE TABLE signing_keys (
        kid text NOT NULL,
        use text NOT NULL,
        alg text NOT NULL,
        state text NOT NULL,
        public_jwk jsonb NOT NULL,
        private_key_enc text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        activate_at timestamptz NOT NULL,
        retired_at timestamptz,
        expires_at timestamptz,
        CONSTRAINT pk_signing_keys PRIMARY KEY (kid),
        CONSTRAINT ck_signing_keys_use CHECK (use IN ('access_token', 'id_token')),
        CONSTRAINT ck_signing_keys_state CHECK (state IN ('pending', 'active', 'retired'))
      )`);
    // At most one signing key per use: the conditional promotion relies on it.
    await q.query(
      `CREATE UNIQUE INDEX ux_signing_keys_active_use ON signing_keys (use) WHERE state = 'active'`,
    );

    await q.query(`
      CREATE TABLE revoked_jtis (
        jti text NOT NULL,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_revoked_jtis PRIMARY KEY (jti)
      )`);
    await q.query(`CREATE INDEX ix_revoked_jtis_expires_at ON revoked_jtis (expires_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE revoked_jtis`);
    await q.query(`DROP TABLE signing_keys`);
    await q.query(`DROP TABLE clients`);
  }
}
