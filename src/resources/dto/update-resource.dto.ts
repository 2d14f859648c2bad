import { OmitType, PartialType } from '@nestjs/swagger';
import { CreateResourceDto } from './create-resource.dto.js';

/**
 * Everything but the identifier may change: issued tokens and refresh tokens name the
 * identifier as their audience, so a new identifier is a new resource.
 */
export class UpdateResourceDto extends PartialType(
  OmitType(CreateResourceDto, ['identifier'] as const),
) {}
