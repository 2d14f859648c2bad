import { Module } from '@nestjs/common';
import { AuthGuardsModule } from '../auth-guards/auth-guards.module.js';
import { AuditAdminController } from './audit-admin.controller.js';
import { AuditModule } from './audit.module.js';
import { AuditQueryService } from './audit-query.service.js';
import { AuditRetentionService } from './audit-retention.service.js';

/**
 * The audit trail's admin API and retention job. Apart from AuditModule, which the token and
 * client modules import to record events: the admin guard depends on those modules.
 */
@Module({
  imports: [AuditModule, AuthGuardsModule],
  controllers: [AuditAdminController],
  providers: [AuditQueryService, AuditRetentionService],
  exports: [AuditRetentionService],
})
export class AuditAdminModule {}
