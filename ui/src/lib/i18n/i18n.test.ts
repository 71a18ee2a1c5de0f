import { describe, expect, it, vi } from 'vitest';
import { errorSummary, errorText } from '../errors/messages';
import { ACTORS, CSV_REASONS } from '../errors/uiError';
import type { ErrorKind } from '../../bindings/ErrorKind';
import { ERROR_KIND_INFO } from '../../bindings/errorKinds';

/** Every kind, from the table generated from Rust's `ErrorKind`. */
const ERROR_KINDS = Object.keys(ERROR_KIND_INFO) as ErrorKind[];
const kindsOf = (...areas: string[]) => ERROR_KINDS.filter((k) => areas.includes(ERROR_KIND_INFO[k].area));
/** The connection check's kinds; each also has a short text. */
const MAIL_CHECK_KINDS = kindsOf('mail_check');
import { hasText, langFromLocale, LANGS, setLang, tIn } from './index';
import { OLD_SYNTAX, placeholders } from './placeholders';
import en from './en.json';
import ja from './ja.json';

const japanese = /[\u3040-\u30ff\u4e00-\u9fff]/;

describe('message catalogue', () => {
  /** Every text of a catalogue with its dotted key. */
  const texts = (node: unknown, prefix = ''): [string, string][] =>
    typeof node === 'string'
      ? [[prefix, node]]
      : Object.entries(node as Record<string, unknown>).flatMap(([k, v]) => texts(v, prefix ? `${prefix}.${k}` : k));

  it.each(LANGS)('%s.json uses only the %{name} placeholder (i18next and the CLI\'s rust-i18n read the same texts)', (lang) => {
    const old = texts({ ja, en }[lang]).filter(([, text]) => OLD_SYNTAX.test(text));
    expect(old.map(([key, text]) => `${key}: ${text}`)).toEqual([]);
  });

  it('fills %{name} through i18next, the boot texts and the errors alike', async () => {
    await setLang('en');
    expect(tIn('en', 'csvReasons.duplicate_in_file', { firstLine: 7 })).toBe('Same mail address as line 7.');
    const raw = texts(en).find(([key]) => key === 'csvReasons.duplicate_in_file')?.[1] ?? '';
    expect([...raw.matchAll(placeholders())].map((m) => m[1])).toEqual(['firstLine']);
  });

  it.each(ERROR_KINDS)('error kind %s has Japanese and English text', (kind) => {
    for (const lang of LANGS) expect(hasText(lang, `errors.${kind}`), `${lang} errors.${kind}`).toBe(true);
    expect(tIn('ja', `errors.${kind}`)).toMatch(japanese);
    expect(tIn('en', `errors.${kind}`)).not.toMatch(japanese);
  });

  it('lists every kind of the connection check', () => {
    expect(MAIL_CHECK_KINDS).toContain('mail_host_not_allowed');
    expect(MAIL_CHECK_KINDS).toContain('mail_smtp_auth_disabled');
  });

  it.each(MAIL_CHECK_KINDS)('connection check kind %s has a short text and names the server in both languages', async (kind) => {
    const detail = {
      protocol: 'IMAP',
      server: 'outlook.office365.com:993',
      host: 'outlook.office365.com',
      port: '993',
      address: 'taro@contoso.com',
      reply: 'NO AUTHENTICATE failed',
      step: 'auth',
      seconds: '20',
      reason: 'certificate expired',
      command: 'SELECT',
      offered: 'PLAIN',
      scope: 'mailbox',
      authority: 'https://login.microsoftonline.com',
      cloud: "Microsoft's worldwide cloud",
    };
    for (const lang of LANGS) {
      expect(hasText(lang, `errorShort.${kind}`), `${lang} errorShort.${kind}`).toBe(true);
      await setLang(lang);
      const text = errorText({ kind, actor: 'admin', message: '', detail });
      expect(text).toMatch(/outlook\.office365\.com/);
      expect(text).not.toMatch(/%\{|\{\{|—|auth|mailStep|mailScope/);
      expect(errorSummary(kind)).toBe(tIn(lang, `errorShort.${kind}`));
    }
    await setLang('en');
  });

  it('names the exact admin setting for a disabled SMTP AUTH, and says it is not OAuth', () => {
    for (const lang of LANGS) {
      const text = tIn(lang, 'errors.mail_smtp_auth_disabled', { address: 'taro@contoso.com', server: 's', scope: 'x' });
      expect(text).toContain('Set-CASMailbox -Identity taro@contoso.com -SmtpClientAuthenticationDisabled $false');
      expect(text).toContain('Set-TransportConfig -SmtpClientAuthenticationDisabled $false');
      expect(text).toContain('OAuth');
    }
    expect(tIn('en', 'errors.mail_smtp_auth_disabled')).toContain(
      'Microsoft 365 admin center → Users → Active users → the user → Mail → Manage email apps → check “Authenticated SMTP”',
    );
    expect(tIn('en', 'errors.mail_smtp_auth_disabled')).toContain('not a problem with the Microsoft sign-in (OAuth)');
    expect(tIn('ja', 'errors.mail_smtp_auth_disabled')).toContain(
      'Microsoft 365 管理センター → ユーザー → アクティブなユーザー → 対象のユーザー → メール → メール アプリの管理 で「認証済み SMTP」をオン',
    );
    expect(tIn('ja', 'errors.mail_smtp_auth_disabled')).toContain('OAuth) やトークンの問題ではありません');
  });

  it.each(['incomplete', 'not_a_link', 'not_an_invitation', 'unknown_field', 'invalid_field', 'duplicate_parameter', 'unknown_parameter', 'not_json'])(
    'invitation problem %s has Japanese and English text',
    async (reason) => {
      for (const lang of LANGS) {
        expect(hasText(lang, `inviteReason.${reason}`), `${lang} inviteReason.${reason}`).toBe(true);
        await setLang(lang);
        const text = errorText({ kind: 'invite_malformed', actor: 'user', message: '', detail: { reason, field: 'tenant' } });
        expect(text).toContain(tIn(lang, `inviteReason.${reason}`, { field: tIn(lang, 'fieldNames.tenant') }));
        expect(text).not.toMatch(/%\{|\{\{|—|inviteReason/);
      }
      await setLang('en');
    },
  );

  it('says for every invitation and policy kind whether anything was changed', () => {
    for (const kind of kindsOf('invitation', 'policy')) {
      if (kind === 'policy_conflict' || kind === 'policy_invalid') continue; // nothing is being changed there
      expect(tIn('en', `errors.${kind}`), kind).toMatch(/Nothing was (changed|saved)\./);
      expect(tIn('ja', `errors.${kind}`), kind).toMatch(/何も(変更|保存)していません。/);
    }
  });

  it('names policy fields in words, lists too', async () => {
    const conflict = { kind: 'policy_conflict' as const, actor: 'user' as const, message: '', detail: { fields: 'authority, tenant, clientId' } };
    expect(errorText(conflict)).toContain(
      "differ from your organization's IT policy (the sign-in address (authority), the tenant, the application (client) ID)",
    );
    await setLang('ja');
    expect(errorText(conflict)).toContain('(サインイン先 (機関 / Authority)、テナント、アプリケーション (クライアント) ID)');
    await setLang('en');
    // An unknown field name is shown as Rust sent it.
    expect(errorText({ ...conflict, detail: { fields: 'somethingNew' } })).toContain('(somethingNew)');
  });

  it('summarizes other kinds by their first sentence', () => {
    expect(errorSummary('not_signed_in', { address: 'a@b.c' })).toBe('a@b.c is not signed in yet.');
    expect(errorSummary('no_such_kind')).toBe('Something unexpected happened.');
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
    expect(i18n.tIn('ja', 'start.invitation.title')).toBe('招待を受け取った');
    expect(i18n.tIn('en', 'start.invitation.title')).toBe('I received an invitation');
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
