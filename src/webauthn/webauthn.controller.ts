import { Body, Controller, Headers, HttpCode, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import type { Response } from 'express';
import type { IncomingHttpHeaders } from 'node:http';
import {
  AuthenticateVerifyQueryDto,
  type AuthenticationResultDto,
  type RegistrationResultDto,
} from './dto/ceremony-result.dto.js';
import {
  AuthenticationResponseDto,
  RegistrationResponseDto,
} from './dto/credential-response.dto.js';
import { RegistrationOptionsRequestDto } from './dto/registration-options-request.dto.js';
import { RateLimitGuard, RateLimited } from '../rate-limits/rate-limit.guard.js';
import { WebauthnService } from './webauthn.service.js';

/**
 * The JSON passkey ceremonies, in @simplewebauthn's standard shapes. Errors are
 * `{statusCode, code, message}` from the global filter. Not part of the admin OpenAPI document:
 * these are browser endpoints. Every ceremony call counts against the per-address limit.
 */
@ApiExcludeController()
@UseGuards(RateLimitGuard)
@RateLimited('webauthn')
@Controller('webauthn')
export class WebauthnController {
  constructor(private readonly webauthn: WebauthnService) {}

  @Post('register/options')
  @HttpCode(200)
  async registrationOptions(
    @Headers() headers: IncomingHttpHeaders,
    @Body() body: RegistrationOptionsRequestDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<PublicKeyCredentialCreationOptionsJSON> {
    return send(res, await this.webauthn.registrationOptions(headers, body.setup_token));
  }

  @Post('register/verify')
  @HttpCode(200)
  async verifyRegistration(
    @Headers() headers: IncomingHttpHeaders,
    @Body() body: RegistrationResponseDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<RegistrationResultDto> {
    return finish(res, await this.webauthn.verifyRegistration(headers, body));
  }

  @Post('authenticate/options')
  @HttpCode(200)
  async authenticationOptions(
    @Res({ passthrough: true }) res: Response,
  ): Promise<PublicKeyCredentialRequestOptionsJSON> {
    return send(res, await this.webauthn.authenticationOptions());
  }

  @Post('authenticate/verify')
  @HttpCode(200)
  async verifyAuthentication(
    @Headers() headers: IncomingHttpHeaders,
    @Body() body: AuthenticationResponseDto,
    @Query() query: AuthenticateVerifyQueryDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<AuthenticationResultDto> {
    return finish(res, await this.webauthn.verifyAuthentication(headers, body, query.return_to));
  }
}

function send<T>(res: Response, start: { options: T; setCookie: string }): T {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Set-Cookie', start.setCookie);
  return start.options;
}

function finish<T>(res: Response, end: { result: T; setCookies: string[] }): T {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Set-Cookie', end.setCookies);
  return end.result;
}
