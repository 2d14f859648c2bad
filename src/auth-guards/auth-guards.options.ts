/** How the bearer guard describes itself and which audience it expects by default. */
export interface BearerGuardOptions {
  /** RFC 9728 metadata URL, named in every challenge as `resource_metadata`. */
  resourceMetadataUrl: string;
  /** The audience `ADMIN_AUDIENCE` stands for; null outside Latchkey. */
  adminAudience: string | null;
  /** The audience required when a route has no `@RequireAudience`; null = none. */
  defaultAudience: string | null;
}

export const BEARER_GUARD_OPTIONS = Symbol('bearer-guard-options');
