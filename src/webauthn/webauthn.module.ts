import { Module } from '@nestjs/common';
import { AuthGuardsModule } from '../auth-guards/auth-guards.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { UsersModule } from '../users/users.module.js';
import { ViewsModule } from '../views/views.module.js';
import { ChallengesService } from './challenges.service.js';
import { PagesController } from './pages.controller.js';
import { PagesService } from './pages.service.js';
import { PasskeysAdminController } from './passkeys-admin.controller.js';
import { PasskeysService } from './passkeys.service.js';
import { SetupTokensService } from './setup-tokens.service.js';
import { WebauthnController } from './webauthn.controller.js';
import { WebauthnService } from './webauthn.service.js';

@Module({
  imports: [AuthGuardsModule, UsersModule, SessionsModule, ViewsModule],
  controllers: [WebauthnController, PasskeysAdminController, PagesController],
  providers: [
    WebauthnService,
    ChallengesService,
    PasskeysService,
    SetupTokensService,
    PagesService,
  ],
  exports: [SetupTokensService],
})
export class WebauthnModule {}
