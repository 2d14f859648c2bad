import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
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
import { ClientsService } from './clients.service.js';
import { CreateClientDto } from './dto/create-client.dto.js';
import {
  ClientListResponseDto,
  ClientResponseDto,
  ClientSecretResponseDto,
  CreatedClientResponseDto,
} from './dto/client-response.dto.js';
import { PageQueryDto } from '../common/pagination.js';
import { UpdateClientDto } from './dto/update-client.dto.js';

@ApiTags('clients')
@AdminApi()
@Controller('admin/clients')
export class ClientsAdminController {
  constructor(private readonly clients: ClientsService) {}

  @Get()
  @ApiOperation({ summary: 'List clients, oldest first, with cursor pagination' })
  @ApiOkResponse({ type: ClientListResponseDto })
  @ApiBadRequestResponse({ description: 'validation_failed or invalid_cursor' })
  list(@Query() query: PageQueryDto): Promise<ClientListResponseDto> {
    return this.clients.list(query.limit, query.cursor);
  }

  @Post()
  @ApiOperation({ summary: 'Create a client; a confidential client gets its secret once, here' })
  @ApiCreatedResponse({ type: CreatedClientResponseDto })
  @ApiBadRequestResponse({
    description: 'validation_failed, malformed_json or invalid_client_metadata',
  })
  create(@Body() dto: CreateClientDto): Promise<CreatedClientResponseDto> {
    return this.clients.create(dto);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get a client' })
  @ApiOkResponse({ type: ClientResponseDto })
  @ApiNotFoundResponse({ description: 'client_not_found' })
  get(@Param('id') id: string): Promise<ClientResponseDto> {
    return this.clients.get(id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Update a client (any field but its type)' })
  @ApiOkResponse({ type: ClientResponseDto })
  @ApiBadRequestResponse({
    description: 'validation_failed, malformed_json or invalid_client_metadata',
  })
  @ApiNotFoundResponse({ description: 'client_not_found' })
  update(@Param('id') id: string, @Body() dto: UpdateClientDto): Promise<ClientResponseDto> {
    return this.clients.update(id, dto);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a client' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'client_not_found' })
  remove(@Param('id') id: string): Promise<void> {
    return this.clients.remove(id);
  }

  @Post(':id/secret')
  @HttpCode(200)
  @ApiOperation({ summary: 'Rotate the client secret; the new secret is shown once' })
  @ApiOkResponse({ type: ClientSecretResponseDto })
  @ApiBadRequestResponse({ description: 'client_is_public' })
  @ApiNotFoundResponse({ description: 'client_not_found' })
  rotateSecret(@Param('id') id: string): Promise<ClientSecretResponseDto> {
    return this.clients.rotateSecret(id);
  }
}
