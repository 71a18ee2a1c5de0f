import type { Actor } from '../../bindings/Actor';
import type { UiError } from '../../bindings/UiError';

/** Every `UiError.kind` the Rust side can send; each has Japanese and English text. */
export const ERROR_KINDS = [
  'tenant_required',
  'tenant_multi_tenant',
  'tenant_personal',
  'tenant_malformed',
  'client_id_malformed',
  'authority_malformed',
  'authority_insecure',
  'tenant_not_found',
  'tenant_invalid',
  'identity_error',
  'host_unreachable',
  'dns_failure',
  'tls_failure',
  'timeout',
  'not_discovery',
  'http_status',
  'issuer_mismatch',
  'org_not_configured',
  'server_not_found',
  'server_builtin',
  'server_disabled',
  'address_required',
  'address_invalid',
  'address_duplicate',
  'login_name_required',
  'login_name_invalid',
  'display_name_too_long',
  'account_not_found',
  'csv_empty',
  'csv_encoding',
  'csv_missing_column',
  'csv_unknown_column',
  'csv_too_large',
  'csv_rejected',
  'csv_malformed',
  'storage',
  'unexpected',
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

/** Every `ImportRowError.reason` of a CSV row. */
export const CSV_REASONS = [
  'required',
  'invalid_address',
  'duplicate_in_file',
  'address_taken',
  'unknown_server',
  'server_disabled',
  'invalid_protocol',
  'too_long',
  'field_count',
] as const;

export const ACTORS: readonly Actor[] = ['admin', 'user', 'support'];

function isActor(value: unknown): value is Actor {
  return typeof value === 'string' && (ACTORS as readonly string[]).includes(value);
}

/** Anything a rejected `invoke` may produce, turned into a `UiError`. */
export function toUiError(raw: unknown): UiError {
  if (raw && typeof raw === 'object' && typeof (raw as { kind?: unknown }).kind === 'string') {
    const r = raw as Partial<UiError> & { kind: string };
    const detail: Record<string, string> = {};
    if (r.detail && typeof r.detail === 'object') {
      for (const [k, v] of Object.entries(r.detail)) {
        if (v !== undefined && v !== null) detail[k] = String(v);
      }
    }
    return {
      kind: r.kind,
      actor: isActor(r.actor) ? r.actor : 'support',
      message: typeof r.message === 'string' ? r.message : '',
      detail,
    };
  }
  let message: string;
  if (typeof raw === 'string') message = raw;
  else if (raw instanceof Error) message = raw.message;
  else {
    try {
      message = JSON.stringify(raw) ?? String(raw);
    } catch {
      message = String(raw);
    }
  }
  return { kind: 'unexpected', actor: 'support', message, detail: {} };
}

/** The form field an error belongs to, when it is obvious. */
export function fieldOf(kind: string): string | null {
  if (kind.startsWith('tenant_')) return 'tenant';
  if (kind === 'client_id_malformed') return 'client-id';
  if (kind.startsWith('authority_')) return 'authority';
  if (kind.startsWith('address_')) return 'address';
  if (kind.startsWith('login_name_')) return 'login-name';
  if (kind === 'server_disabled' || kind === 'server_not_found') return 'server';
  return null;
}
