/**
 * Messages come from i18next; the current language is a Svelte rune (`lang.svelte.ts`), so every
 * `t(…)` in a template re-renders when the language changes.
 *
 * Start-up: the entry chunk holds only the sections the start screen and header need, in both
 * languages (`virtual:i18n-boot`, see vite.config.ts). i18next and the full catalogue of the current
 * language are loaded after the first paint (`loadLang`); the other language's catalogue only when
 * the person switches. Once a screen needs the full catalogue (`catalogueReady`), a switch waits
 * for the catalogue before it changes any text.
 */
import boot from 'virtual:i18n-boot';
import { langState, type Lang } from './lang.svelte';
import { placeholders } from './placeholders';

export type { Lang } from './lang.svelte';
export const LANGS: readonly Lang[] = ['ja', 'en'];
export const STORAGE_KEY = 'exo-setup.lang';

type Engine = typeof import('./engine');
const CATALOGUES: Record<Lang, () => Promise<{ default: object }>> = {
  ja: () => import('./ja.json'),
  en: () => import('./en.json'),
};

let engine: Engine | null = null;
const loaded = new Set<Lang>();
const loading = new Map<Lang, Promise<void>>();
/** Set once a screen that needs the full catalogue may be shown. */
let strict = false;
/** The language asked for last (shown as soon as its catalogue is there). */
let wanted: Lang = langState.lang;

/** Loads i18next (once) and the full catalogue of `lang` (once). */
export function loadLang(lang: Lang): Promise<void> {
  if (loaded.has(lang)) return Promise.resolve();
  let pending = loading.get(lang);
  if (!pending) {
    pending = Promise.all([import('./engine'), CATALOGUES[lang]()]).then(
      ([e, catalogue]) => {
        e.addCatalogue(lang, catalogue.default);
        engine = e;
        loaded.add(lang);
      },
      (err: unknown) => {
        loading.delete(lang);
        throw err;
      },
    );
    loading.set(lang, pending);
  }
  return pending;
}

/** Interpolation values: `%{name}` in a message. */
export type Params = Record<string, unknown>;

function lookup(lang: Lang, key: string): unknown {
  let node: unknown = boot[lang];
  for (const part of key.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** A message in `lang`: i18next once its catalogue is loaded, the boot sections before. */
function translate(lang: Lang, key: string, params?: Params): string {
  if (engine && loaded.has(lang)) return engine.translate(key, { ...params, lng: lang });
  const text = lookup(lang, key);
  if (typeof text !== 'string') return key;
  return text.replace(placeholders(), (_, name: string) => String(params?.[name] ?? ''));
}

/** Text for `key` in the current language (reactive inside components). */
export function t(key: string, params?: Params): string {
  return translate(langState.lang, key, params);
}

/** Text in a given language (tests and non-reactive callers). */
export function tIn(lang: Lang, key: string, params?: Params): string {
  return translate(lang, key, params);
}

export function hasText(lang: Lang, key: string): boolean {
  if (engine && loaded.has(lang)) return engine.i18n.exists(key, { lng: lang, fallbackLng: false });
  return typeof lookup(lang, key) === 'string';
}

/** The raw message (with its `%{name}` placeholders) for `key`, if there is one. */
export function template(lang: Lang, key: string): string | undefined {
  const raw = engine && loaded.has(lang) ? engine.i18n.getResource(lang, 'translation', key) : lookup(lang, key);
  return typeof raw === 'string' ? raw : undefined;
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

function show(lang: Lang): void {
  langState.lang = lang;
  document.documentElement.lang = lang;
}

/**
 * Switches the language everywhere: texts, `<html lang>`; `persist` saves the choice. Immediate when
 * the catalogue is loaded (or only the start screen needs text); otherwise it loads the catalogue
 * first. The promise resolves once the language is shown (or a later switch has replaced it).
 */
export function setLang(lang: Lang, persist = false): Promise<void> {
  wanted = lang;
  if (persist) {
    try {
      localStorage.setItem(STORAGE_KEY, lang);
    } catch {
      /* storage unavailable: the choice lasts for this run */
    }
  }
  if (loaded.has(lang) || !strict) {
    show(lang);
    return Promise.resolve();
  }
  return loadLang(lang).then(() => {
    if (wanted === lang) show(lang);
  });
}

/**
 * From now on every text may be needed: resolves once the full catalogue of the current language
 * is loaded (loading it if needed).
 */
export async function catalogueReady(): Promise<void> {
  strict = true;
  for (;;) {
    const lang = wanted;
    await loadLang(lang);
    if (wanted === lang) {
      show(lang);
      return;
    }
  }
}
