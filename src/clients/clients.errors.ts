import { DomainError } from '../common/admin-errors.js';

export enum ClientsErrorCode {
  ClientNotFound = 'client_not_found',
  InvalidClientMetadata = 'invalid_client_metadata',
  ClientIsPublic = 'client_is_public',
  ClientIdTaken = 'client_id_taken',
  InvalidCursor = 'invalid_cursor',
}

export class ClientsError extends DomainError<ClientsErrorCode> {}
