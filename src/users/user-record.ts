/** A user as other modules see it (docs/contracts-people.md). */
export interface UserRecord {
  id: string;
  email: string;
  emailVerified: boolean;
  displayName: string;
  status: 'active' | 'disabled';
  roles: string[];
}
