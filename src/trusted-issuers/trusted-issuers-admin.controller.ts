import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  Put,
  Query,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { AdminApi } from '../auth-guards/auth-guards.decorators.js';
import { PageQueryDto } from '../common/pagination.js';
import { CreateTrustedIssuerDto } from './dto/create-trusted-issuer.dto.js';
import { LinkSubjectDto } from './dto/link-subject.dto.js';
import {
  SubjectLinkResponseDto,
  TrustedIssuerListResponseDto,
  TrustedIssuerResponseDto,
} from './dto/trusted-issuer-response.dto.js';
import { UpdateTrustedIssuerDto } from './dto/update-trusted-issuer.dto.js';
import { TrustedIssuersService } from './trusted-issuers.service.js';

@ApiTags('trusted-issuers')
@AdminApi()
@Controller('admin/trusted-issuers')
export class TrustedIssuersAdminController {
  constructor(private readonly issuers: TrustedIssuersService) {}

  @Get()
  @ApiOperation({ summary: 'List trusted issuers, oldest first, with cursor pagination' })
  @ApiOkResponse({ type: TrustedIssuerListResponseDto })
  @ApiBadRequestResponse({ description: 'validation_failed or invalid_trusted_issuer_cursor' })
  list(@Query() query: PageQueryDto): Promise<TrustedIssuerListResponseDto> {
    return this.issuers.list(query.limit, query.cursor);
  }

  @Post()
  @ApiOperation({
    summary: 'Trust an external issuer: its signed JWTs become token-exchange subject tokens',
  })
  @ApiCreatedResponse({ type: TrustedIssuerResponseDto })
  @ApiBadRequestResponse({
    description: 'validation_failed, malformed_json or invalid_trusted_issuer',
  })
  @ApiConflictResponse({ description: 'trusted_issuer_taken' })
  create(@Body() dto: CreateTrustedIssuerDto): Promise<TrustedIssuerResponseDto> {
    return this.issuers.create(dto);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get a trusted issuer' })
  @ApiOkResponse({ type: TrustedIssuerResponseDto })
  @ApiNotFoundResponse({ description: 'trusted_issuer_not_found' })
  get(@Param('id') id: string): Promise<TrustedIssuerResponseDto> {
    return this.issuers.get(id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Update a trusted issuer (any field but its issuer)' })
  @ApiOkResponse({ type: TrustedIssuerResponseDto })
  @ApiBadRequestResponse({
    description: 'validation_failed, malformed_json or invalid_trusted_issuer',
  })
  @ApiNotFoundResponse({ description: 'trusted_issuer_not_found' })
  update(
    @Param('id') id: string,
    @Body() dto: UpdateTrustedIssuerDto,
  ): Promise<TrustedIssuerResponseDto> {
    return this.issuers.update(id, dto);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Stop trusting an issuer; its subject links go with it' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'trusted_issuer_not_found' })
  remove(@Param('id') id: string): Promise<void> {
    return this.issuers.remove(id);
  }

  @Put(':id/links/:subject')
  @ApiOperation({ summary: 'Link an external subject (sub) of the issuer to a local user' })
  @ApiOkResponse({ type: SubjectLinkResponseDto })
  @ApiBadRequestResponse({ description: 'validation_failed or invalid_trusted_issuer' })
  @ApiNotFoundResponse({ description: 'trusted_issuer_not_found or link_user_not_found' })
  link(
    @Param('id') id: string,
    @Param('subject') subject: string,
    @Body() dto: LinkSubjectDto,
  ): Promise<SubjectLinkResponseDto> {
    return this.issuers.link(id, subject, dto.user_id);
  }

  @Delete(':id/links/:subject')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove the link of an external subject' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'trusted_issuer_not_found or subject_link_not_found' })
  unlink(@Param('id') id: string, @Param('subject') subject: string): Promise<void> {
    return this.issuers.unlink(id, subject);
  }
}
