import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthGuardsModule } from '../auth-guards/auth-guards.module.js';
import { ClientAuthService } from './client-auth.service.js';
import { ClientsAdminController } from './clients-admin.controller.js';
import { ClientsService } from './clients.service.js';
import { ClientEntity } from './entities/client.entity.js';

@Module({
  imports: [TypeOrmModule.forFeature([ClientEntity]), AuthGuardsModule],
  controllers: [ClientsAdminController],
  providers: [ClientsService, ClientAuthService],
  exports: [ClientsService, ClientAuthService],
})
export class ClientsModule {}
