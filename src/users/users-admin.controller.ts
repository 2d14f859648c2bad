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
import { CreateUserDto } from './dto/create-user.dto.js';
import { PageQueryDto } from '../common/pagination.js';
import { UpdateUserDto } from './dto/update-user.dto.js';
import { UserListResponseDto, UserResponseDto } from './dto/user-response.dto.js';
import { UsersService } from './users.service.js';

@ApiTags('users')
@AdminApi()
@Controller('admin/users')
export class UsersAdminController {
  constructor(private readonly users: UsersService) {}

  @Get()
  @ApiOperation({ summary: 'List users, oldest first, with cursor pagination' })
  @ApiOkResponse({ type: UserListResponseDto })
  @ApiBadRequestResponse({ description: 'validation_failed or invalid_cursor' })
  list(@Query() query: PageQueryDto): Promise<UserListResponseDto> {
    return this.users.list(query.limit, query.cursor);
  }

  @Post()
  @ApiOperation({ summary: 'Create a user; send them a setup link to enroll a passkey' })
  @ApiCreatedResponse({ type: UserResponseDto })
  @ApiBadRequestResponse({ description: 'validation_failed, malformed_json or unknown_role' })
  @ApiConflictResponse({ description: 'email_taken' })
  create(@Body() dto: CreateUserDto): Promise<UserResponseDto> {
    return this.users.create(dto);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get a user' })
  @ApiOkResponse({ type: UserResponseDto })
  @ApiNotFoundResponse({ description: 'user_not_found' })
  get(@Param('id') id: string): Promise<UserResponseDto> {
    return this.users.get(id);
  }

  @Patch(':id')
  @ApiOperation({
    summary: 'Update a user; disabling signs them out everywhere and revokes their tokens',
  })
  @ApiOkResponse({ type: UserResponseDto })
  @ApiBadRequestResponse({ description: 'validation_failed, malformed_json or unknown_role' })
  @ApiNotFoundResponse({ description: 'user_not_found' })
  update(@Param('id') id: string, @Body() dto: UpdateUserDto): Promise<UserResponseDto> {
    return this.users.update(id, dto);
  }

  @Post(':id/disable')
  @HttpCode(200)
  @ApiOperation({ summary: 'Disable a user, sign them out everywhere and revoke their tokens' })
  @ApiOkResponse({ type: UserResponseDto })
  @ApiNotFoundResponse({ description: 'user_not_found' })
  disable(@Param('id') id: string): Promise<UserResponseDto> {
    return this.users.disable(id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a user with their passkeys, sessions and tokens' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'user_not_found' })
  remove(@Param('id') id: string): Promise<void> {
    return this.users.remove(id);
  }
}
