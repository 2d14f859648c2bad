import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { HealthController } from './health.controller.js';
import { MetricsAccessGuard } from './metrics-access.guard.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';

@Module({
  imports: [AuditModule],
  controllers: [HealthController, MetricsController],
  providers: [MetricsService, MetricsAccessGuard],
})
export class HealthModule {}
