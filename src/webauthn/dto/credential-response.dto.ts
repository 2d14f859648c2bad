import { Equals, IsIn, IsObject, IsOptional, IsString, MaxLength } from 'class-validator';
import type {
  AuthenticationExtensionsClientOutputs,
  AuthenticatorAssertionResponseJSON,
  AuthenticatorAttestationResponseJSON,
} from '@simplewebauthn/server';

/**
 * The outer shape of a PublicKeyCredential serialized with toJSON() (RegistrationResponseJSON,
 * AuthenticationResponseJSON). The inner `response` is checked by @simplewebauthn itself.
 */
abstract class PublicKeyCredentialDto {
  @IsString()
  @MaxLength(1366)
  id: string;

  @IsString()
  @MaxLength(1366)
  rawId: string;

  @Equals('public-key')
  type: 'public-key';

  @IsOptional()
  @IsIn(['platform', 'cross-platform'])
  authenticatorAttachment?: 'platform' | 'cross-platform';

  @IsObject()
  clientExtensionResults: AuthenticationExtensionsClientOutputs;
}

export class RegistrationResponseDto extends PublicKeyCredentialDto {
  @IsObject()
  response: AuthenticatorAttestationResponseJSON;
}

export class AuthenticationResponseDto extends PublicKeyCredentialDto {
  @IsObject()
  response: AuthenticatorAssertionResponseJSON;
}
