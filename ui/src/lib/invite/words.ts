/** Field names and values of invitations and the managed policy, in words. */
import { currentLang, hasText, t } from '../i18n';

/** `clientId` → "application (client) ID" (mid-sentence form). */
export function fieldLabel(field: string): string {
  const key = `fieldNames.${field}`;
  return hasText(currentLang(), key) ? t(key) : field;
}

/** A field's value as shown: redirect modes in words, an empty value as "(none)". */
export function fieldValue(field: string, value: string): string {
  if (!value) return t('invite.none');
  const mode = `step1.mode.${value}`;
  if (field === 'redirectMode' && hasText(currentLang(), mode)) return t(mode);
  return value;
}
