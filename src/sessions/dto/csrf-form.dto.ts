import { IsOptional, IsString, MaxLength } from 'class-validator';

/** A browser form that changes state: it carries the session's CSRF token. */
export class CsrfFormDto {
  @IsOptional()
  @IsString()
  @MaxLength(128)
  csrf?: string;
}
