import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { AppConfig } from '../../config/app-config.js';
import { parseForm, readForm } from '../../common/http.js';
import { ROUTES } from '../../common/routes.js';
import { ViewsService } from '../../views/views.service.js';
import { LogoutService, type LogoutOutcome } from './logout.service.js';

/** GET|POST /oauth/logout, the end_session_endpoint. Documented by discovery. */
@ApiExcludeController()
@Controller()
export class EndSessionController {
  constructor(
    private readonly config: AppConfig,
    private readonly logout: LogoutService,
    private readonly views: ViewsService,
  ) {}

  @Get(ROUTES.endSession)
  async byGet(@Req() req: Request, @Res() res: Response): Promise<void> {
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
    this.send(res, await this.logout.logout(parseForm(query), req.headers, false));
  }

  @Post(ROUTES.endSession)
  async byPost(@Req() req: Request, @Res() res: Response): Promise<void> {
    const form = await readForm(req, this.config.http);
    this.send(res, await this.logout.logout(form, req.headers, true));
  }

  private send(res: Response, outcome: LogoutOutcome): void {
    if (outcome.setCookie !== null) res.setHeader('Set-Cookie', outcome.setCookie);
    if (outcome.kind === 'redirect') {
      res.setHeader('Cache-Control', 'no-store');
      res.redirect(303, outcome.location);
      return;
    }
    const { status, ...model } = outcome.page;
    this.views.send(
      res,
      status,
      'logout',
      {
        ...model,
        fields: model.confirm
          ? Object.entries(model.confirm).map(([name, value]) => ({ name, value }))
          : [],
      },
      // Confirming redirects to the (already validated) post-logout redirect URI.
      { formTargets: [model.confirm?.post_logout_redirect_uri] },
    );
  }
}
