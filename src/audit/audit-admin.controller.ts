import { Controller, Get, Param, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { AdminApi } from '../auth-guards/auth-guards.decorators.js';
import { AuditQueryService } from './audit-query.service.js';
import { AuditEventQueryDto } from './dto/audit-event-query.dto.js';
import {
  AuditEventListResponseDto,
  AuditEventResponseDto,
} from './dto/audit-event-response.dto.js';

@ApiTags('audit')
@AdminApi()
@Controller('admin/audit-events')
export class AuditAdminController {
  constructor(private readonly events: AuditQueryService) {}

  @Get()
  @ApiOperation({
    summary: 'List audit events, newest first, with cursor pagination and filters',
    description:
      'Events are written in batches, a fraction of a second after they happen. Filters ' +
      'combine with AND; `type` takes a comma-separated list of types and `prefix.*` patterns.',
  })
  @ApiOkResponse({ type: AuditEventListResponseDto })
  @ApiBadRequestResponse({
    description: 'validation_failed, invalid_audit_filter or invalid_audit_cursor',
  })
  list(@Query() query: AuditEventQueryDto): Promise<AuditEventListResponseDto> {
    return this.events.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get one audit event' })
  @ApiOkResponse({ type: AuditEventResponseDto })
  @ApiNotFoundResponse({ description: 'audit_event_not_found' })
  get(@Param('id') id: string): Promise<AuditEventResponseDto> {
    return this.events.get(id);
  }
}
