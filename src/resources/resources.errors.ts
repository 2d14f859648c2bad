import { DomainError } from '../common/admin-errors.js';

export enum ResourcesErrorCode {
  ResourceNotFound = 'resource_not_found',
  InvalidResourceMetadata = 'invalid_resource_metadata',
  ResourceIdentifierTaken = 'resource_identifier_taken',
  InvalidCursor = 'invalid_resource_cursor',
}

export class ResourcesError extends DomainError<ResourcesErrorCode> {}
