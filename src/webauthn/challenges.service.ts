import { isUuid } from '../common/crypto.js';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { returnedRows } from '../database/query-result.js';
import { WebauthnError, WebauthnErrorCode } from './webauthn.errors.js';

export type Ceremony = 'registration' | 'authentication';

export interface ChallengeRow {
  id: string;
  challenge: string;
  user_id: string | null;
  setup_token_id: string | null;
  rp_id: string;
  origin: string;
}

/**
 * One row per WebAuthn ceremony, used at most once, within config.webauthn.challengeTtlSeconds.
 * Spent and expired rows are deleted by the expired-data cleanup job (src/lifecycle/).
 */
@Injectable()
export class ChallengesService {
  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
  ) {}

  async create(input: {
    ceremony: Ceremony;
    challenge: string;
    userId: string | null;
    setupTokenId: string | null;
  }): Promise<string> {
    const rows: unknown = await this.dataSource.query(
      `INSERT INTO webauthn_challenges (ceremony, challenge, user_id, setup_token_id, rp_id, origin, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
       RETURNING id`,
      [
        input.ceremony,
        input.challenge,
        input.userId,
        input.setupTokenId,
        this.config.webauthn.rpId,
        this.config.webauthn.origin,
        this.config.webauthn.challengeTtlSeconds,
      ],
    );
    const [row] = returnedRows<{ id: string }>(rows);
    return row.id;
  }

  /** Takes the ceremony's challenge, once: a replayed, expired or unknown id is refused. */
  async consume(id: string | null, ceremony: Ceremony): Promise<ChallengeRow> {
    if (id === null || !isUuid(id)) throw invalid();
    const rows: unknown = await this.dataSource.query(
      `UPDATE webauthn_challenges SET consumed_at = now()
        WHERE id = $1 AND ceremony = $2 AND consumed_at IS NULL AND expires_at > now()
        RETURNING id, challenge, user_id, setup_token_id, rp_id, origin`,
      [id, ceremony],
    );
    const [row] = returnedRows<ChallengeRow>(rows);
    if (row === undefined) throw invalid();
    return row;
  }
}

function invalid(): WebauthnError {
  return new WebauthnError(
    WebauthnErrorCode.ChallengeInvalid,
    'the passkey ceremony expired or was already completed; start again',
  );
}
