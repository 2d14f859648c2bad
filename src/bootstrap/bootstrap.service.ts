import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ClientsErrorCode } from '../clients/clients.errors.js';
import { ClientsService } from '../clients/clients.service.js';
import { DomainError } from '../common/admin-errors.js';

/** The admin service client has a fixed id, so bootstrap can find it again. */
export const ADMIN_CLIENT_ID = 'latchkey-admin';

export interface BootstrapResult {
  issuer: string;
  client_id: string;
  /** Shown only when the client was created or its secret rotated by this run. */
  client_secret: string | null;
  /** The first admin user's passkey enrollment link, once passkey enrollment exists. */
  setup_url: string | null;
  created: boolean;
}

@Injectable()
export class BootstrapService {
  constructor(
    private readonly config: AppConfig,
    private readonly clients: ClientsService,
  ) {}

  /** Creates what is missing; creates nothing on later runs unless asked to rotate the secret. */
  async run(options: { rotateSecret?: boolean } = {}): Promise<BootstrapResult> {
    const result: BootstrapResult = {
      issuer: this.config.issuer,
      client_id: ADMIN_CLIENT_ID,
      client_secret: null,
      setup_url: null,
      created: false,
    };
    try {
      const created = await this.clients.create(
        {
          client_name: 'Latchkey admin',
          client_type: 'confidential',
          grant_types: ['client_credentials'],
          service_account_roles: ['admin'],
          allowed_scopes: ['admin'],
        },
        { id: ADMIN_CLIENT_ID },
      );
      result.client_secret = created.client_secret ?? null;
      result.created = true;
      return result;
    } catch (err) {
      if (!(err instanceof DomainError) || err.code !== ClientsErrorCode.ClientIdTaken) throw err;
    }
    if (options.rotateSecret) {
      result.client_secret = (await this.clients.rotateSecret(ADMIN_CLIENT_ID)).client_secret;
    }
    return result;
  }
}

/** The bootstrap result for a person reading a terminal. */
export function describeBootstrap(result: BootstrapResult, adminAudience: string): string {
  const lines = [
    '',
    'Latchkey is ready.',
    `  Issuer:               ${result.issuer}`,
    `  Admin client id:      ${result.client_id}`,
  ];
  if (result.client_secret !== null) {
    lines.push(
      `  Admin client secret:  ${result.client_secret}`,
      '  (shown once: store it now; rotate with `npm run cli -- bootstrap --rotate-secret`)',
      '',
      '  Get an admin token:',
      `    curl -s -u '${result.client_id}:${result.client_secret}' \\`,
      `      -d grant_type=client_credentials -d scope=admin \\`,
      `      --data-urlencode resource=${adminAudience} ${result.issuer}/oauth/token`,
    );
  } else {
    lines.push(
      '  Admin client secret:  (already issued; rotate with `npm run cli -- bootstrap --rotate-secret`)',
    );
  }
  if (result.setup_url !== null) lines.push(`  Admin passkey setup:  ${result.setup_url}`);
  lines.push('');
  return lines.join('\n');
}
