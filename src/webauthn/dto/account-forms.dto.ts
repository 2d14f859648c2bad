import { IsOptional, IsString, Length, MaxLength } from 'class-validator';
import { CsrfFormDto } from '../../sessions/dto/csrf-form.dto.js';

export class RenamePasskeyFormDto extends CsrfFormDto {
  @IsString()
  @Length(1, 100)
  name: string;
}

export class LoginPageQueryDto {
  @IsOptional()
  @IsString()
  @MaxLength(4096)
  return_to?: string;

  @IsOptional()
  @IsString()
  @MaxLength(8)
  signed_out?: string;

  @IsOptional()
  @IsString()
  @MaxLength(8)
  enrolled?: string;
}

export class AccountPageQueryDto {
  @IsOptional()
  @IsString()
  @MaxLength(16)
  done?: string;
}
