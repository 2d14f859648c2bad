import { Module } from '@nestjs/common';
import { ClientsModule } from '../clients/clients.module.js';
import { ResourcesModule } from '../resources/resources.module.js';
import { TokensModule } from '../tokens/tokens.module.js';
import { ClientCredentialsGrant } from './grants/client-credentials.grant.js';
import { GrantRegistry } from './grants/grant-registry.js';
import { IntrospectionEndpoint } from './introspection.endpoint.js';
import { RevocationEndpoint } from './revocation.endpoint.js';
import { TokenEndpoint } from './token.endpoint.js';

@Module({
  imports: [ClientsModule, TokensModule, ResourcesModule],
  providers: [
    ClientCredentialsGrant,
    GrantRegistry,
    TokenEndpoint,
    IntrospectionEndpoint,
    RevocationEndpoint,
  ],
  exports: [GrantRegistry, TokenEndpoint, IntrospectionEndpoint, RevocationEndpoint],
})
export class OAuthModule {}
