import type { ErrorField } from '../../bindings/ErrorField';
import type { ErrorKind } from '../../bindings/ErrorKind';
import { ERROR_KIND_INFO } from '../../bindings/errorKinds';

/** The form field an error belongs to, when it is obvious (each kind's field is decided in Rust). */
export function fieldOf(kind: ErrorKind): ErrorField | null {
  return ERROR_KIND_INFO[kind]?.field ?? null;
}
