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
  'identity_answer_too_large',
  'http_status',
  'issuer_mismatch',
  'issuer_missing',
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
  'text_unsafe_character',
  'account_not_found',
  'file_not_regular',
  'file_too_large',
  'file_unreadable',
  'csv_empty',
  'csv_encoding',
  'csv_missing_column',
  'csv_unknown_column',
  'csv_too_large',
  'csv_too_many_rows',
  'csv_record_too_long',
  'csv_encoding_export',
  'csv_rejected',
  'csv_malformed',
  'export_exists',
  'export_write',
  'storage',
  // OAuth (steps 3 and 4): Microsoft's answers, the browser round trip, the tokens
  'consent_required',
  'admin_approval_required',
  'admin_role_required',
  'consent_declined',
  'admin_consent_declined',
  'sign_in_cancelled',
  'admin_consent_cancelled',
  'redirect_uri_mismatch',
  'app_not_in_tenant',
  'redirect_registered_as_web',
  'invalid_client',
  'mfa_required',
  'reauthorization_required',
  'sign_in_frequency',
  'conditional_access_blocked',
  'wrong_organization_account',
  'single_tenant_on_common',
  'code_already_redeemed',
  'authorization_code_rejected',
  'pkce_verifier_mismatch',
  'invalid_scope',
  'interaction_required',
  'service_unavailable',
  'oauth_config_invalid',
  'callback_malformed',
  'state_missing',
  'state_unknown',
  'state_replayed',
  'callback_late',
  'flow_timed_out',
  'callback_mismatch',
  'foreign_flow',
  'admin_consent_not_granted',
  'tenant_mismatch',
  'missing_code',
  'network_error',
  'identity_unreachable',
  'invalid_token_response',
  'no_refresh_token',
  'id_token_missing',
  'id_token_invalid',
  'jwks_unavailable',
  'personal_account',
  'wrong_account',
  // the OS keychain
  'keychain_unavailable',
  'keychain_locked',
  'keychain_denied',
  'keychain_corrupt',
  'keychain_error',
  // steps 3 and 4 around the flow
  'flow_cancelled',
  'account_not_registered',
  'not_signed_in',
  'loopback_unavailable',
  'server_not_oauth',
  'browser_unavailable',
  // the connection check (IMAP/POP3/SMTP with XOAUTH2)
  'mail_auth_failed',
  'mail_smtp_auth_disabled',
  'mail_mailbox_mismatch',
  'mail_token_expired',
  'mail_xoauth2_malformed',
  'mail_mechanism_unsupported',
  'mail_starttls_unavailable',
  'mail_tls_certificate',
  'mail_tls_failed',
  'mail_dns_failure',
  'mail_connection_refused',
  'mail_unreachable',
  'mail_timeout',
  'mail_connection_closed',
  'mail_temporary_failure',
  'mail_command_failed',
  'mail_protocol_error',
  'mail_plain_not_allowed',
  'mail_host_not_allowed',
  'mail_host_other_cloud',
  // invitations (opening one on the user's computer)
  'invite_malformed',
  'invite_too_large',
  'invite_version_unsupported',
  'invite_tampered',
  'invite_file_unreadable',
  'invite_refused_by_policy',
  'invite_other_tenant',
  'invite_authority_not_allowed',
  'invite_mail_host_not_allowed',
  'invite_replaces_org',
  'invite_not_pending',
  // the managed policy IT deploys
  'policy_invalid',
  'policy_locked_field',
  'policy_conflict',
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
  'unclosed_quote',
  'in_unclosed_quote',
  'undecodable',
  'unsafe_character',
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
