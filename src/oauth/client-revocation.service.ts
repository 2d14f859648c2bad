import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { ClientsService } from '../clients/clients.service.js';
import { logger } from '../common/logger.js';
import { AccessTokensService } from '../tokens/access-tokens.service.js';
import { TokenFamiliesService } from '../tokens/token-families.service.js';
import { ConsentsService } from './authorize/consents.service.js';
import type { ClientTokensRevokedResponseDto } from './dto/client-tokens-revoked-response.dto.js';

/**
 * Incident response for a compromised client: everything it was ever given stops working, while
 * the client itself stays registered (rotate its secret or keys first, or delete it).
 */
@Injectable()
export class ClientRevocationService {
  constructor(
    private readonly clients: ClientsService,
    private readonly consents: ConsentsService,
    private readonly families: TokenFamiliesService,
    private readonly accessTokens: AccessTokensService,
    private readonly audit: AuditService,
  ) {}

  /**
   * In this order: consents first, so no new code is issued without asking the user again;
   * then every token family (refresh tokens, codes not redeemed yet, and the access tokens they
   * gave); last, every access token issued to the client up to now, which also covers those
   * nothing records (client_credentials, token exchange).
   */
  async revokeTokens(clientId: string): Promise<ClientTokensRevokedResponseDto> {
    await this.clients.get(clientId); // client_not_found for an unknown id
    const withdrawn = await this.consents.withdrawAllForClient(clientId);
    const grants = await this.families.revokeForClient(clientId, 'client_tokens_revoked');
    const before = (await this.accessTokens.revokeAllForClient(clientId)).toISOString();
    logger.warn({ clientId, grants, withdrawn }, 'every token of a client revoked');
    this.audit.record({
      type: 'client.tokens_revoked',
      clientId,
      details: { revoked_before: before, revoked_grants: grants, withdrawn_consents: withdrawn },
    });
    return {
      client_id: clientId,
      revoked_before: before,
      revoked_grants: grants,
      withdrawn_consents: withdrawn,
    };
  }
}
