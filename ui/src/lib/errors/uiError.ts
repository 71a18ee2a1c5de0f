import type { Actor } from '../../bindings/Actor';
import type { ErrorKind } from '../../bindings/ErrorKind';
import type { UiError } from '../../bindings/UiError';

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
      // Rust sends only `ErrorKind`s (the union is generated from its enum); a kind without text
      // would still be shown as "unexpected" by `errorText`.
      kind: r.kind as ErrorKind,
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
