import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsEmail,
  IsString,
  IsOptional,
  Length,
  Matches,
  MaxLength,
} from 'class-validator';

/** Role names: lower-case identifiers, like `user`, `admin` or `billing-reader`. */
export const ROLE_NAME_PATTERN = /^[a-z][a-z0-9_.:-]{0,63}$/;

export class CreateUserDto {
  @ApiProperty({ example: 'ada@example.com', description: 'Stored in lower case; unique.' })
  @IsEmail({ require_tld: false })
  @MaxLength(320)
  email: string;

  @ApiProperty({ example: 'Ada Lovelace', maxLength: 200 })
  @IsString()
  @Length(1, 200)
  display_name: string;

  @ApiPropertyOptional({ type: [String], default: ['user'], example: ['user'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @ArrayUnique()
  @IsString({ each: true })
  @Matches(ROLE_NAME_PATTERN, { each: true })
  roles?: string[];
}
