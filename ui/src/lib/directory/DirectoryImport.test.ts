import { emit } from '@tauri-apps/api/event';
import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import type { AccountQuery } from '../../bindings/AccountQuery';
import type { DirectoryDiffQuery } from '../../bindings/DirectoryDiffQuery';
import type { DirectoryDiffRow } from '../../bindings/DirectoryDiffRow';
import type { DirectoryPreview } from '../../bindings/DirectoryPreview';
import { accountRow, flowFinished, flowStarted, lastCall, overview, uiError, type Call } from '../../test/fixtures';
import { renderApp, type Handlers } from '../../test/render';
import { setLang } from '../i18n';

const ROWS = Array.from({ length: 30 }, (_, i) => accountRow(i));

function listAccounts(args: unknown) {
  const { query } = args as { query: AccountQuery };
  return { total: ROWS.length, offset: query.offset, rows: ROWS.slice(query.offset, query.offset + query.limit) };
}

/** 100,000 directory users: 99,000 new, 600 changed, 300 disabled, 100 gone. */
const PREVIEW: DirectoryPreview = {
  scope: 'all',
  scopeName: 'All users',
  loginRule: 'upn_local_part',
  pages: 101,
  usersRead: 100_000,
  creates: 99_000,
  updates: 600,
  unchanged: 0,
  disables: 300,
  gone: 100,
  rejected: 0,
  skipped: 0,
};

function diffRow(seq: number, action: DirectoryDiffRow['action']): DirectoryDiffRow {
  const n = String(seq).padStart(6, '0');
  return {
    seq,
    action,
    userPrincipalName: `user${n}@contoso.com`,
    loginName: `user${n}`,
    displayName: `利用者 ${n}`,
    address: `user${n}@contoso.com`,
    oldLoginName: action === 'update' ? `old${n}` : null,
    oldDisplayName: null,
    oldAddress: action === 'create' ? null : `user${n}@contoso.com`,
    reason: action === 'gone' ? 'gone' : null,
    message: null,
  };
}

/** The staged diff as Rust pages it: every change, or one action's rows. */
function directoryDiff(args: unknown) {
  const { query } = args as { query: DirectoryDiffQuery };
  const total =
    query.action === null
      ? PREVIEW.creates + PREVIEW.updates + PREVIEW.disables + PREVIEW.gone
      : query.action === 'create'
        ? PREVIEW.creates
        : query.action === 'update'
          ? PREVIEW.updates
          : 0;
  const count = Math.max(0, Math.min(query.limit, total - query.offset));
  const action = query.action ?? 'create';
  return {
    total,
    offset: query.offset,
    rows: Array.from({ length: count }, (_, i) => diffRow(query.offset + i + 1, action)),
  };
}

/** A promise settled from the test: what `read_directory` answers, when the test says so. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

async function openStep2(handlers: Handlers = {}, signedIn = true): Promise<{ calls: Call[] }> {
  const rendered = await renderApp({
    overview: overview({ enabled: true }),
    handlers: {
      list_accounts: listAccounts,
      directory_signed_in: () => signedIn,
      directory_diff: directoryDiff,
      cancel_directory_read: () => null,
      discard_directory: () => null,
      ...handlers,
    },
  });
  await fireEvent.click(screen.getByTestId('start-admin'));
  await fireEvent.click(screen.getByTestId('next-step'));
  await screen.findByTestId('directory-import');
  await waitFor(() => expect(lastCall(rendered.calls, 'directory_signed_in')).toBeTruthy());
  // The progress listener is registered before anything is read.
  await waitFor(() =>
    expect(
      rendered.calls.some(
        (c) => c.cmd === 'plugin:event|listen' && (c.args as { event: string }).event === 'exo://directory-progress',
      ),
    ).toBe(true),
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  return rendered;
}

const section = () => screen.getByTestId('directory-import');

describe('step 2: import from Microsoft Entra', () => {
  it('signs the administrator in through the browser, then offers the read', async () => {
    const flow = flowStarted('directory_sign_in');
    const { calls } = await openStep2({ begin_directory_sign_in: () => flow }, false);
    const box = section();
    expect(within(box).getByTestId('directory-sign-in-state').getAttribute('data-signed-in')).toBe('false');
    expect(within(box).queryByTestId('directory-read')).toBeNull();

    await fireEvent.click(within(box).getByTestId('directory-sign-in'));
    const waiting = await within(box).findByTestId('flow-waiting');
    expect(waiting.getAttribute('data-purpose')).toBe('directory_sign_in');
    expect(waiting.textContent).toContain('Waiting for the directory sign-in');
    expect(lastCall(calls, 'begin_directory_sign_in')?.args).toEqual({ loginHint: null });

    await emit(
      'exo://flow-finished',
      flowFinished(flow.flowId, 'directory_sign_in', {
        outcome: 'directory_signed_in',
        signed_in_as: 'admin@contoso.com',
        name: '管理 太郎',
        scopes: ['https://graph.microsoft.com/User.Read.All'],
      }),
    );
    await waitFor(() => expect(within(box).getByTestId('directory-signed-in-as').textContent).toContain('admin@contoso.com'));
    expect(within(box).queryByTestId('flow-waiting')).toBeNull();
    expect(within(box).getByTestId('directory-sign-in-state').getAttribute('data-signed-in')).toBe('true');
    expect(within(box).getByTestId('directory-read')).toBeTruthy();
  });

  it('shows pages and users while reading, and cancels', async () => {
    const read = deferred<DirectoryPreview>();
    const { calls } = await openStep2({ read_directory: () => read.promise });
    await fireEvent.click(within(section()).getByTestId('directory-read'));
    const progress = await within(section()).findByTestId('directory-progress');
    expect(lastCall(calls, 'read_directory')?.args).toEqual({
      input: { scope: { kind: 'allUsers' }, loginRule: 'upn_local_part' },
    });
    expect((within(section()).getByTestId('directory-read') as HTMLButtonElement).disabled).toBe(true);

    await emit('exo://directory-progress', { pages: 1, users: 999 });
    await emit('exo://directory-progress', { pages: 2, users: 1998 });
    await waitFor(() => expect(progress.getAttribute('data-users')).toBe('1998'));
    expect(within(progress).getByTestId('directory-progress-text').textContent).toContain('2 pages read, 1998 users');

    await fireEvent.click(within(progress).getByTestId('directory-cancel'));
    await waitFor(() => expect(lastCall(calls, 'cancel_directory_read')).toBeTruthy());
    expect((within(progress).getByTestId('directory-cancel') as HTMLButtonElement).disabled).toBe(true);
    // Rust stops after the page under way; the read then fails as cancelled.
    read.reject(uiError('directory_cancelled', 'admin'));
    await waitFor(() => expect(within(section()).queryByTestId('directory-progress')).toBeNull());
    const error = within(within(section()).getByTestId('directory-error')).getByTestId('error');
    expect(error.getAttribute('data-kind')).toBe('directory_cancelled');
    expect(error.textContent).toContain('cancelled; nothing was imported');
    expect(calls.some((c) => c.cmd === 'apply_directory')).toBe(false);
  });

  it('pages the diff of 100,000 users from Rust and applies it after confirmation', async () => {
    const outcome = { mode: 'all_or_nothing', created: 99_000, updated: 600, unchanged: 0, disabled: 300, gone: 100, skipped: 0 };
    const { calls } = await openStep2({ read_directory: () => PREVIEW, apply_directory: () => outcome });
    await fireEvent.click(within(section()).getByTestId('directory-read'));
    const diff = await within(section()).findByTestId('directory-diff');
    expect(within(diff).getByTestId('directory-count-creates').textContent).toContain('99000');
    expect(within(diff).getByTestId('directory-count-gone').textContent).toContain('100');
    await waitFor(() => expect(within(diff).getAllByTestId('directory-row')).toHaveLength(50));
    expect(lastCall(calls, 'directory_diff')?.args).toEqual({ query: { action: null, offset: 0, limit: 50 } });
    expect(within(diff).getByTestId('directory-range').textContent).toContain('1–50 of 100000');

    await fireEvent.click(within(diff).getByTestId('directory-next'));
    await waitFor(() => expect(within(diff).getByTestId('directory-range').textContent).toContain('51–100 of 100000'));
    expect(lastCall(calls, 'directory_diff')?.args).toEqual({ query: { action: null, offset: 50, limit: 50 } });

    await fireEvent.click(within(diff).getByTestId('directory-filter-update'));
    await waitFor(() => expect(within(diff).getAllByTestId('directory-row')[0].getAttribute('data-action')).toBe('update'));
    expect(lastCall(calls, 'directory_diff')?.args).toEqual({ query: { action: 'update', offset: 0, limit: 50 } });
    expect(within(diff).getAllByTestId('directory-row')[0].textContent).toContain('old000001 → user000001');
    // Only one page is ever in the document.
    expect(within(diff).getAllByTestId('directory-row').length).toBeLessThanOrEqual(50);

    const listsBefore = calls.filter((c) => c.cmd === 'list_accounts').length;
    await fireEvent.click(within(section()).getByTestId('directory-apply'));
    const dialog = await screen.findByRole('alertdialog');
    expect(dialog.textContent).toContain('99000 accounts will be added');
    expect(calls.some((c) => c.cmd === 'apply_directory')).toBe(false);
    await fireEvent.click(within(dialog).getByTestId('directory-confirm'));
    const result = await within(section()).findByTestId('directory-result');
    expect(lastCall(calls, 'apply_directory')?.args).toEqual({ mode: 'all_or_nothing' });
    expect(result.getAttribute('data-created')).toBe('99000');
    expect(within(section()).getByTestId('flow-success').textContent).toContain('Imported from Microsoft Entra');
    expect(within(section()).queryByTestId('directory-diff')).toBeNull();
    // The account list is read again.
    await waitFor(() => expect(calls.filter((c) => c.cmd === 'list_accounts').length).toBeGreaterThan(listsBefore));
  });

  it("shows Microsoft Graph's refusal with its request ID", async () => {
    await openStep2({
      read_directory: () => {
        throw uiError('graph_error', 'admin', {
          status: '403',
          code: 'Authorization_RequestDenied',
          graphMessage: 'Insufficient privileges to complete the operation.',
          requestId: '8f6c1c1e-0000-4000-8000-000000000001',
          date: '2026-12-05T10:00:00',
        });
      },
    });
    await fireEvent.click(within(section()).getByTestId('directory-read'));
    const error = await within(section()).findByTestId('error');
    expect(error.getAttribute('data-kind')).toBe('graph_error');
    expect(error.textContent).toContain('Insufficient privileges');
    expect(within(error).getByTestId('support-requestId').textContent).toBe('8f6c1c1e-0000-4000-8000-000000000001');
    expect(within(error).getByTestId('support-date').textContent).toBe('2026-12-05T10:00:00');
    expect(within(error).getByTestId('support-code').textContent).toBe('Authorization_RequestDenied');
    expect(within(section()).queryByTestId('directory-diff')).toBeNull();
  });

  it('finds a group by name and reads its members by the group ID, in Japanese', async () => {
    const tokyo = { id: '0f0e0d0c-0000-4000-8000-000000000007', displayName: '営業部 東京 (Sales Tokyo)' };
    const groups = [{ id: '0f0e0d0c-0000-4000-8000-000000000001', displayName: '営業部 (Sales)' }, tokyo];
    const { calls } = await openStep2({
      search_directory_groups: () => groups,
      read_directory: () => ({ ...PREVIEW, scope: `group:${tokyo.id}`, scopeName: tokyo.displayName }),
    });
    await setLang('ja');
    await fireEvent.click(within(section()).getByTestId('directory-group'));
    expect((within(section()).getByTestId('directory-read') as HTMLButtonElement).disabled).toBe(true);
    const search = document.getElementById('directory-group-search') as HTMLInputElement;
    for (const value of ['営', '営業']) await fireEvent.input(search, { target: { value } });
    const matches = await within(section()).findAllByTestId('directory-group-match');
    expect(calls.filter((c) => c.cmd === 'search_directory_groups').map((c) => c.args)).toEqual([{ prefix: '営業' }]);
    expect(matches.map((m) => m.textContent?.trim())).toEqual(['営業部 (Sales)', '営業部 東京 (Sales Tokyo)']);
    await fireEvent.click(matches[1]);
    expect(within(section()).getByTestId('directory-group-chosen').textContent).toContain('営業部 東京');

    const rule = document.getElementById('directory-login-rule') as HTMLSelectElement;
    rule.value = 'mail';
    await fireEvent.change(rule);
    await fireEvent.click(within(section()).getByTestId('directory-read'));
    const diff = await within(section()).findByTestId('directory-diff');
    expect(lastCall(calls, 'read_directory')?.args).toEqual({
      input: { scope: { kind: 'group', nameOrId: tokyo.id }, loginRule: 'mail' },
    });
    expect(diff.textContent).toContain('変更内容を確認 (営業部 東京 (Sales Tokyo))');
    expect(diff.textContent).toContain('新規');
    await setLang('en');
  });
});
