/** What each scope lets the app do, in plain words for the consent screen. */
const DESCRIPTIONS: Record<string, string> = {
  openid: 'Confirm that it is you who signs in',
  profile: 'See your name',
  email: 'See your email address',
  offline_access: 'Keep access while you are away, until you sign out or revoke it',
  user: 'Act as you in apps protected by this organisation',
  admin: 'Administer this identity service: users, apps and signing keys',
};

export function describeScope(scope: string): string {
  return DESCRIPTIONS[scope] ?? `Use the “${scope}” permission on your behalf`;
}
