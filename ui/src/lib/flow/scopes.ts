/** The scopes steps 3 and 4 show, named by what they let the mail client do. */
const KNOWN: [suffix: string, key: string][] = [
  ['/IMAP.AccessAsUser.All', 'imap'],
  ['/POP.AccessAsUser.All', 'pop'],
  ['/SMTP.Send', 'smtp'],
];
const PLAIN = ['offline_access', 'openid', 'profile', 'email'];

/** The `scopes.*` text key of a scope, or null for one this app does not know. */
export function scopeKey(scope: string): string | null {
  const lower = scope.toLowerCase();
  for (const [suffix, key] of KNOWN) if (lower.endsWith(suffix.toLowerCase())) return key;
  return PLAIN.includes(lower) ? lower : null;
}
