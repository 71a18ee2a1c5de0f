export type Lang = 'ja' | 'en';

/** The UI language; read by `t()` so that templates depend on it. */
export const langState = $state<{ lang: Lang }>({ lang: 'en' });
