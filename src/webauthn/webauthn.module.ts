import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { AuthGuardsModule } from '../auth-guards/auth-guards.module.js';
import { OAuthModule } from '../oauth/oauth.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { UsersModule } from '../users/users.module.js';
import { ViewsModule } from '../views/views.module.js';
import { ChallengesService } from './challenges.service.js';
import { PagesController } from './pages.controller.js';
import { PagesService } from './pages.service.js';
import { PasskeyLockout } from './passkey-lockout.js';
import { PasskeysAdminController } from './passkeys-admin.controller.js';
import { PasskeysService } from './passkeys.service.js';
import { SetupTokensService } from './setup-tokens.service.js';
import { WebauthnController } from './webauthn.controller.js';
import { WebauthnService } from './webauthn.service.js';

@Module({
  // OAuthModule: the account page lists and withdraws the user's consents.
  imports: [AuthGuardsModule, UsersModule, SessionsModule, ViewsModule, AuditModule, OAuthModule],
  controllers: [WebauthnController, PasskeysAdminController, PagesController],
  providers: [
    WebauthnService,
    ChallengesService,
    PasskeysService,
    PasskeyLockout,
    SetupTokensService,
    PagesService,
  ],
  exports: [SetupTokensService],
})
export class WebauthnModule {}
