import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Users, roles, passkeys, browser sessions, consent, authorization codes and refresh tokens. */
export class People1795500000000 implements MigrationInterface {
  name = 'People1795500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE roles (
        name text NOT NULL,
        description text NOT NULL DEFAULT '',
        permissions text[] NOT NULL DEFAULT '{}',
        built_in boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_roles PRIMARY KEY (name)
      )`);
    await q.query(`
      INSERT INTO roles (name, description, permissions, built_in) VALUES
        ('user', 'Signs in and uses apps', '{user}', true),
        ('admin', 'Administers Latchkey', '{user,admin}', true)`);

    await q.query(`
      CREATE TABLE users (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        email text NOT NULL,
        email_verified boolean NOT NULL DEFAULT false,
        display_name text NOT NULL,
        status text NOT NULL DEFAULT 'active',
        roles text[] NOT NULL DEFAULT '{user}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_users PRIMARY KEY (id),
        CONSTRAINT ck_users_status CHECK (status IN ('active', 'disabled')),
        CONSTRAINT ck_users_email_lower CHECK (email = lower(email))
      )`);
    await q.query(`CREATE UNIQUE INDEX ux_users_email ON users (email)`);
    await q.query(`CREATE INDEX ix_users_created_at ON users (created_at, id)`);

    await q.query(`
      CREATE TABLE webauthn_credentials (
        id text NOT NULL,
        user_id uuid NOT NULL,
        public_key bytea NOT NULL,
        sign_count bigint NOT NULL DEFAULT 0,
        transports text[] NOT NULL DEFAULT '{}',
        device_type text NOT NULL,
        backed_up boolean NOT NULL,
        aaguid text,
        name text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        CONSTRAINT pk_webauthn_credentials PRIMARY KEY (id),
        CONSTRAINT fk_webauthn_credentials_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX ix_webauthn_credentials_user_id ON webauthn_credentials (user_id)`);

    await q.query(`
      CREATE TABLE webauthn_challenges (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        ceremony text NOT NULL,
        challenge text NOT NULL,
        user_id uuid,
        rp_id text NOT NULL,
        origin text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        consumed_at timestamptz,
        CONSTRAINT pk_webauthn_challenges PRIMARY KEY (id),
        CONSTRAINT ck_webauthn_challenges_ceremony CHECK (ceremony IN ('registration', 'authentication')),
        CONSTRAINT fk_webauthn_challenges_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
      )`);
    await q.query(
      `CREATE INDEX ix_webauthn_challenges_expires_at ON webauthn_challenges (expires_at)`,
    );

    await q.query(`
      CREATE TABLE setup_tokens (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL,
        token_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        consumed_at timestamptz,
        CONSTRAINT pk_setup_tokens PRIMARY KEY (id),
        CONSTRAINT fk_setup_tokens_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE UNIQUE INDEX ux_setup_tokens_token_hash ON setup_tokens (token_hash)`);

    await q.query(`
      CREATE TABLE sessions (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        sid_hash text NOT NULL,
        user_id uuid,
        auth_time timestamptz NOT NULL,
        amr text[] NOT NULL DEFAULT '{}',
        user_agent text,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        CONSTRAINT pk_sessions PRIMARY KEY (id),
        CONSTRAINT fk_sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE UNIQUE INDEX ux_sessions_sid_hash ON sessions (sid_hash)`);
    await q.query(`CREATE INDEX ix_sessions_user_id ON sessions (user_id)`);
    await q.query(`CREATE INDEX ix_sessions_expires_at ON sessions (expires_at)`);

    await q.query(`
      CREATE TABLE consents (
        user_id uuid NOT NULL,
        client_id text NOT NULL,
        scopes text[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_consents PRIMARY KEY (user_id, client_id),
        CONSTRAINT fk_consents_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT fk_consents_client FOREIGN KEY (client_id) REFERENCES clients (id) ON DELETE CASCADE
      )`);

    // A token family: everything issued from one authorization code, through every rotation.
    await q.query(`
      CREATE TABLE token_families (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        client_id text NOT NULL,
        user_id uuid,
        session_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        revoked_reason text,
        CONSTRAINT pk_token_families PRIMARY KEY (id),
        CONSTRAINT fk_token_families_client FOREIGN KEY (client_id) REFERENCES clients (id) ON DELETE CASCADE,
        CONSTRAINT fk_token_families_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX ix_token_families_user_id ON token_families (user_id)`);
    await q.query(`CREATE INDEX ix_token_families_session_id ON token_families (session_id)`);

    // Access tokens are not stored, but their ids are remembered per family so that revoking
    // a family (code replay, refresh reuse, sign-out) can revoke them too.
    await q.query(`
      CREATE TABLE family_access_tokens (
        jti text NOT NULL,
        family_id uuid NOT NULL,
        expires_at timestamptz NOT NULL,
        CONSTRAINT pk_family_access_tokens PRIMARY KEY (jti),
        CONSTRAINT fk_family_access_tokens_family FOREIGN KEY (family_id) REFERENCES token_families (id) ON DELETE CASCADE
      )`);
    await q.query(
      `CREATE INDEX ix_family_access_tokens_family_id ON family_access_tokens (family_id)`,
    );

    await q.query(`
      CREATE TABLE authorization_codes (
        code_hash text NOT NULL,
        client_id text NOT NULL,
        user_id uuid NOT NULL,
        session_id uuid NOT NULL,
        family_id uuid NOT NULL,
        redirect_uri text NOT NULL,
        scope text NOT NULL,
        resource text,
        nonce text,
        code_challenge text NOT NULL,
        auth_time timestamptz NOT NULL,
        amr text[] NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        consumed_at timestamptz,
        CONSTRAINT pk_authorization_codes PRIMARY KEY (code_hash),
        CONSTRAINT fk_authorization_codes_family FOREIGN KEY (family_id) REFERENCES token_families (id) ON DELETE CASCADE
      )`);
    await q.query(
      `CREATE INDEX ix_authorization_codes_expires_at ON authorization_codes (expires_at)`,
    );

    await q.query(`
      CREATE TABLE refresh_tokens (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        token_hash text NOT NULL,
        family_id uuid NOT NULL,
        parent_id uuid,
        scope text NOT NULL,
        resource text,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        rotated_at timestamptz,
        successor_id uuid,
        CONSTRAINT pk_refresh_tokens PRIMARY KEY (id),
        CONSTRAINT fk_refresh_tokens_family FOREIGN KEY (family_id) REFERENCES token_families (id) ON DELETE CASCADE
      )`);
    await q.query(
      `CREATE UNIQUE INDEX ux_refresh_tokens_token_hash ON refresh_tokens (token_hash)`,
    );
    await q.query(`CREATE INDEX ix_refresh_tokens_family_id ON refresh_tokens (family_id)`);
    await q.query(`CREATE INDEX ix_refresh_tokens_expires_at ON refresh_tokens (expires_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [
      'refresh_tokens',
      'authorization_codes',
      'family_access_tokens',
      'token_families',
      'consents',
      'sessions',
      'setup_tokens',
      'webauthn_challenges',
      'webauthn_credentials',
      'users',
      'roles',
    ]) {
      await q.query(`DROP TABLE ${table}`);
    }
  }
}
