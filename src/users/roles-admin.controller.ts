import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
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
import { CreateRoleDto } from './dto/create-role.dto.js';
import { RoleListResponseDto, RoleResponseDto } from './dto/role-response.dto.js';
import { UpdateRoleDto } from './dto/update-role.dto.js';
import { RolesService } from './roles.service.js';

@ApiTags('roles')
@AdminApi()
@Controller('admin/roles')
export class RolesAdminController {
  constructor(private readonly roles: RolesService) {}

  @Get()
  @ApiOperation({ summary: 'List roles, built-in first' })
  @ApiOkResponse({ type: RoleListResponseDto })
  list(): Promise<RoleListResponseDto> {
    return this.roles.list();
  }

  @Post()
  @ApiOperation({ summary: 'Define a role and the permissions it grants' })
  @ApiCreatedResponse({ type: RoleResponseDto })
  @ApiBadRequestResponse({ description: 'validation_failed or malformed_json' })
  @ApiConflictResponse({ description: 'role_name_taken' })
  create(@Body() dto: CreateRoleDto): Promise<RoleResponseDto> {
    return this.roles.create(dto);
  }

  @Get(':name')
  @ApiOperation({ summary: 'Get a role' })
  @ApiOkResponse({ type: RoleResponseDto })
  @ApiNotFoundResponse({ description: 'role_not_found' })
  get(@Param('name') name: string): Promise<RoleResponseDto> {
    return this.roles.get(name);
  }

  @Patch(':name')
  @ApiOperation({ summary: 'Change an admin-defined role' })
  @ApiOkResponse({ type: RoleResponseDto })
  @ApiBadRequestResponse({ description: 'validation_failed or role_is_built_in' })
  @ApiNotFoundResponse({ description: 'role_not_found' })
  update(@Param('name') name: string, @Body() dto: UpdateRoleDto): Promise<RoleResponseDto> {
    return this.roles.update(name, dto);
  }

  @Delete(':name')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete an admin-defined role no user holds' })
  @ApiNoContentResponse()
  @ApiBadRequestResponse({ description: 'role_is_built_in' })
  @ApiNotFoundResponse({ description: 'role_not_found' })
  @ApiConflictResponse({ description: 'role_in_use' })
  remove(@Param('name') name: string): Promise<void> {
    return this.roles.remove(name);
  }
}
