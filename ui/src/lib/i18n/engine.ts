/**
 * The i18next instance, loaded with the first full catalogue (after the first paint, see `index.ts`):
 * the start screen does not need it.
 */
import i18next from 'i18next';
import type { Lang } from './lang.svelte';
import { PREFIX, SUFFIX } from './placeholders';

export const i18n = i18next.createInstance();
void i18n.init({
  resources: {},
  lng: 'en',
  fallbackLng: false,
  supportedLngs: ['ja', 'en'],
  initAsync: false,
  returnNull: false,
  showSupportNotice: false,
  // `%{name}`, as the command line's rust-i18n reads the same catalogues (see placeholders.ts).
  interpolation: { escapeValue: false, prefix: PREFIX, suffix: SUFFIX },
});

export function addCatalogue(lang: Lang, catalogue: object): void {
  i18n.addResourceBundle(lang, 'translation', catalogue, true, true);
}

// Keys are built at run time (error kinds, step numbers), so i18next's key typing is not used.
export const translate = i18n.t.bind(i18n) as unknown as (key: string, options: Record<string, unknown>) => string;
