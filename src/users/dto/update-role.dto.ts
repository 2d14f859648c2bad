import { OmitType, PartialType } from '@nestjs/swagger';
import { CreateRoleDto } from './create-role.dto.js';

/** The name is the role's identity and does not change. */
export class UpdateRoleDto extends PartialType(OmitType(CreateRoleDto, ['name'] as const)) {}
