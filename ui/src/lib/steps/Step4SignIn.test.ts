import { emit } from '@tauri-apps/api/event';
import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import type { AccountQuery } from '../../bindings/AccountQuery';
import type { AccountRow } from '../../bindings/AccountRow';
import type { FlowFinished } from '../../bindings/FlowFinished';
import type { FlowSnapshot } from '../../bindings/FlowSnapshot';
import type { SetupOverview } from '../../bindings/SetupOverview';
import type { SignInSummary } from '../../bindings/SignInSummary';
import type { MailCheckReport } from '../../bindings/MailCheckReport';
import {
  accountRow,
  checkReport,
  flowFinished,
  flowStarted,
  lastCall,
  overview,
  uiError,
  withStatus,
  type Call,
} from '../../test/fixtures';
import { renderApp, type Handlers } from '../../test/render';
import { sameAddress } from '../address';
import { setLang } from '../i18n';

// user00000 not_signed_in, user00001 signed_in, user00002 verified, user00003 needs_reauth, …
const ROWS = Array.from({ length: 30 }, (_, i) => accountRow(i));

function listAccounts(args: unknown) {
  const { query } = args as { query: AccountQuery };
  const q = query.search.toLowerCase();
  const hits = q ? ROWS.filter((r) => r.loginName.includes(q) || r.address.includes(q)) : ROWS;
  return { total: hits.length, offset: query.offset, rows: hits.slice(query.offset, query.offset + query.limit) };
}

/** The registered account of `address`, as Rust's `find_account` answers. */
function findAccount(args: unknown): AccountRow | null {
  const { address } = args as { address: string };
  return ROWS.find((r) => sameAddress(r.address, address)) ?? null;
}

/** Rust's check of the mailbox in `args`: all passed, recorded on its account. */
function checkAccount(args: unknown): MailCheckReport {
  const { address } = args as { address: string };
  return checkReport(findAccount(args) ?? address);
}

function ready(): SetupOverview {
  return { ...overview({ enabled: true, steps: ['done', 'done', 'done', 'todo'] }), accountCount: ROWS.length };
}

function summary(row: AccountRow, signedInAs = row.address): SignInSummary {
  return {
    address: row.address,
    signedInAs,
    name: row.userDisplayName,
    scopes: ['https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send', 'offline_access'],
    account: withStatus(row, 'signed_in'),
  };
}

async function openStep4(opts: { overview?: SetupOverview; handlers?: Handlers } = {}): Promise<{ calls: Call[] }> {
  const rendered = await renderApp({
    overview: opts.overview ?? ready(),
    handlers: {
      list_accounts: listAccounts,
      find_account: findAccount,
      begin_sign_in: (args) => flowStarted('sign_in', { address: (args as { address: string }).address }),
      cancel_flow: () => null,
      check_account: checkAccount,
      ...opts.handlers,
    },
  });
  await fireEvent.click(screen.getByTestId('start-user'));
  await waitFor(() => expect(lastCall(rendered.calls, 'flow_snapshot')).toBeTruthy());
  await new Promise((resolve) => setTimeout(resolve, 0));
  return rendered;
}

async function finish(payload: FlowFinished) {
  await emit('exo://flow-finished', payload);
  await new Promise((resolve) => setTimeout(resolve, 0));
}

/** Types into "your mailbox" and picks the suggestion for `address`. */
async function choose(address: string) {
  const input = await screen.findByTestId('step4-address');
  await fireEvent.focus(input);
  await fireEvent.input(input, { target: { value: address.split('@')[0] } });
  await fireEvent.click(await screen.findByTestId(`step4-option-${address}`));
  await waitFor(() => expect(screen.getByTestId('step4-account').getAttribute('data-address')).toBe(address));
}

describe('step 4: sign in to your mailbox', () => {
  it('searches the registered accounts as you type', async () => {
    const { calls } = await openStep4();
    const input = screen.getByTestId('step4-address') as HTMLInputElement;
    await fireEvent.focus(input);
    for (const value of ['u', 'user', 'user0001']) await fireEvent.input(input, { target: { value } });
    await waitFor(() => expect(screen.getAllByRole('option')).toHaveLength(10));
    expect(screen.getByTestId('step4-option-user00019@contoso.com')).toBeTruthy();
    const searches = calls.filter((c) => c.cmd === 'list_accounts').map((c) => (c.args as { query: AccountQuery }).query);
    // The first page on opening, then one search after the typing pauses.
    expect(searches).toEqual([
      { search: '', status: null, offset: 0, limit: 20 },
      { search: 'user0001', status: null, offset: 0, limit: 20 },
    ]);
    expect(screen.queryByTestId('step4-signin')).toBeNull();
  });

  it('signs in to the chosen mailbox and shows who signed in', async () => {
    const row = ROWS[0];
    const { calls } = await openStep4();
    await choose(row.address);
    const account = screen.getByTestId('step4-account');
    expect(within(account).getByTestId('account-status').getAttribute('data-status')).toBe('not_signed_in');
    expect(screen.getByTestId('step4-signin').textContent?.trim()).toBe('Sign in with Microsoft');
    expect(screen.queryByTestId('step4-signout')).toBeNull();

    await fireEvent.click(screen.getByTestId('step4-signin'));
    const waiting = await screen.findByTestId('flow-waiting');
    expect(lastCall(calls, 'begin_sign_in')?.args).toEqual({ address: row.address });
    expect(waiting.getAttribute('data-purpose')).toBe('sign_in');
    expect((screen.getByTestId('step4-signin') as HTMLButtonElement).disabled).toBe(true);

    await finish(flowFinished('flow-sign_in-1', 'sign_in', { outcome: 'signed_in', sign_in: summary(row, 'taro@contoso.com') }));
    const success = await screen.findByTestId('flow-success');
    expect(within(success).getByTestId('step4-signed-in-as').textContent).toBe('taro@contoso.com');
    expect(within(success).getByTestId('step4-alias').textContent).toContain('another name (alias) of the mailbox user00000@contoso.com');
    expect(within(success).getByTestId('account-status').getAttribute('data-status')).toBe('signed_in');
    expect(within(success).getAllByTestId('flow-success-scope')).toHaveLength(3);
    expect(within(screen.getByTestId('step4-account')).getByTestId('account-status').getAttribute('data-status')).toBe('signed_in');
    expect(screen.getByTestId('step4-signin').textContent?.trim()).toBe('Sign in again');
    expect(screen.getByTestId('step4-signout')).toBeTruthy();
    expect(screen.queryByTestId('flow-waiting')).toBeNull();
  });

  it('says "Sign in again" for an account that needs re-authorization', async () => {
    await openStep4();
    await choose(ROWS[3].address);
    expect(screen.getByTestId('step4-signin').textContent?.trim()).toBe('Sign in again');
    setLang('ja');
    await waitFor(() => expect(screen.getByTestId('step4-signin').textContent?.trim()).toBe('もう一度サインインする'));
  });

  it('names both addresses when the wrong account signed in, in English and Japanese', async () => {
    await openStep4();
    await choose(ROWS[0].address);
    await fireEvent.click(screen.getByTestId('step4-signin'));
    await screen.findByTestId('flow-waiting');
    const error = uiError('wrong_account', 'user', { signedInAs: 'hanako@contoso.com', expected: 'user00000@contoso.com' });
    await finish(flowFinished('flow-sign_in-1', 'sign_in', { outcome: 'failed', error }));
    const box = await screen.findByTestId('flow-error');
    expect(box.textContent).toContain('You signed in as hanako@contoso.com, but this mailbox is user00000@contoso.com');
    expect(within(box).getByTestId('actor-badge').getAttribute('data-actor')).toBe('user');
    expect(screen.queryByTestId('flow-waiting')).toBeNull();
    expect((screen.getByTestId('step4-signin') as HTMLButtonElement).disabled).toBe(false);
    setLang('ja');
    await waitFor(() => expect(screen.getByTestId('flow-error').textContent).toContain('hanako@contoso.com でサインインしましたが'));
    expect(screen.getByTestId('flow-error').textContent).toContain('このメールアカウントは user00000@contoso.com です');
  });

  it('shows the last sign-in when the screen opens after it ended (snapshot)', async () => {
    const row = ROWS[4];
    const snapshot: FlowSnapshot = {
      pending: [],
      last: flowFinished('flow-cold', 'sign_in', { outcome: 'signed_in', sign_in: summary(row) }),
    };
    await openStep4({ handlers: { flow_snapshot: () => snapshot } });
    const success = await screen.findByTestId('flow-success');
    expect(within(success).getByTestId('step4-signed-in-as').textContent).toBe(row.address);
    expect(within(success).queryByTestId('step4-alias')).toBeNull();
    expect(screen.getByTestId('step4-account').getAttribute('data-address')).toBe(row.address);
    expect((screen.getByTestId('step4-address') as HTMLInputElement).value).toBe(row.address);
  });

  it('shows a failed sign-in from the snapshot', async () => {
    const snapshot: FlowSnapshot = {
      pending: [],
      last: flowFinished('flow-cold', 'sign_in', { outcome: 'failed', error: uiError('mfa_required', 'user', { code: '50076' }) }),
    };
    await openStep4({ handlers: { flow_snapshot: () => snapshot } });
    const box = await screen.findByTestId('flow-error');
    expect(box.textContent).toContain('Multi-factor authentication is required');
  });

  it('keeps waiting for a sign-in started before the screen opened (snapshot)', async () => {
    const pending = flowStarted('sign_in', { address: ROWS[2].address });
    await openStep4({ handlers: { flow_snapshot: () => ({ pending: [pending], last: null }) } });
    expect((await screen.findByTestId('flow-waiting')).getAttribute('data-purpose')).toBe('sign_in');
    await waitFor(() => expect(screen.getByTestId('step4-account').getAttribute('data-address')).toBe(ROWS[2].address));
  });

  it('signs out after confirmation, and Escape cancels', async () => {
    const row = ROWS[1];
    const { calls } = await openStep4({
      handlers: { sign_out: () => withStatus(row, 'not_signed_in') },
    });
    await choose(row.address);
    expect(screen.getByTestId('step4-signin').textContent?.trim()).toBe('Sign in again');

    await fireEvent.click(screen.getByTestId('step4-signout'));
    const dialog = screen.getByRole('alertdialog');
    expect(dialog.textContent).toContain(row.address);
    await fireEvent.keyDown(dialog, { key: 'Escape' });
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(lastCall(calls, 'sign_out')).toBeUndefined();

    await fireEvent.click(screen.getByTestId('step4-signout'));
    await fireEvent.click(screen.getByTestId('confirm-signout'));
    await waitFor(() => expect(lastCall(calls, 'sign_out')?.args).toEqual({ address: row.address }));
    await waitFor(() => expect(document.body.textContent).toContain(`Signed out of ${row.address}.`));
    expect(within(screen.getByTestId('step4-account')).getByTestId('account-status').getAttribute('data-status')).toBe(
      'not_signed_in',
    );
    expect(screen.queryByTestId('step4-signout')).toBeNull();
    expect(screen.getByTestId('step4-signin').textContent?.trim()).toBe('Sign in with Microsoft');
  });

  it('chooses the only registered mailbox by itself', async () => {
    const only = ROWS[0];
    await openStep4({
      overview: { ...ready(), accountCount: 1 },
      handlers: { list_accounts: () => ({ total: 1, offset: 0, rows: [only] }) },
    });
    await waitFor(() => expect(screen.getByTestId('step4-account').getAttribute('data-address')).toBe(only.address));
  });

  it('explains that the administrator must register the mailbox first', async () => {
    await openStep4({ overview: { ...ready(), accountCount: 0 } });
    expect(screen.getByTestId('step4-not-ready').textContent).toContain('your administrator must register yours in step 2');
    expect(screen.queryByTestId('step4-address')).toBeNull();
  });
});

async function checked(report: MailCheckReport) {
  await emit('exo://account-checked', report);
  await new Promise((resolve) => setTimeout(resolve, 0));
}

const badgeOf = (testid: string) => within(screen.getByTestId(testid)).getByTestId('account-status');

/** A promise with its resolve function (an answer from Rust that the test releases). */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('step 4: the connection check', () => {
  it('shows "checking" after the sign-in, then the result, and the badge turns verified by itself', async () => {
    const row = ROWS[0];
    const { calls } = await openStep4();
    await choose(row.address);
    expect(screen.queryByTestId('step4-check')).toBeNull(); // not signed in: nothing to check
    await fireEvent.click(screen.getByTestId('step4-signin'));
    await screen.findByTestId('flow-waiting');
    await finish(flowFinished('flow-sign_in-1', 'sign_in', { outcome: 'signed_in', sign_in: summary(row) }));

    // Rust checks by itself after the sign-in; the screen does not start a second check.
    expect((await screen.findByTestId('check-running')).textContent).toContain('Checking your mailbox connection…');
    expect((screen.getByTestId('step4-check') as HTMLButtonElement).disabled).toBe(true);
    expect(lastCall(calls, 'check_account')).toBeUndefined();
    expect(badgeOf('step4-account').getAttribute('data-status')).toBe('signed_in');

    await checked(checkReport(row));
    const result = await screen.findByTestId('check-result');
    expect(result.getAttribute('data-verified')).toBe('true');
    expect(screen.queryByTestId('check-running')).toBeNull();
    const imap = screen.getByTestId('check-protocol-imap');
    expect(imap.getAttribute('data-ok')).toBe('true');
    expect(imap.textContent).toContain('IMAP');
    expect(imap.textContent).toContain('Signed in to outlook.office365.com:993 (0.4 s)');
    const smtp = screen.getByTestId('check-protocol-smtp');
    expect(smtp.getAttribute('data-ok')).toBe('true');
    expect(smtp.textContent).toContain('smtp.office365.com:587 (1.4 s)');
    expect(result.textContent).toContain('every check passed');
    expect(result.textContent).toMatch(/Checked .*2030/);
    // No re-choosing: the event updates the chosen account and the success panel.
    expect(badgeOf('step4-account').getAttribute('data-status')).toBe('verified');
    expect(badgeOf('flow-success').getAttribute('data-status')).toBe('verified');
    expect(screen.getByTestId('step4-check').textContent?.trim()).toBe('Check again');
    expect(lastCall(calls, 'check_account')).toBeUndefined();
  });

  it('explains a mail server that may not receive the sign-in, in both languages', async () => {
    const row = ROWS[1]; // signed_in, POP3
    const detail = {
      protocol: 'POP3',
      server: 'pop.mail-sync.example:995',
      host: 'pop.mail-sync.example',
      address: row.address,
      authority: 'https://login.microsoftonline.com',
      cloud: "Microsoft's worldwide cloud",
    };
    const refused = uiError('mail_host_not_allowed', 'admin', detail);
    const { calls } = await openStep4({
      handlers: { check_account: () => checkReport(row, { receive: 'pop3', failures: { pop3: refused } }) },
    });
    await choose(row.address);
    await waitFor(() => expect(lastCall(calls, 'check_account')?.args).toEqual({ address: row.address }));
    const alert = within(await screen.findByTestId('check-protocol-pop3')).getByTestId('error');
    expect(alert.getAttribute('data-kind')).toBe('mail_host_not_allowed');
    expect(within(alert).getByTestId('actor-badge').getAttribute('data-actor')).toBe('admin');
    for (const text of [
      `did not send the sign-in (access token) of ${row.address} to pop.mail-sync.example (POP3)`,
      'nothing connected to pop.mail-sync.example:995',
      "(Microsoft's worldwide cloud)",
      'allowedMailHosts',
    ])
      expect(alert.textContent).toContain(text);
    expect(alert.textContent).not.toContain('%{');
    expect(badgeOf('step4-account').getAttribute('title')).toBe('The mail server is not allowed to receive this sign-in; nothing was sent');
    await setLang('ja');
    await waitFor(() =>
      expect(within(screen.getByTestId('check-protocol-pop3')).getByTestId('error').textContent).toContain(
        'pop.mail-sync.example (POP3) には送信しませんでした',
      ),
    );
    await setLang('en');
  });

  it('checks a signed-in mailbox when it is chosen, and explains a disabled SMTP AUTH in both languages', async () => {
    const row = ROWS[1]; // signed_in, POP3
    const smtpOff = uiError('mail_smtp_auth_disabled', 'admin', { scope: 'tenant', reply: '535 5.7.139 Authentication unsuccessful' });
    const { calls } = await openStep4({
      handlers: { check_account: () => checkReport(row, { receive: 'pop3', failures: { smtp: smtpOff } }) },
    });
    await choose(row.address);
    await waitFor(() => expect(lastCall(calls, 'check_account')?.args).toEqual({ address: row.address }));
    const result = await screen.findByTestId('check-result');
    expect(result.getAttribute('data-verified')).toBe('false');
    expect(screen.getByTestId('check-protocol-pop3').getAttribute('data-ok')).toBe('true');
    const smtp = screen.getByTestId('check-protocol-smtp');
    expect(smtp.getAttribute('data-ok')).toBe('false');
    const alert = within(smtp).getByTestId('error');
    expect(alert.getAttribute('data-kind')).toBe('mail_smtp_auth_disabled');
    expect(within(alert).getByTestId('actor-badge').getAttribute('data-actor')).toBe('admin');
    for (const text of [
      'Authenticated SMTP (SMTP AUTH) is turned off for the whole organization (tenant)',
      'not a problem with the Microsoft sign-in (OAuth) or the token',
      'Microsoft 365 admin center → Users → Active users → the user → Mail → Manage email apps → check “Authenticated SMTP”',
      `Set-CASMailbox -Identity ${row.address} -SmtpClientAuthenticationDisabled $false`,
      'Set-TransportConfig -SmtpClientAuthenticationDisabled $false',
    ])
      expect(alert.textContent).toContain(text);
    expect(within(alert).getByTestId('support-reply').textContent).toBe('535 5.7.139 Authentication unsuccessful');
    const badge = badgeOf('step4-account');
    expect(badge.getAttribute('data-status')).toBe('error');
    expect(badge.getAttribute('data-detail')).toBe('mail_smtp_auth_disabled');
    expect(badge.getAttribute('title')).toBe('Authenticated SMTP is turned off (an Exchange Online setting)');

    setLang('ja');
    await waitFor(() => expect(within(screen.getByTestId('check-protocol-smtp')).getByTestId('error').textContent).toContain('認証済み SMTP'));
    const ja = within(screen.getByTestId('check-protocol-smtp')).getByTestId('error').textContent ?? '';
    expect(ja).toContain('組織全体 (テナント) で「認証済み SMTP」(SMTP AUTH) が無効');
    expect(ja).toContain('Microsoft のサインイン (OAuth) やトークンの問題ではありません');
    expect(ja).toContain('メール アプリの管理');
    expect(ja).toContain(`Set-CASMailbox -Identity ${row.address} -SmtpClientAuthenticationDisabled $false`);
    expect(ja).toContain('Set-TransportConfig -SmtpClientAuthenticationDisabled $false');
    expect(screen.getByTestId('step4-check').textContent?.trim()).toBe('もう一度確認する');
  });

  it('"Check again" runs the check, shows it running, and names the step of a timeout', async () => {
    const row = ROWS[2]; // verified
    const answers: Array<ReturnType<typeof deferred<MailCheckReport>>> = [];
    const { calls } = await openStep4({
      handlers: {
        check_account: () => {
          const d = deferred<MailCheckReport>();
          answers.push(d);
          return d.promise;
        },
      },
    });
    await choose(row.address);
    await screen.findByTestId('check-running');
    answers[0].resolve(checkReport(row));
    expect((await screen.findByTestId('check-result')).getAttribute('data-verified')).toBe('true');

    await fireEvent.click(screen.getByTestId('step4-check'));
    await screen.findByTestId('check-running');
    expect(screen.queryByTestId('check-result')).toBeNull();
    expect((screen.getByTestId('step4-check') as HTMLButtonElement).disabled).toBe(true);
    expect(calls.filter((c) => c.cmd === 'check_account')).toHaveLength(2);
    const timeout = uiError('mail_timeout', 'support', { step: 'greeting', seconds: '15' });
    answers[1].resolve(checkReport(row, { failures: { imap: timeout }, checkedAt: '2030-01-01T11:00:00Z' }));
    const imap = await screen.findByTestId('check-protocol-imap');
    expect(imap.getAttribute('data-ok')).toBe('false');
    expect(imap.textContent).toContain(
      'outlook.office365.com:993 (IMAP) did not answer within 15 seconds while waiting for the server\'s greeting.',
    );
    expect(screen.getByTestId('check-protocol-smtp').getAttribute('data-ok')).toBe('true');
    expect(badgeOf('step4-account').getAttribute('data-status')).toBe('error');
    setLang('ja');
    await waitFor(() => expect(screen.getByTestId('check-protocol-imap').textContent).toContain('サーバーの応答待ちの段階で'));
  });

  it('ignores checks of other mailboxes and older reports', async () => {
    const row = ROWS[1];
    await openStep4();
    await choose(row.address);
    await screen.findByTestId('check-result');
    await checked(checkReport(ROWS[6], { failures: { imap: uiError('mail_auth_failed', 'user') } }));
    await checked(
      checkReport(row, { failures: { imap: uiError('mail_auth_failed', 'user') }, checkedAt: '2029-12-31T00:00:00Z' }),
    );
    expect(screen.getByTestId('check-result').getAttribute('data-verified')).toBe('true');
    expect(badgeOf('step4-account').getAttribute('data-status')).toBe('verified');
  });

  it('shows why a check could not run and reloads the account (it may have to sign in again)', async () => {
    const row = ROWS[6]; // signed_in
    let status: AccountRow['status'] = 'signed_in';
    const { calls } = await openStep4({
      handlers: {
        list_accounts: (args) => {
          const page = listAccounts(args);
          return { ...page, rows: page.rows.map((r) => (r.id === row.id ? withStatus(r, status) : r)) };
        },
        find_account: () => withStatus(row, status, status === 'needs_reauth' ? 'reauthorization_required' : null),
        check_account: () => {
          status = 'needs_reauth';
          throw uiError('reauthorization_required', 'user', { address: row.address });
        },
      },
    });
    await choose(row.address);
    const box = await screen.findByTestId('check-error');
    expect(box.textContent).toContain('The check could not run.');
    expect(box.textContent).toContain('The saved sign-in has expired or was revoked');
    await waitFor(() => expect(badgeOf('step4-account').getAttribute('data-status')).toBe('needs_reauth'));
    expect(badgeOf('step4-account').getAttribute('title')).toBe(
      'The saved sign-in has expired or was revoked (for example after a password change).',
    );
    expect(screen.getByTestId('step4-signin').textContent?.trim()).toBe('Sign in again');
    expect(calls.filter((c) => c.cmd === 'check_account')).toHaveLength(1);
    // Rust was asked for the account itself, not a search page scanned for it.
    expect(lastCall(calls, 'find_account')?.args).toEqual({ address: row.address });
  });

  it('shows the status Rust recorded with the check, not one worked out from the report', async () => {
    const row = ROWS[1]; // signed_in
    await openStep4();
    await choose(row.address);
    await screen.findByTestId('check-result');
    // Rust recorded another reason than the first failing protocol's: the badge follows Rust.
    const report = checkReport(row, { failures: { imap: uiError('mail_timeout', 'support') }, checkedAt: '2030-02-01T00:00:00Z' });
    await checked({ ...report, account: withStatus(row, 'error', 'mail_smtp_auth_disabled') });
    expect(screen.getByTestId('check-result').getAttribute('data-verified')).toBe('false');
    expect(badgeOf('step4-account').getAttribute('data-detail')).toBe('mail_smtp_auth_disabled');
    // A report that carries no account leaves the chosen one as it was.
    await checked({ ...checkReport(row, { checkedAt: '2030-03-01T00:00:00Z' }), account: null });
    expect(screen.getByTestId('check-result').getAttribute('data-verified')).toBe('true');
    expect(badgeOf('step4-account').getAttribute('data-status')).toBe('error');
  });

  it('offers signing out of an account whose last check failed (it still holds a sign-in)', async () => {
    const row = ROWS[4]; // error
    await openStep4();
    await choose(row.address);
    expect(badgeOf('step4-account').getAttribute('data-status')).toBe('error');
    expect(screen.getByTestId('step4-signin').textContent?.trim()).toBe('Sign in again');
    expect(screen.getByTestId('step4-signout')).toBeTruthy();
  });

  it('never chooses a stale suggestion while a search is due', async () => {
    const row = ROWS[0];
    let status: AccountRow['status'] = 'not_signed_in';
    const { calls } = await openStep4({
      handlers: {
        list_accounts: (args) => {
          const page = listAccounts(args);
          return { ...page, rows: page.rows.map((r) => (r.id === row.id ? withStatus(r, status) : r)) };
        },
      },
    });
    const input = screen.getByTestId('step4-address');
    await fireEvent.focus(input);
    const option = await screen.findByTestId(`step4-option-${row.address}`);
    expect(within(option).getByTestId('account-status').getAttribute('data-status')).toBe('not_signed_in');
    // Meanwhile the mailbox was signed in and checked (e.g. in another window or by the CLI).
    status = 'verified';
    await fireEvent.input(input, { target: { value: 'user00000' } });
    await fireEvent.click(option); // within the 150 ms before the search
    await waitFor(() => expect(screen.getByTestId('step4-account').getAttribute('data-address')).toBe(row.address));
    expect(badgeOf('step4-account').getAttribute('data-status')).toBe('verified');
    const searches = calls.filter((c) => c.cmd === 'list_accounts').map((c) => (c.args as { query: AccountQuery }).query.search);
    expect(searches).toEqual(['', 'user00000']);
    // The search that was due does not run any more.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(calls.filter((c) => c.cmd === 'list_accounts')).toHaveLength(2);
  });
});
