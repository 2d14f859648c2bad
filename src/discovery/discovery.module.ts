import { Module } from '@nestjs/common';
import { OAuthModule } from '../oauth/oauth.module.js';
import { TokensModule } from '../tokens/tokens.module.js';
import { DiscoveryEndpoints } from './discovery.endpoints.js';
import { DiscoveryService } from './discovery.service.js';

@Module({
  imports: [OAuthModule, TokensModule],
  providers: [DiscoveryService, DiscoveryEndpoints],
  exports: [DiscoveryEndpoints],
})
export class DiscoveryModule {}
