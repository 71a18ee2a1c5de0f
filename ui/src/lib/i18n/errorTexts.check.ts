import type { ErrorKind } from '../../bindings/ErrorKind';
import type en from './en.json';
import type ja from './ja.json';

/**
 * `true` when `T`'s keys are exactly the kinds; otherwise a type naming the missing and the unknown
 * ones, so that the assignments below fail to compile.
 */
type ExactlyTheKinds<T> = [Exclude<ErrorKind, keyof T>, Exclude<keyof T, ErrorKind>] extends [never, never]
  ? true
  : { missing: Exclude<ErrorKind, keyof T>; unknown: Exclude<keyof T, ErrorKind> };

// The type check (svelte-check) refuses a catalogue without a text for a kind of Rust's
// `ErrorKind`, or with a text for a kind that does not exist. Nothing imports this file.
export const jaHasEveryErrorKind: ExactlyTheKinds<(typeof ja)['errors']> = true;
export const enHasEveryErrorKind: ExactlyTheKinds<(typeof en)['errors']> = true;
