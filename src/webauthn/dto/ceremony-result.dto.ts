import { IsOptional, IsString, MaxLength } from 'class-validator';
import type { PasskeyResponseDto } from './passkey-response.dto.js';

export interface RegistrationResultDto {
  verified: true;
  passkey: PasskeyResponseDto;
  /** Where the page goes next: sign-in after enrollment, the account page when signed in. */
  redirect: string;
}

export interface AuthenticationResultDto {
  verified: true;
  redirect: string;
}

export class AuthenticateVerifyQueryDto {
  /** Where to go after signing in; honoured only for /oauth/authorize?… on this origin. */
  @IsOptional()
  @IsString()
  @MaxLength(4096)
  return_to?: string;
}
