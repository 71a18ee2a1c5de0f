/**
 * The catalogue's placeholder syntax, `%{name}`: the one syntax both front ends read. The wizard's
 * i18next is configured with it (`engine.ts`), and the command line reads the same `ja.json` /
 * `en.json` with the Rust crate rust-i18n, whose placeholders are `%{name}` and cannot be changed.
 * i18next's default `{{name}}` is therefore never used (a test refuses a catalogue text with it).
 */
export const PREFIX = '%{';
export const SUFFIX = '}';

/** Every `%{name}` of a text (global: use with `matchAll` or `replace`). */
export function placeholders(): RegExp {
  return /%\{\s*(\w+)\s*\}/g;
}

/** i18next's default placeholder, which the catalogues must no longer contain. */
export const OLD_SYNTAX = /\{\{\s*[\w.,\s-]*\}\}/;
