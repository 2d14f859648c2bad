import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module.js';
import { AuthGuardsModule } from '../auth-guards/auth-guards.module.js';
import { RoleEntity } from './entities/role.entity.js';
import { UserEntity } from './entities/user.entity.js';
import { RolesAdminController } from './roles-admin.controller.js';
import { RolesService } from './roles.service.js';
import { UsersAdminController } from './users-admin.controller.js';
import { UsersService } from './users.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([UserEntity, RoleEntity]), AuthGuardsModule, AuditModule],
  controllers: [UsersAdminController, RolesAdminController],
  providers: [UsersService, RolesService],
  exports: [UsersService],
})
export class UsersModule {}
