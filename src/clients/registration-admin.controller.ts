import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { AdminApi } from '../auth-guards/auth-guards.decorators.js';
import { PageQueryDto } from '../common/pagination.js';
import {
  CreateInitialAccessTokenDto,
  CreatedInitialAccessTokenResponseDto,
} from './dto/initial-access-token.dto.js';
import {
  RegistrationInitialAccessTokensService,
  type InitialAccessTokenPage,
} from './registration-initial-access-tokens.service.js';

/** Initial access tokens for dynamic client registration (RFC 7591 §3). */
@ApiTags('initial access tokens')
@AdminApi()
@Controller('admin/initial-access-tokens')
export class RegistrationAdminController {
  constructor(private readonly tokens: RegistrationInitialAccessTokensService) {}

  @Post()
  @ApiOperation({ summary: 'Issue an initial access token; it is shown once, here' })
  @ApiCreatedResponse({ type: CreatedInitialAccessTokenResponseDto })
  @ApiBadRequestResponse({ description: 'validation_failed or malformed_json' })
  create(@Body() dto: CreateInitialAccessTokenDto): Promise<CreatedInitialAccessTokenResponseDto> {
    return this.tokens.create(dto);
  }

  @Get()
  @ApiOperation({ summary: 'List initial access tokens, oldest first (never the tokens)' })
  @ApiOkResponse({ description: '{ data, next_cursor }' })
  @ApiBadRequestResponse({ description: 'validation_failed or invalid_cursor' })
  list(@Query() query: PageQueryDto): Promise<InitialAccessTokenPage> {
    return this.tokens.list(query.limit, query.cursor);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke an initial access token' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'initial_access_token_not_found' })
  revoke(@Param('id') id: string): Promise<void> {
    return this.tokens.revoke(id);
  }
}
