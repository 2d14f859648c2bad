import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module.js';
import { AccessTokensService } from './access-tokens.service.js';
import { AuthorizationCodesService } from './authorization-codes.service.js';
import { RevokedJtiEntity } from './entities/revoked-jti.entity.js';
import { SigningKeyEntity } from './entities/signing-key.entity.js';
import { IdTokensService } from './id-tokens.service.js';
import { IN_PROCESS_GUARD_PROVIDERS } from '../auth-guards/in-process.providers.js';
import { KeysAdminController } from './keys-admin.controller.js';
import { KeysAdminService } from './keys-admin.service.js';
import { RevocationListService } from './revocation-list.service.js';
import { RefreshTokensService } from './refresh-tokens.service.js';
import { SigningKeysService } from './signing-keys.service.js';
import { TokenFamiliesService } from './token-families.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([SigningKeyEntity, RevokedJtiEntity]), AuditModule],
  controllers: [KeysAdminController],
  providers: [
    SigningKeysService,
    RevocationListService,
    AccessTokensService,
    KeysAdminService,
    // KeysAdminController is guarded; AuthGuardsModule cannot be imported here (it imports us).
    ...IN_PROCESS_GUARD_PROVIDERS,
    TokenFamiliesService,
    AuthorizationCodesService,
    RefreshTokensService,
    IdTokensService,
  ],
  exports: [
    SigningKeysService,
    AccessTokensService,
    TokenFamiliesService,
    AuthorizationCodesService,
    RefreshTokensService,
    IdTokensService,
  ],
})
export class TokensModule {}
