import {
  Body,
  Controller,
  Get,
  Headers,
  Param,
  Post,
  Query,
  Res,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import type { IncomingHttpHeaders } from 'node:http';
import { CsrfFormDto } from '../sessions/dto/csrf-form.dto.js';
import { PageExceptionFilter } from '../views/page-exception.filter.js';
import { ViewsService } from '../views/views.service.js';
import {
  AccountPageQueryDto,
  LoginPageQueryDto,
  RenamePasskeyFormDto,
} from './dto/account-forms.dto.js';
import { RateLimitGuard, RateLimited } from '../rate-limits/rate-limit.guard.js';
import { PagesService } from './pages.service.js';

/** The sign-in, passkey setup and account pages, and the account page's forms (passkeys, apps). */
@ApiExcludeController()
@UseFilters(PageExceptionFilter)
@Controller()
export class PagesController {
  constructor(
    private readonly pages: PagesService,
    private readonly views: ViewsService,
  ) {}

  /** The sign-in and setup pages share the passkey ceremonies' per-address limit. */
  @Get('login')
  @UseGuards(RateLimitGuard)
  @RateLimited('webauthn')
  login(@Query() query: LoginPageQueryDto, @Res() res: Response): void {
    this.views.send(res, 200, 'login', this.pages.login(query));
  }

  @Get('setup/:token')
  @UseGuards(RateLimitGuard)
  @RateLimited('webauthn')
  async setup(@Param('token') token: string, @Res() res: Response): Promise<void> {
    this.views.send(res, 200, 'setup', await this.pages.setup(token));
  }

  @Get('account')
  async account(
    @Headers() headers: IncomingHttpHeaders,
    @Query() query: AccountPageQueryDto,
    @Res() res: Response,
  ): Promise<void> {
    this.views.send(res, 200, 'account', await this.pages.account(headers, query.done));
  }

  @Post('account/passkeys/:id/rename')
  async rename(
    @Headers() headers: IncomingHttpHeaders,
    @Param('id') id: string,
    @Body() form: RenamePasskeyFormDto,
    @Res() res: Response,
  ): Promise<void> {
    this.views.redirect(res, await this.pages.rename(headers, id, form));
  }

  @Post('account/passkeys/:id/delete')
  async remove(
    @Headers() headers: IncomingHttpHeaders,
    @Param('id') id: string,
    @Body() form: CsrfFormDto,
    @Res() res: Response,
  ): Promise<void> {
    this.views.redirect(res, await this.pages.remove(headers, id, form));
  }

  @Post('account/consents/:clientId/revoke')
  async revokeConsent(
    @Headers() headers: IncomingHttpHeaders,
    @Param('clientId') clientId: string,
    @Body() form: CsrfFormDto,
    @Res() res: Response,
  ): Promise<void> {
    this.views.redirect(res, await this.pages.revokeConsent(headers, clientId, form));
  }
}
