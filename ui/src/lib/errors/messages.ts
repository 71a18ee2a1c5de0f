import type { DetailKey } from '../../bindings/DetailKey';
import type { ImportRowError } from '../../bindings/ImportRowError';
import type { UiError } from '../../bindings/UiError';
import { currentLang, hasText, t, template } from '../i18n';
import { placeholders } from '../i18n/placeholders';

/**
 * Detail values that are codes, shown as words: for kinds starting with the prefix, parameter →
 * catalogue section (`step: 'greeting'` → `mailStep.greeting`). In order: a word may use the ones
 * before it (an invitation's `reason` names its `field`). A list (`fields: 'tenant, clientId'`)
 * is shown word by word.
 */
const WORDS: [string, Record<string, string>][] = [
  ['mail_', { step: 'mailStep', scope: 'mailScope' }],
  ['invite_malformed', { field: 'fieldNames', reason: 'inviteReason' }],
  ['policy_locked_field', { field: 'fieldNames' }],
  ['policy_conflict', { fields: 'fieldNames' }],
];

/** The localized explanation of an error, with its detail parameters filled in. */
export function errorText(error: UiError): string {
  return kindText(error.kind, error.detail);
}

/**
 * The text of a kind: `kind` is a string because kinds also come back from the database (an
 * account's last error), where a kind of an older version may be stored.
 */
function kindText(kind: string, detail: Record<string, string>): string {
  const key = `errors.${kind}`;
  if (!hasText(currentLang(), key)) return t('errors.unexpected');
  const params: Record<string, string> = { ...detail };
  // A managed redirect mode is a code too.
  const mode = `step1.mode.${params.value}`;
  if (params.field === 'redirectMode' && hasText(currentLang(), mode)) params.value = t(mode);
  for (const [prefix, words] of WORDS) {
    if (!kind.startsWith(prefix)) continue;
    for (const [name, section] of Object.entries(words)) {
      if (params[name] === undefined) continue;
      const items = params[name].split(/\s*,\s*/);
      if (!items.every((item) => hasText(currentLang(), `${section}.${item}`))) continue;
      params[name] = items.map((item) => t(`${section}.${item}`, params)).join(t('list.separator'));
    }
  }
  // A parameter Rust did not send is shown as a dash, never as a raw `%{name}`.
  const raw = template(currentLang(), key);
  if (raw) {
    for (const [, name] of raw.matchAll(placeholders())) params[name] ??= '—';
  }
  return t(key, params);
}

/**
 * One line for an error kind (a status badge's tooltip, a notification): the kind's short text
 * where it has one, else the first sentence of its full text.
 */
export function errorSummary(kind: string, detail: Record<string, string> = {}): string {
  const short = `errorShort.${kind}`;
  if (hasText(currentLang(), short)) return t(short, detail);
  const full = kindText(kind, detail);
  return /^.*?(?:。|[.!?](?=\s|$))/s.exec(full)?.[0] ?? full;
}

/** The lines support asks for: kind, Microsoft's code and IDs, and Rust's English message. */
export function supportText(error: UiError): string {
  const lines = [`kind: ${error.kind}`];
  const keys: DetailKey[] = ['code', 'error', 'suberror', 'traceId', 'correlationId', 'timestamp', 'requestId', 'clientRequestId', 'date', 'description', 'server', 'reply'];
  for (const k of keys) {
    if (error.detail[k]) lines.push(`${k}: ${error.detail[k]}`);
  }
  if (error.message) lines.push(`message: ${error.message}`);
  return lines.join('\n');
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
