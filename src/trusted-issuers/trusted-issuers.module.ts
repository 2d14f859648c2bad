import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module.js';
import { AuthGuardsModule } from '../auth-guards/auth-guards.module.js';
import { ClientsModule } from '../clients/clients.module.js';
import { UsersModule } from '../users/users.module.js';
import { TrustedIssuerEntity } from './entities/trusted-issuer.entity.js';
import { TrustedIssuersAdminController } from './trusted-issuers-admin.controller.js';
import { TrustedIssuersService } from './trusted-issuers.service.js';

/** Trusted external issuers for token exchange; ClientsModule provides the SafeFetcher. */
@Module({
  imports: [
    TypeOrmModule.forFeature([TrustedIssuerEntity]),
    AuthGuardsModule,
    ClientsModule,
    UsersModule,
    AuditModule,
  ],
  controllers: [TrustedIssuersAdminController],
  providers: [TrustedIssuersService],
  exports: [TrustedIssuersService],
})
export class TrustedIssuersModule {}
