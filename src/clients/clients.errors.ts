import { DomainError } from '../common/admin-errors.js';

export enum ClientsErrorCode {
  ClientNotFound = 'client_not_found',
  InvalidClientMetadata = 'invalid_client_metadata',
  ClientIsPublic = 'client_is_public',
  ClientIdTaken = 'client_id_taken',
  InvalidCursor = 'invalid_cursor',
  InitialAccessTokenNotFound = 'initial_access_token_not_found',
}

export class ClientsError extends DomainError<ClientsErrorCode> {}
