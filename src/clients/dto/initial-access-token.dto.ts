import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min, ValidateIf } from 'class-validator';

export class CreateInitialAccessTokenDto {
  @ApiPropertyOptional({ example: 'MCP clients of the data team', maxLength: 200, default: '' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  description?: string;

  @ApiPropertyOptional({
    nullable: true,
    type: Number,
    minimum: 1,
    description: 'Registrations the token allows; null (the default) means unlimited.',
  })
  @ValidateIf((_dto, value) => value !== null)
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000000)
  uses?: number | null;

  @ApiProperty({ minimum: 60, maximum: 31536000, description: 'Lifetime, in seconds.' })
  @IsInt()
  @Min(60)
  @Max(31536000)
  expires_in_seconds: number;
}

export class InitialAccessTokenResponseDto {
  @ApiProperty() id: string;
  @ApiProperty() description: string;
  @ApiProperty({ nullable: true, type: Number, description: 'null = unlimited' })
  uses_remaining: number | null;
  @ApiProperty() created_at: string;
  @ApiProperty() expires_at: string;
  @ApiProperty({ nullable: true, type: String }) revoked_at: string | null;
}

/** Returned once, on creation: the only time the token is shown. */
export class CreatedInitialAccessTokenResponseDto extends InitialAccessTokenResponseDto {
  @ApiProperty({ description: 'Shown once. Store it now.' })
  token: string;
}
