import { emit } from '@tauri-apps/api/event';
import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import type { AccountQuery } from '../../bindings/AccountQuery';
import type { AccountRow } from '../../bindings/AccountRow';
import type { FlowFinished } from '../../bindings/FlowFinished';
import type { FlowSnapshot } from '../../bindings/FlowSnapshot';
import type { SetupOverview } from '../../bindings/SetupOverview';
import type { SignInSummary } from '../../bindings/SignInSummary';
import { accountRow, flowFinished, flowStarted, lastCall, overview, uiError, type Call } from '../../test/fixtures';
import { renderApp, type Handlers } from '../../test/render';
import { setLang } from '../i18n';

// user00000 not_signed_in, user00001 signed_in, user00002 verified, user00003 needs_reauth, …
const ROWS = Array.from({ length: 30 }, (_, i) => accountRow(i));

function listAccounts(args: unknown) {
  const { query } = args as { query: AccountQuery };
  const q = query.search.toLowerCase();
  const hits = q ? ROWS.filter((r) => r.loginName.includes(q) || r.address.includes(q)) : ROWS;
  return { total: hits.length, offset: query.offset, rows: hits.slice(query.offset, query.offset + query.limit) };
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
    account: { ...row, status: 'signed_in' },
  };
}

async function openStep4(opts: { overview?: SetupOverview; handlers?: Handlers } = {}): Promise<{ calls: Call[] }> {
  const rendered = await renderApp({
    overview: opts.overview ?? ready(),
    handlers: {
      list_accounts: listAccounts,
      begin_sign_in: (args) => flowStarted('sign_in', { address: (args as { address: string }).address }),
      cancel_flow: () => null,
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
      handlers: { sign_out: () => ({ ...row, status: 'not_signed_in' }) },
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
