import { Controller, Get, Post, Req, Res, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { AppConfig } from '../../config/app-config.js';
import { readForm } from '../../common/http.js';
import { ROUTES } from '../../common/routes.js';
import { RateLimitGuard, RateLimited } from '../../rate-limits/rate-limit.guard.js';
import { AuthorizePages } from './authorize-pages.js';
import { AuthorizeService } from './authorize.service.js';

/**
 * Browser-facing, so not on the hot path: a normal controller. Documented by discovery.
 * Rate-limited per address; the 429 is a JSON error, never a redirect, because the guard runs
 * before the client and its redirect URI are verified (RFC 6749 §4.1.2.1).
 */
@ApiExcludeController()
@UseGuards(RateLimitGuard)
@RateLimited('authorize')
@Controller()
export class AuthorizeController {
  constructor(
    private readonly config: AppConfig,
    private readonly authorize: AuthorizeService,
    private readonly pages: AuthorizePages,
  ) {}

  @Get(ROUTES.authorize)
  async start(@Req() req: Request, @Res() res: Response): Promise<void> {
    this.pages.send(res, await this.authorize.authorize(queryOf(req.url), req.headers), 302);
  }

  /** OIDC Core §3.1.2.1: the authorization endpoint accepts POST with a form body, too. */
  @Post(ROUTES.authorize)
  async startByPost(@Req() req: Request, @Res() res: Response): Promise<void> {
    const form = await readForm(req, this.config.http);
    this.pages.send(res, await this.authorize.authorizeForm(form, req.headers), 302);
  }

  @Post(ROUTES.authorizeDecision)
  async decide(@Req() req: Request, @Res() res: Response): Promise<void> {
    const form = await readForm(req, this.config.http);
    this.pages.send(res, await this.authorize.decide(form, req.headers), 303);
  }
}

function queryOf(url: string): string {
  const index = url.indexOf('?');
  return index === -1 ? '' : url.slice(index + 1);
}
