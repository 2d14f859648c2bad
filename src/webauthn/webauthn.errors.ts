import { DomainError } from '../common/admin-errors.js';

export enum WebauthnErrorCode {
  SetupTokenInvalid = 'setup_token_invalid',
  ChallengeInvalid = 'challenge_invalid',
  VerificationFailed = 'webauthn_verification_failed',
  UnknownCredential = 'unknown_credential',
  CounterRegression = 'sign_counter_regression',
  UserDisabled = 'user_disabled',
  CredentialNotFound = 'credential_not_found',
  CredentialAlreadyRegistered = 'credential_already_registered',
  LastPasskey = 'last_passkey',
}

export class WebauthnError extends DomainError<WebauthnErrorCode> {}
