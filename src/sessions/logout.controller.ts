import { Body, Controller, Headers, Post, Res, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import type { IncomingHttpHeaders } from 'node:http';
import { PageExceptionFilter } from '../views/page-exception.filter.js';
import { ViewsService } from '../views/views.service.js';
import { CsrfFormDto } from './dto/csrf-form.dto.js';
import { SessionsService } from './sessions.service.js';

/** The account page's "Sign out" button. RP-initiated logout is /oauth/logout, elsewhere. */
@ApiExcludeController()
@UseFilters(PageExceptionFilter)
@Controller('logout')
export class LogoutController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly views: ViewsService,
  ) {}

  @Post()
  async logout(
    @Headers() headers: IncomingHttpHeaders,
    @Body() form: CsrfFormDto,
    @Res() res: Response,
  ): Promise<void> {
    this.views.redirect(res, '/login?signed_out=1', await this.sessions.logout(headers, form.csrf));
  }
}
