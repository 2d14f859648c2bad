import { Module } from '@nestjs/common';
import { ExpiredDataCleanupService } from './expired-data-cleanup.service.js';

/** Housekeeping of expired rows across the schema, on one node at a time. */
@Module({ providers: [ExpiredDataCleanupService], exports: [ExpiredDataCleanupService] })
export class LifecycleModule {}
