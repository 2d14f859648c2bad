import { DomainError } from '../common/admin-errors.js';

export enum UsersErrorCode {
  UserNotFound = 'user_not_found',
  EmailTaken = 'email_taken',
  UnknownRole = 'unknown_role',
  InvalidCursor = 'invalid_cursor',
  RoleNotFound = 'role_not_found',
  RoleNameTaken = 'role_name_taken',
  RoleIsBuiltIn = 'role_is_built_in',
  RoleInUse = 'role_in_use',
}

export class UsersError extends DomainError<UsersErrorCode> {}
