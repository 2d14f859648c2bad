import { Foundation1795400000000 } from '../../migrations/1795400000000-foundation.js';
import { People1795500000000 } from '../../migrations/1795500000000-people.js';
import { TokenLineage1795600000000 } from '../../migrations/1795600000000-token-lineage.js';
import { EnrollmentChallenges1795700000000 } from '../../migrations/1795700000000-enrollment-challenges.js';
import { PostLogoutRedirects1795800000000 } from '../../migrations/1795800000000-post-logout-redirects.js';
import { AuditEvents1795900000000 } from '../../migrations/1795900000000-audit-events.js';
import { ClientRegistration1796000000000 } from '../../migrations/1796000000000-client-registration.js';
import { GrantResources1796100000000 } from '../../migrations/1796100000000-grant-resources.js';
import { TokenExchange1796200000000 } from '../../migrations/1796200000000-token-exchange.js';
import { TrustedIssuers1796300000000 } from '../../migrations/1796300000000-trusted-issuers.js';
import { AuditTrail1796420000000 } from '../../migrations/1796420000000-audit-trail.js';
import { ExpiryIndexes1796500000000 } from '../../migrations/1796500000000-expiry-indexes.js';
import { IncidentResponse1796600000000 } from '../../migrations/1796600000000-incident-response.js';
import { RefreshTokenWritePath1796700000000 } from '../../migrations/1796700000000-refresh-token-write-path.js';

/** Every migration, in order. Listed explicitly so the same set runs from source and from dist. */
export const MIGRATIONS = [
  Foundation1795400000000,
  People1795500000000,
  TokenLineage1795600000000,
  EnrollmentChallenges1795700000000,
  PostLogoutRedirects1795800000000,
  AuditEvents1795900000000,
  ClientRegistration1796000000000,
  GrantResources1796100000000,
  TokenExchange1796200000000,
  TrustedIssuers1796300000000,
  AuditTrail1796420000000,
  ExpiryIndexes1796500000000,
  IncidentResponse1796600000000,
  RefreshTokenWritePath1796700000000,
];
