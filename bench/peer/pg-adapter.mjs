// A PostgreSQL storage adapter for node-oidc-provider, written for the side-by-side benchmark
// from the adapter interface the provider documents: one table, each artifact stored as a JSONB
// payload under (model, id), with its expiry and the lookup keys the provider asks for.
import pg from 'pg';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS oidc_artifacts (
  model text NOT NULL,
  id text NOT NULL,
  payload jsonb NOT NULL,
  grant_id text,
  user_code text,
  uid text,
  expires_at timestamptz,
  consumed_at timestamptz,
  CONSTRAINT oidc_artifacts_pkey PRIMARY KEY (model, id)
);
CREATE INDEX IF NOT EXISTS oidc_artifacts_grant_id ON oidc_artifacts (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_artifacts_user_code ON oidc_artifacts (user_code) WHERE user_code IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_artifacts_uid ON oidc_artifacts (uid) WHERE uid IS NOT NULL;
`;

/** Live rows only: an expired artifact is as good as absent. */
const LIVE = '(expires_at IS NULL OR expires_at > now())';

function toPayload(row) {
  if (!row) return undefined;
  // The provider treats a truthy `consumed` as "already used" (e.g. a rotated refresh token).
  return row.consumed_at
    ? { ...row.payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) }
    : row.payload;
}

/**
 * Returns an adapter class bound to a pool: the provider makes one instance per model name
 * (AccessToken, RefreshToken, Grant, Client, ...).
 */
export async function postgresAdapter(connectionString, poolSize) {
  const pool = new pg.Pool({ connectionString, max: poolSize, application_name: 'oidc-peer' });
  await pool.query(SCHEMA);

  class PostgresAdapter {
    constructor(model) {
      this.model = model;
    }

    async upsert(id, payload, expiresIn) {
      await pool.query(
        `INSERT INTO oidc_artifacts (model, id, payload, grant_id, user_code, uid, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6,
           CASE WHEN $7::int IS NULL THEN NULL ELSE now() + make_interval(secs => $7::int) END)
         ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload,
           grant_id = EXCLUDED.grant_id, user_code = EXCLUDED.user_code, uid = EXCLUDED.uid,
           expires_at = EXCLUDED.expires_at, consumed_at = NULL`,
        [
          this.model,
          id,
          payload,
          payload.grantId ?? null,
          payload.userCode ?? null,
          payload.uid ?? null,
          expiresIn ?? null,
        ],
      );
    }

    async find(id) {
      const { rows } = await pool.query(
        `SELECT payload, consumed_at FROM oidc_artifacts WHERE model = $1 AND id = $2 AND ${LIVE}`,
        [this.model, id],
      );
      return toPayload(rows[0]);
    }

    async findByUserCode(userCode) {
      const { rows } = await pool.query(
        `SELECT payload, consumed_at FROM oidc_artifacts
         WHERE model = $1 AND user_code = $2 AND ${LIVE}`,
        [this.model, userCode],
      );
      return toPayload(rows[0]);
    }

    async findByUid(uid) {
      const { rows } = await pool.query(
        `SELECT payload, consumed_at FROM oidc_artifacts WHERE model = $1 AND uid = $2 AND ${LIVE}`,
        [this.model, uid],
      );
      return toPayload(rows[0]);
    }

    async consume(id) {
      await pool.query(
        `UPDATE oidc_artifacts SET consumed_at = now() WHERE model = $1 AND id = $2`,
        [this.model, id],
      );
    }

    async destroy(id) {
      await pool.query(`DELETE FROM oidc_artifacts WHERE model = $1 AND id = $2`, [this.model, id]);
    }

    // Every artifact of a grant goes with it (refresh token reuse, revocation).
    async revokeByGrantId(grantId) {
      await pool.query(`DELETE FROM oidc_artifacts WHERE grant_id = $1`, [grantId]);
    }
  }

  return { Adapter: PostgresAdapter, close: () => pool.end() };
}
