import { Module } from '@nestjs/common';
import { ClientsModule } from '../clients/clients.module.js';
import { UsersModule } from '../users/users.module.js';
import { WebauthnModule } from '../webauthn/webauthn.module.js';
import { BootstrapService } from './bootstrap.service.js';

@Module({
  imports: [ClientsModule, UsersModule, WebauthnModule],
  providers: [BootstrapService],
  exports: [BootstrapService],
})
export class BootstrapModule {}
