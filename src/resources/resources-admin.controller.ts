import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
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
import { CreateResourceDto } from './dto/create-resource.dto.js';
import { ResourceListResponseDto, ResourceResponseDto } from './dto/resource-response.dto.js';
import { UpdateResourceDto } from './dto/update-resource.dto.js';
import { ResourcesService } from './resources.service.js';

@ApiTags('resources')
@AdminApi()
@Controller('admin/resources')
export class ResourcesAdminController {
  constructor(private readonly resources: ResourcesService) {}

  @Get()
  @ApiOperation({
    summary: 'List registered resource servers, oldest first, with cursor pagination',
  })
  @ApiOkResponse({ type: ResourceListResponseDto })
  @ApiBadRequestResponse({ description: 'validation_failed or invalid_resource_cursor' })
  list(@Query() query: PageQueryDto): Promise<ResourceListResponseDto> {
    return this.resources.list(query.limit, query.cursor);
  }

  @Post()
  @ApiOperation({ summary: 'Register a resource server (an RFC 8707 audience) and its scopes' })
  @ApiCreatedResponse({ type: ResourceResponseDto })
  @ApiBadRequestResponse({
    description: 'validation_failed, malformed_json or invalid_resource_metadata',
  })
  @ApiConflictResponse({ description: 'resource_identifier_taken' })
  create(@Body() dto: CreateResourceDto): Promise<ResourceResponseDto> {
    return this.resources.create(dto);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get a resource server' })
  @ApiOkResponse({ type: ResourceResponseDto })
  @ApiNotFoundResponse({ description: 'resource_not_found' })
  get(@Param('id') id: string): Promise<ResourceResponseDto> {
    return this.resources.get(id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Update a resource server (any field but its identifier)' })
  @ApiOkResponse({ type: ResourceResponseDto })
  @ApiBadRequestResponse({
    description: 'validation_failed, malformed_json or invalid_resource_metadata',
  })
  @ApiNotFoundResponse({ description: 'resource_not_found' })
  update(@Param('id') id: string, @Body() dto: UpdateResourceDto): Promise<ResourceResponseDto> {
    return this.resources.update(id, dto);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a resource server; tokens already issued for it stay valid' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'resource_not_found' })
  remove(@Param('id') id: string): Promise<void> {
    return this.resources.remove(id);
  }
}
