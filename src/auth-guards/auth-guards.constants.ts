export const AUDIENCE_KEY = 'latchkey:audience';
export const PERMISSIONS_KEY = 'latchkey:permissions';
/** Stands for the configured admin API audience (ADMIN_AUDIENCE). */
export const ADMIN_AUDIENCE = Symbol('admin-audience');

export type AudienceRequirement = string | typeof ADMIN_AUDIENCE;
