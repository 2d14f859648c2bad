import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module.js';
import { AuthGuardsModule } from '../auth-guards/auth-guards.module.js';
import { SafeFetcher } from '../common/safe-fetch.js';
import { ClientAssertionService } from './client-assertion.service.js';
import { ClientAuthLockout } from './client-auth-lockout.js';
import { ClientAuthService } from './client-auth.service.js';
import { CimdResolver } from './cimd-resolver.js';
import { ClientsAdminController } from './clients-admin.controller.js';
import { ClientsService } from './clients.service.js';
import { ClientEntity } from './entities/client.entity.js';
import { RegistrationAdminController } from './registration-admin.controller.js';
import { RegistrationCleanupService } from './registration-cleanup.service.js';
import { RegistrationInitialAccessTokensService } from './registration-initial-access-tokens.service.js';
import { RegistrationService } from './registration.service.js';
import { RegistrationEndpoints } from './registration.endpoints.js';

@Module({
  imports: [TypeOrmModule.forFeature([ClientEntity]), AuthGuardsModule, AuditModule],
  controllers: [ClientsAdminController, RegistrationAdminController],
  providers: [
    ClientsService,
    ClientAuthService,
    ClientAuthLockout,
    ClientAssertionService,
    CimdResolver,
    SafeFetcher,
    RegistrationInitialAccessTokensService,
    RegistrationService,
    RegistrationEndpoints,
    RegistrationCleanupService,
  ],
  exports: [
    ClientsService,
    ClientAuthService,
    SafeFetcher,
    RegistrationEndpoints,
    RegistrationCleanupService,
  ],
})
export class ClientsModule {}
