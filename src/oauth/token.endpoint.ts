import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ClientAuthService } from '../clients/client-auth.service.js';
import type { ClientRecord } from '../clients/client-record.js';
import { readForm, sendJson, type RawRequest, type RawResponse } from '../common/http.js';
import { UnauthorizedClient, UnsupportedGrantType } from '../common/oauth-errors.js';
import type { ProtocolEndpoint } from '../common/protocol-endpoint.js';
import { ROUTES } from '../common/routes.js';
import { tokensIssued, type CounterCell } from '../health/metrics-registry.js';
import { addressOf } from '../rate-limits/client-address.js';
import { RateLimiter } from '../rate-limits/rate-limiter.service.js';
import { rejectRepeated, requireParam } from './form-rules.js';
import { GrantRegistry } from './grants/grant-registry.js';

/** POST /oauth/token (RFC 6749 §3.2): form body, client authentication, grant check, handler. */
@Injectable()
export class TokenEndpoint implements ProtocolEndpoint {
  readonly path = ROUTES.token;
  readonly methods = ['POST'];
  /** grant type → issued-token counters by client type, built once (see `clientTypeIndex`). */
  private readonly issued = new Map<string, readonly CounterCell[]>();

  constructor(
    private readonly config: AppConfig,
    private readonly clientAuth: ClientAuthService,
    private readonly grants: GrantRegistry,
    private readonly limiter: RateLimiter,
  ) {
    for (const grantType of grants.supported()) {
      this.issued.set(
        grantType,
        CLIENT_TYPES.map((clientType) =>
          tokensIssued.cell({ grant_type: grantType, client_type: clientType }),
        ),
      );
    }
  }

  async handle(req: RawRequest, res: RawResponse): Promise<void> {
    // Per address before the body is even read; per client once it has proved who it is, so a
    // client spread over many addresses still meets its own limit.
    await this.limiter.consume('token', addressOf(req));
    const form = await readForm(req, this.config.http);
    const grant = this.grants.get(form.values.get('grant_type') ?? '');
    rejectRepeated(form, grant?.repeatable);
    const grantType = requireParam(form, 'grant_type');
    const client = await this.clientAuth.authenticate(req.headers, form, { allowPublic: true });
    await this.limiter.consume('token-client', client.id);
    if (!grant) throw new UnsupportedGrantType(`grant type ${grantType} is not supported`);
    if (!client.grantTypes.has(grantType)) {
      throw new UnauthorizedClient(`the client may not use the ${grantType} grant`);
    }
    const response = await grant.handle({ client, form, req });
    (this.issued.get(grantType) as readonly CounterCell[])[clientTypeIndex(client)].value++;
    sendJson(res, 200, response);
  }
}

const CLIENT_TYPES = ['confidential', 'public', 'service_account'] as const;

/** A service account is a confidential client an admin gave roles; it is counted on its own. */
function clientTypeIndex(client: ClientRecord): number {
  if (client.serviceRoles.length > 0) return 2;
  return client.type === 'public' ? 1 : 0;
}
