import { IsOptional, IsString, MaxLength } from 'class-validator';

/** Start enrollment: with a setup link's token, or (empty body) as the signed-in user. */
export class RegistrationOptionsRequestDto {
  @IsOptional()
  @IsString()
  @MaxLength(128)
  setup_token?: string;
}
