import type { ImportRowError } from '../../bindings/ImportRowError';
import type { UiError } from '../../bindings/UiError';
import { hasText, t, currentLang } from '../i18n';

/** The localized explanation of an error, with its detail parameters filled in. */
export function errorText(error: UiError): string {
  const key = `errors.${error.kind}`;
  if (!hasText(currentLang(), key)) return t('errors.unexpected');
  return t(key, { ...error.detail });
}

/** The localized reason of a CSV row error. */
export function rowReasonText(error: ImportRowError): string {
  const detail = (error as ImportRowError & { detail?: Record<string, string | undefined> }).detail ?? {};
  const params: Record<string, string> = { column: error.column ?? '', value: error.value ?? '' };
  for (const [k, v] of Object.entries(detail)) if (v !== undefined) params[k] = v;
  let key = `csvReasons.${error.reason}`;
  if (error.reason === 'duplicate_in_file' && !params.firstLine) key = 'csvReasons.duplicate_in_file_unknown';
  if (!hasText(currentLang(), key)) return error.message;
  return t(key, params);
}
