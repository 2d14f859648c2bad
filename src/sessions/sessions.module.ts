import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module.js';
import { AuthGuardsModule } from '../auth-guards/auth-guards.module.js';
import { TokensModule } from '../tokens/tokens.module.js';
import { UsersModule } from '../users/users.module.js';
import { ViewsModule } from '../views/views.module.js';
import { SessionEntity } from './entities/session.entity.js';
import { LogoutController } from './logout.controller.js';
import { SessionsAdminController } from './sessions-admin.controller.js';
import { SessionsService } from './sessions.service.js';

@Module({
  imports: [
    TypeOrmModule.forFeature([SessionEntity]),
    AuthGuardsModule,
    TokensModule,
    UsersModule,
    ViewsModule,
    AuditModule,
  ],
  controllers: [SessionsAdminController, LogoutController],
  providers: [SessionsService],
  exports: [SessionsService],
})
export class SessionsModule {}
