import { describe, expect, it, vi } from 'vitest';
import { ACTORS, CSV_REASONS, ERROR_KINDS } from '../errors/uiError';
import { hasText, langFromLocale, LANGS, tIn } from './index';
import en from './en.json';
import ja from './ja.json';

const japanese = /[\u3040-\u30ff\u4e00-\u9fff]/;

describe('message catalogue', () => {
  it.each(ERROR_KINDS)('error kind %s has Japanese and English text', (kind) => {
    for (const lang of LANGS) expect(hasText(lang, `errors.${kind}`), `${lang} errors.${kind}`).toBe(true);
    expect(tIn('ja', `errors.${kind}`)).toMatch(japanese);
    expect(tIn('en', `errors.${kind}`)).not.toMatch(japanese);
  });

  it.each(CSV_REASONS)('CSV row reason %s has Japanese and English text', (reason) => {
    for (const lang of LANGS) expect(hasText(lang, `csvReasons.${reason}`), `${lang} csvReasons.${reason}`).toBe(true);
    expect(tIn('ja', `csvReasons.${reason}`)).toMatch(japanese);
  });

  it.each(ACTORS)('actor %s has a badge text', (actor) => {
    expect(tIn('ja', `actor.${actor}`)).toMatch(japanese);
    expect(tIn('en', `actor.${actor}`)).toBeTruthy();
  });

  it('uses the FAQ wording for the badge and the server state', () => {
    expect(tIn('ja', 'actor.admin')).toBe('管理者が対応');
    expect(tIn('ja', 'actor.user')).toBe('利用者が対応');
    expect(tIn('ja', 'server.on')).toBe('使用する');
    expect(tIn('ja', 'server.off')).toBe('停止する');
    expect(tIn('ja', 'step1.save')).toBe('保存して使用する');
  });

  it('fills detail parameters', () => {
    expect(tIn('en', 'errors.tenant_not_found', { tenant: 'nope.example', code: 'AADSTS90002' })).toContain(
      '“nope.example” (AADSTS90002)',
    );
    expect(tIn('ja', 'errors.address_invalid', { address: 'a@' })).toContain('「a@」');
  });

  it('has the same keys in both languages', () => {
    const keys = (o: object, p = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) => (typeof v === 'object' ? keys(v, `${p}${k}.`) : [`${p}${k}`]));
    expect(keys(ja).sort()).toEqual(keys(en).sort());
  });

  it('chooses Japanese only for ja locales', () => {
    expect(langFromLocale('ja-JP')).toBe('ja');
    expect(langFromLocale('ja')).toBe('ja');
    expect(langFromLocale('JA_jp.UTF-8')).toBe('ja');
    expect(langFromLocale('en-US')).toBe('en');
    expect(langFromLocale('')).toBe('en');
    expect(langFromLocale(null)).toBe('en');
  });
});

describe('loading the catalogues', () => {
  // A fresh copy of the module: nothing loaded yet (the test setup loads both for every other test).
  async function fresh() {
    vi.resetModules();
    return import('./index');
  }

  it('has the start screen texts in both languages before any catalogue is loaded', async () => {
    const i18n = await fresh();
    expect(i18n.tIn('ja', 'start.admin.title')).toBe('システム管理者の設定');
    expect(i18n.tIn('en', 'start.admin.title')).toBe('Administrator setup');
    expect(i18n.tIn('en', 'demo.notice', { authority: 'http://x' })).toContain('emulator at http://x, not');
    expect(i18n.hasText('en', 'app.loading')).toBe(true);
    // Everything else comes with the full catalogue.
    expect(i18n.hasText('en', 'step1.save')).toBe(false);
    expect(i18n.tIn('en', 'step1.save')).toBe('step1.save');
  });

  it('switches at once on the start screen, and waits for the catalogue once every text is needed', async () => {
    const i18n = await fresh();
    await i18n.setLang('ja');
    expect(i18n.currentLang()).toBe('ja');
    expect(document.documentElement.lang).toBe('ja');

    await i18n.catalogueReady();
    expect(i18n.t('step1.save')).toBe('保存して使用する');
    expect(i18n.hasText('en', 'step1.save')).toBe(false);

    // English is loaded on demand; until it is there, the Japanese texts stay.
    const switched = i18n.setLang('en', true);
    expect(i18n.currentLang()).toBe('ja');
    expect(localStorage.getItem('exo-setup.lang')).toBe('en');
    await switched;
    expect(i18n.currentLang()).toBe('en');
    expect(document.documentElement.lang).toBe('en');
    expect(i18n.t('step1.save')).toBe('Save and use');
  });

  it('shows the language asked for last when switches overlap', async () => {
    const i18n = await fresh();
    await i18n.catalogueReady(); // English
    const first = i18n.setLang('ja');
    await i18n.setLang('en');
    await first;
    expect(i18n.currentLang()).toBe('en');
  });
});
