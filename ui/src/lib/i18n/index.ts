/**
 * Messages come from i18next; the current language is a Svelte rune (`lang.svelte.ts`), so every
 * `t(…)` in a template re-renders when the language changes.
 */
import i18next from 'i18next';
import en from './en.json';
import ja from './ja.json';
import { langState, type Lang } from './lang.svelte';

export type { Lang } from './lang.svelte';
export const LANGS: readonly Lang[] = ['ja', 'en'];
export const STORAGE_KEY = 'exo-setup.lang';

export const i18n = i18next.createInstance();
void i18n.init({
  resources: { en: { translation: en }, ja: { translation: ja } },
  lng: 'en',
  fallbackLng: false,
  supportedLngs: ['ja', 'en'],
  initAsync: false,
  returnNull: false,
  showSupportNotice: false,
  interpolation: { escapeValue: false },
});

/** Interpolation values: `{{name}}` in a message. */
export type Params = Record<string, unknown>;
// Keys are built at run time (error kinds, step numbers), so i18next's key typing is not used.
const translate = i18n.t.bind(i18n) as unknown as (key: string, options: Params) => string;

/** Text for `key` in the current language (reactive inside components). */
export function t(key: string, params?: Params): string {
  return translate(key, { ...params, lng: langState.lang });
}

/** Text in a given language (tests and non-reactive callers). */
export function tIn(lang: Lang, key: string, params?: Params): string {
  return translate(key, { ...params, lng: lang });
}

export function hasText(lang: Lang, key: string): boolean {
  return i18n.exists(key, { lng: lang, fallbackLng: false });
}

export function currentLang(): Lang {
  return langState.lang;
}

/** Japanese when the OS locale is Japanese, English otherwise. */
export function langFromLocale(locale: string | null | undefined): Lang {
  return (locale ?? '').trim().toLowerCase().startsWith('ja') ? 'ja' : 'en';
}

function storedLang(): Lang | null {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    return v === 'ja' || v === 'en' ? v : null;
  } catch {
    return null;
  }
}

/** The saved choice if any, else the OS locale's language. */
export function initialLang(systemLocale: string | null | undefined): Lang {
  return storedLang() ?? langFromLocale(systemLocale);
}

/** Switches the language everywhere: texts, `<html lang>`; `persist` saves the choice. */
export function setLang(lang: Lang, persist = false): void {
  langState.lang = lang;
  document.documentElement.lang = lang;
  if (persist) {
    try {
      localStorage.setItem(STORAGE_KEY, lang);
    } catch {
      /* storage unavailable: the choice lasts for this run */
    }
  }
}
