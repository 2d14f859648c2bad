import { Injectable } from '@nestjs/common';
import type {
  KeyListResponseDto,
  KeyResponseDto,
  KeyRevocationResponseDto,
} from './dto/key-response.dto.js';
import { SigningKeysService, type KeySummary } from './signing-keys.service.js';

/** Maps signing-key state to the admin API's shapes. */
@Injectable()
export class KeysAdminService {
  constructor(private readonly keys: SigningKeysService) {}

  async list(): Promise<KeyListResponseDto> {
    return { data: (await this.keys.list()).map(toResponse) };
  }

  async rotate(): Promise<KeyListResponseDto> {
    return { data: (await this.keys.rotate()).map(toResponse) };
  }

  async revoke(kid: string): Promise<KeyRevocationResponseDto> {
    const { revoked, replacement } = await this.keys.revoke(kid);
    return {
      revoked: toResponse(revoked),
      replacement: replacement === null ? null : toResponse(replacement),
    };
  }
}

function toResponse(key: KeySummary): KeyResponseDto {
  return {
    kid: key.kid,
    use: key.use,
    alg: key.alg,
    state: key.state,
    created_at: key.createdAt,
    activate_at: key.activateAt,
    retired_at: key.retiredAt,
    expires_at: key.expiresAt,
    revoked_at: key.revokedAt,
  };
}
