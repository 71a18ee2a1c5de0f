import { emit } from '@tauri-apps/api/event';
import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import type { AccountQuery } from '../../bindings/AccountQuery';
import type { ImportPreview } from '../../bindings/ImportPreview';
import { accountRow, checkReport, invitationLink, lastCall, overview, uiError, withStatus, type Call } from '../../test/fixtures';
import { setLang } from '../i18n';
import { renderApp, type Handlers } from '../../test/render';

const ROWS = Array.from({ length: 10_000 }, (_, i) => accountRow(i));

function listAccounts(args: unknown) {
  const { query } = args as { query: AccountQuery };
  const q = query.search.toLowerCase();
  const hits = q ? ROWS.filter((r) => r.loginName.includes(q) || r.address.includes(q)) : ROWS;
  return { total: hits.length, offset: query.offset, rows: hits.slice(query.offset, query.offset + query.limit) };
}

/** The account list's own queries (the rollout's sender picker asks for signed-in mailboxes by status). */
const listQueries = (calls: Call[]) =>
  calls
    .filter((c) => c.cmd === 'list_accounts')
    .map((c) => (c.args as { query: AccountQuery }).query)
    .filter((q) => q.status === null);

async function openStep2(handlers: Handlers = {}) {
  const rendered = await renderApp({
    overview: overview({ enabled: true }),
    handlers: { list_accounts: listAccounts, ...handlers },
  });
  await fireEvent.click(screen.getByTestId('start-admin'));
  await fireEvent.click(screen.getByTestId('next-step'));
  await waitFor(() => expect(screen.getByTestId('account-total').getAttribute('data-total')).toBe('10000'));
  return rendered;
}

const preview: ImportPreview = {
  encoding: 'Shift_JIS',
  totalRows: 4,
  validRows: 2,
  rejectedRows: 2,
  creates: 1,
  updates: 1,
  unchanged: 0,
  errorCount: 2,
  errors: [
    { line: 3, column: 'mail_address', reason: 'invalid_address', message: 'bad', value: 'nope@', detail: {} },
    { line: 5, column: 'server', reason: 'server_disabled', message: 'stopped', value: 'Other', detail: {} },
  ],
  rows: [
    {
      line: 2,
      loginName: 'sato',
      userDisplayName: '佐藤 花子',
      address: 'hanako.sato@contoso.com',
      displayName: '佐藤 花子',
      receiveProtocol: 'imap',
      serverName: 'Exchange Online',
      action: 'create',
    },
  ],
};

async function chooseFile() {
  const input = document.getElementById('csv-file') as HTMLInputElement;
  expect(input.getAttribute('accept')).toBe('.csv,.txt,text/csv');
  const bytes = new Uint8Array([0x82, 0xa0, 0x2c, 0x0a]); // Shift_JIS bytes: must reach Rust untouched
  const file = new File([bytes], 'users.csv', { type: 'text/csv' });
  Object.defineProperty(input, 'files', { value: [file], configurable: true });
  await fireEvent.change(input);
  return bytes;
}

describe('step 2: mail accounts', () => {
  it('adds an account with the exact payload, Exchange Online first in the server list', async () => {
    const other = { ...overview({ enabled: true }).exchange, id: 7, name: 'Another server', builtin: false };
    const ov = overview({ enabled: true, extraServers: [other] });
    const { calls } = await renderApp({
      overview: ov,
      handlers: {
        list_accounts: listAccounts,
        add_account: () => accountRow(1),
      },
    });
    await fireEvent.click(screen.getByTestId('start-admin'));
    await fireEvent.click(screen.getByTestId('next-step'));

    const server = document.getElementById('server') as HTMLSelectElement;
    expect([...server.options].map((o) => o.textContent)).toEqual(['Exchange Online', 'Another server']);
    const set = (id: string, value: string) =>
      fireEvent.input(document.getElementById(id) as HTMLInputElement, { target: { value } });
    await set('login-name', 'sato');
    await set('user-display-name', '佐藤 花子');
    await set('address', 'hanako.sato@contoso.com');
    const protocol = document.getElementById('receive-protocol') as HTMLSelectElement;
    protocol.value = 'pop3';
    await fireEvent.change(protocol);
    await fireEvent.click(screen.getByTestId('add-account'));

    await waitFor(() => expect(lastCall(calls, 'add_account')).toBeTruthy());
    expect(lastCall(calls, 'add_account')?.args).toEqual({
      input: {
        loginName: 'sato',
        userDisplayName: '佐藤 花子',
        address: 'hanako.sato@contoso.com',
        displayName: '',
        receiveProtocol: 'pop3',
        serverId: 1,
      },
    });
    await waitFor(() => expect(document.body.textContent).toContain('Added user00001@contoso.com.'));
  });

  it('shows an address error next to the field', async () => {
    await openStep2({
      add_account: () => {
        throw uiError('address_duplicate', 'admin', { address: 'a@contoso.com', owner: 'suzuki' });
      },
    });
    await fireEvent.input(document.getElementById('address') as HTMLInputElement, { target: { value: 'a@contoso.com' } });
    await fireEvent.click(screen.getByTestId('add-account'));
    await waitFor(() => expect(document.getElementById('address-error')?.textContent).toContain('suzuki'));
    expect(screen.getByTestId('error').getAttribute('data-kind')).toBe('address_duplicate');
  });

  it('renders only a window of 10,000 accounts and fetches pages while scrolling', async () => {
    const { calls } = await openStep2();
    const list = screen.getByTestId('account-list');
    const rows = within(list).getAllByTestId('account-row');
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.length).toBeLessThan(60);
    expect(rows[0].getAttribute('data-address')).toBe('user00000@contoso.com');
    expect(within(rows[2]).getByTestId('account-status').getAttribute('data-status')).toBe('verified');
    expect(within(rows[2]).getByTestId('account-status').textContent).toContain('Verified');
    expect(listQueries(calls)).toEqual([{ search: '', status: null, offset: 0, limit: 200 }]);

    const viewport = list.querySelector('.viewport') as HTMLDivElement;
    viewport.scrollTop = 5000 * 44;
    await fireEvent.scroll(viewport);
    await waitFor(() =>
      expect(within(list).getAllByTestId('account-row')[0]?.getAttribute('data-address')).toMatch(/^user049[0-9]{2}@/),
    );
    const offsets = listQueries(calls).map((q) => q.offset);
    expect(offsets).toContain(4800);
    expect(offsets.length).toBeLessThanOrEqual(3);
    expect(within(list).getAllByTestId('account-row').length).toBeLessThan(60);
  });

  it('debounces the search and drops stale answers', async () => {
    const { calls } = await openStep2();
    vi.useFakeTimers();
    try {
      const search = document.getElementById('account-search') as HTMLInputElement;
      for (const value of ['u', 'us', 'user0999']) await fireEvent.input(search, { target: { value } });
      expect(listQueries(calls)).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(200);
    } finally {
      vi.useRealTimers();
    }
    const searches = listQueries(calls).map((q) => q.search);
    expect(searches).toEqual(['', 'user0999']);
    await waitFor(() => expect(screen.getByTestId('account-total').getAttribute('data-total')).toBe('10'));
    expect(screen.getAllByTestId('account-row')).toHaveLength(10);
  });

  it('deletes after confirmation, and Escape cancels', async () => {
    const { calls } = await openStep2({ delete_account: () => null, setup_overview: () => overview({ enabled: true }) });
    await fireEvent.click(screen.getAllByTestId('delete-account')[0]);
    const dialog = screen.getByRole('alertdialog');
    expect(dialog.textContent).toContain('user00000@contoso.com');
    await fireEvent.keyDown(dialog, { key: 'Escape' });
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(lastCall(calls, 'delete_account')).toBeUndefined();

    await fireEvent.click(screen.getAllByTestId('delete-account')[0]);
    await fireEvent.click(screen.getByTestId('confirm-delete'));
    await waitFor(() => expect(lastCall(calls, 'delete_account')?.args).toEqual({ id: 1 }));
  });

  it('edits a row through update_account', async () => {
    const { calls } = await openStep2({ update_account: () => accountRow(0), setup_overview: () => overview({ enabled: true }) });
    await fireEvent.click(screen.getAllByTestId('edit-account')[0]);
    const login = document.getElementById('login-name') as HTMLInputElement;
    expect(login.value).toBe('user00000');
    await fireEvent.input(document.getElementById('user-display-name') as HTMLInputElement, { target: { value: 'New Name' } });
    await fireEvent.click(screen.getByTestId('add-account'));
    await waitFor(() => expect(lastCall(calls, 'update_account')).toBeTruthy());
    expect(lastCall(calls, 'update_account')?.args).toMatchObject({ id: 1, input: { loginName: 'user00000', userDisplayName: 'New Name' } });
  });

  it('previews a CSV with per-row errors (line, column, reason) from the raw bytes', async () => {
    const { calls } = await openStep2({ preview_csv_import: () => preview });
    const bytes = await chooseFile();
    const box = await screen.findByTestId('import-preview');
    expect(box.getAttribute('data-valid')).toBe('2');
    expect(box.getAttribute('data-errors')).toBe('2');
    expect(box.textContent).toContain('Shift_JIS');
    const args = lastCall(calls, 'preview_csv_import')?.args;
    expect(args).toBeInstanceOf(Uint8Array);
    expect([...(args as Uint8Array)]).toEqual([...bytes]);

    const errors = screen.getAllByTestId('import-error');
    expect(errors.map((e) => e.getAttribute('data-line'))).toEqual(['3', '5']);
    expect(errors[0].textContent).toContain('mail_address');
    expect(errors[0].textContent).toContain('Not a valid mail address.');
    expect(errors[1].textContent).toContain('turn it on in step 1');
  });

  it('counts rows with errors, not errors: one row with two errors is one rejected row', async () => {
    const twoOnOneRow: ImportPreview = {
      ...preview,
      totalRows: 3,
      validRows: 2,
      rejectedRows: 1,
      errors: [
        { line: 3, column: 'mail_address', reason: 'invalid_address', message: 'bad', value: 'nope@', detail: {} },
        { line: 3, column: 'display_name', reason: 'unsafe_character', message: 'x', value: 'a\\u{202e}b', detail: { character: 'U+202E', position: '2' } },
      ],
    };
    await openStep2({ preview_csv_import: () => twoOnOneRow });
    await chooseFile();
    const box = await screen.findByTestId('import-preview');
    expect(box.getAttribute('data-rejected')).toBe('1');
    const counts = [...box.querySelectorAll('.counts li')].map((li) => li.textContent?.trim());
    expect(counts).toContain('1Rows with errors');
    expect(counts).toContain('3Rows');
    const errors = screen.getAllByTestId('import-error');
    expect(errors[1].textContent).toContain('(U+202E) at character 2');
  });

  it('sends the chosen import mode as the x-import-mode header and shows the result', async () => {
    const { calls } = await openStep2({
      preview_csv_import: () => preview,
      import_csv: () => ({ mode: 'valid_rows_only', totalRows: 4, created: 1, updated: 1, unchanged: 0, skipped: 2, errorCount: 0, errors: [] }),
      setup_overview: () => overview({ enabled: true }),
    });
    await chooseFile();
    await screen.findByTestId('import-preview');
    const allOrNothing = document.querySelector('input[name=import-mode][value=all_or_nothing]') as HTMLInputElement;
    expect(allOrNothing.checked).toBe(true);
    await fireEvent.click(document.querySelector('input[name=import-mode][value=valid_rows_only]') as HTMLInputElement);
    await fireEvent.click(screen.getByTestId('import-confirm'));

    const result = await screen.findByTestId('import-result');
    expect(result.getAttribute('data-created')).toBe('1');
    expect(result.textContent).toContain('2 skipped');
    expect(result.textContent).toContain('4 rows read');
    expect(result.getAttribute('data-total')).toBe('4');
    const call = lastCall(calls, 'import_csv');
    expect(call?.args).toBeInstanceOf(Uint8Array);
    expect(call?.options).toEqual({ headers: { 'x-import-mode': 'valid_rows_only' } });
  });

  it('refuses a file larger than the limit without reading it', async () => {
    const { calls } = await openStep2({ preview_csv_import: () => preview });
    const input = document.getElementById('csv-file') as HTMLInputElement;
    const file = new File([new Uint8Array([0x61])], 'huge.csv', { type: 'text/csv' });
    Object.defineProperty(file, 'size', { value: 3 * 1024 * 1024 * 1024 });
    file.arrayBuffer = () => Promise.reject(new Error('must not be read'));
    Object.defineProperty(input, 'files', { value: [file], configurable: true });
    await fireEvent.change(input);
    const alert = await screen.findByTestId('error');
    expect(alert.getAttribute('data-kind')).toBe('csv_too_large');
    expect(alert.textContent).toContain('128 MB');
    expect(lastCall(calls, 'preview_csv_import')).toBeUndefined();
  });

  it('reports an all-or-nothing rejection and imports nothing', async () => {
    const { calls } = await openStep2({
      preview_csv_import: () => preview,
      import_csv: () => {
        throw uiError('csv_rejected', 'admin', { errors: '2' });
      },
    });
    await chooseFile();
    await screen.findByTestId('import-preview');
    await fireEvent.click(screen.getByTestId('import-confirm'));
    const alert = await screen.findByTestId('error');
    expect(alert.getAttribute('data-kind')).toBe('csv_rejected');
    expect(alert.textContent).toContain('Nothing was imported: 2 rows have errors');
    expect(lastCall(calls, 'import_csv')?.options).toEqual({ headers: { 'x-import-mode': 'all_or_nothing' } });
    expect(screen.queryByTestId('import-result')).toBeNull();
    expect(screen.getByTestId('import-preview')).toBeTruthy();
  });

  it('exports through export_csv and shows the path', async () => {
    await openStep2({ export_csv: () => '/home/admin/accounts.csv' });
    await fireEvent.click(screen.getByTestId('export-csv'));
    await waitFor(() => expect(document.body.textContent).toContain('Exported to /home/admin/accounts.csv.'));
  });
});

describe('step 2: account statuses', () => {
  it('shows verified, error (with the reason) and needs_reauth, and follows connection checks', async () => {
    const details: Record<number, string> = { 4: 'mail_smtp_auth_disabled', 3: 'reauthorization_required' };
    let checked = false;
    const { calls } = await openStep2({
      list_accounts: (args) => {
        const page = listAccounts(args);
        const rows = page.rows.map((r, i) => {
          const n = page.offset + i;
          if (checked && n === 1) return withStatus(r, 'verified');
          return details[n] ? { ...r, statusDetail: details[n] } : r;
        });
        return { ...page, rows };
      },
    });
    const row = (n: number) => screen.getAllByTestId('account-row').find((r) => r.getAttribute('data-address') === ROWS[n].address);
    const badge = (n: number) => within(row(n) as HTMLElement).getByTestId('account-status');
    await waitFor(() => expect(row(4)).toBeTruthy());
    expect(badge(2).getAttribute('data-status')).toBe('verified');
    expect(badge(2).hasAttribute('title')).toBe(false);
    expect(badge(4).getAttribute('data-status')).toBe('error');
    expect(badge(4).getAttribute('title')).toBe('Authenticated SMTP is turned off (an Exchange Online setting)');
    expect(badge(4).textContent).toContain('Error: Authenticated SMTP is turned off');
    expect(badge(3).getAttribute('data-status')).toBe('needs_reauth');
    expect(badge(3).getAttribute('title')).toBe(
      'The saved sign-in has expired or was revoked (for example after a password change).',
    );
    setLang('ja');
    await waitFor(() => expect(badge(4).getAttribute('title')).toBe('認証済み SMTP が無効です (Exchange Online の設定)'));
    expect(badge(2).textContent).toContain('接続確認済み');

    // A check ends (here: after user00001 signed in on this computer): the list is read again.
    const before = calls.filter((c) => c.cmd === 'list_accounts').length;
    checked = true;
    await emit('exo://account-checked', checkReport(ROWS[1]));
    await waitFor(() => expect(badge(1).getAttribute('data-status')).toBe('verified'));
    expect(calls.filter((c) => c.cmd === 'list_accounts').length).toBeGreaterThan(before);
  });
});

describe('step 2: invitations', () => {
  const links = (ids: number[] | null) => (ids ? ROWS.filter((r) => ids.includes(r.id)) : ROWS).map(invitationLink);
  const invitations: Handlers = {
    create_invitations: (args) => links((args as { accountIds: number[] | null }).accountIds),
  };

  it('makes one account’s invitation from its row, with the link to copy', async () => {
    const copied: unknown[] = [];
    const { calls } = await openStep2({
      ...invitations,
      'plugin:clipboard-manager|write_text': (args) => {
        copied.push(args);
        return null;
      },
    });
    const row = ROWS[2];
    const button = screen.getAllByTestId('invite-account').find((b) => b.getAttribute('data-address') === row.address);
    expect(button?.getAttribute('aria-label')).toBe(`Create an invitation for ${row.address}`);
    await fireEvent.click(button as HTMLElement);

    const dialog = await screen.findByTestId('invite-dialog');
    expect(lastCall(calls, 'create_invitations')?.args).toEqual({ accountIds: [row.id] });
    expect(within(dialog).getByRole('heading').textContent).toBe(`Invitation for ${row.address}`);
    expect(dialog.textContent).toContain('no password, no token, nothing secret');
    expect(dialog.textContent).toContain('they open it with exo-setup on their own computer');
    const field = (await within(dialog).findByTestId('invite-link')) as HTMLTextAreaElement;
    expect(field.getAttribute('data-address')).toBe(row.address);
    expect(field.readOnly).toBe(true);
    expect(field.value).toBe(invitationLink(row).link);
    expect(within(dialog).queryByTestId('invite-copy-all')).toBeNull();

    await fireEvent.click(within(dialog).getByTestId('invite-copy'));
    await waitFor(() => expect(copied).toEqual([{ text: invitationLink(row).link }]));
    await waitFor(() => expect(within(dialog).getByTestId('invite-copy').textContent).toContain('✓'));

    await fireEvent.keyDown(dialog, { key: 'Escape' });
    expect(screen.queryByTestId('invite-dialog')).toBeNull();
  });

  it('makes every account’s invitation from the toolbar: some links shown, all copied', async () => {
    const copied: string[] = [];
    const { calls } = await openStep2({
      ...invitations,
      'plugin:clipboard-manager|write_text': (args) => {
        copied.push((args as { text: string }).text);
        return null;
      },
    });
    await fireEvent.click(screen.getByTestId('invite-all'));
    const dialog = await screen.findByTestId('invite-dialog');
    expect(lastCall(calls, 'create_invitations')?.args).toEqual({ accountIds: null });
    const fields = await within(dialog).findAllByTestId('invite-link');
    expect(fields).toHaveLength(100);
    expect(fields.map((f) => f.getAttribute('data-address'))).toEqual(ROWS.slice(0, 100).map((r) => r.address));
    expect(dialog.textContent).toContain('10000 invitations');
    expect(within(dialog).getByTestId('invite-more').textContent).toContain('9900 more are not shown here');

    await fireEvent.click(within(dialog).getByTestId('invite-copy-all'));
    await waitFor(() => expect(copied).toHaveLength(1));
    const lines = copied[0].split('\n');
    expect(lines).toHaveLength(10_000);
    expect(lines[9_999]).toBe(`${ROWS[9_999].address}: ${invitationLink(ROWS[9_999]).link}`);

    await fireEvent.click(within(dialog).getByTestId('invite-close'));
    expect(screen.queryByTestId('invite-dialog')).toBeNull();
  });

  it('saves invitation files and a mail-merge CSV through Rust’s pickers', async () => {
    let csv: unknown = { count: 1, path: '/home/admin/invitations.csv' };
    const { calls } = await openStep2({
      ...invitations,
      save_invitation_files: () => ({ count: 1, path: '/home/admin/invitations' }),
      save_invitations_csv: () => csv,
    });
    const row = ROWS[0];
    await fireEvent.click(screen.getAllByTestId('invite-account')[0]);
    const dialog = await screen.findByTestId('invite-dialog');
    await within(dialog).findByTestId('invite-link');

    await fireEvent.click(within(dialog).getByTestId('invite-save-files'));
    await waitFor(() => expect(within(dialog).getByTestId('invite-saved').textContent).toContain('Saved 1 invitation files in /home/admin/invitations'));
    expect(lastCall(calls, 'save_invitation_files')?.args).toEqual({ accountIds: [row.id] });

    await fireEvent.click(within(dialog).getByTestId('invite-save-csv'));
    await waitFor(() => expect(within(dialog).getByTestId('invite-saved').textContent).toContain('Saved 1 invitations to /home/admin/invitations.csv'));
    expect(lastCall(calls, 'save_invitations_csv')?.args).toEqual({ accountIds: [row.id] });

    // A cancelled picker: nothing was saved, nothing is claimed.
    csv = null;
    await fireEvent.click(within(dialog).getByTestId('invite-save-csv'));
    await waitFor(() => expect(calls.filter((c) => c.cmd === 'save_invitations_csv')).toHaveLength(2));
    await waitFor(() => expect(within(dialog).getByTestId('invite-saved').textContent?.trim()).toBe(''));
  });

  it('explains a file that could not be written', async () => {
    await openStep2({
      ...invitations,
      save_invitation_files: () => {
        throw uiError('export_write', 'user', { path: '/mnt/ro/a.exoinvite', reason: 'Read-only file system' });
      },
    });
    await fireEvent.click(screen.getAllByTestId('invite-account')[0]);
    const dialog = await screen.findByTestId('invite-dialog');
    await within(dialog).findByTestId('invite-link');
    await fireEvent.click(within(dialog).getByTestId('invite-save-files'));
    const error = await within(dialog).findByTestId('error');
    expect(error.getAttribute('data-kind')).toBe('export_write');
    expect(error.textContent).toContain('The file could not be written: Read-only file system.');
    expect(within(dialog).getByTestId('invite-saved').textContent?.trim()).toBe('');
  });

  it('shows why invitations could not be made', async () => {
    await openStep2({
      create_invitations: () => {
        throw uiError('org_not_configured', 'admin');
      },
    });
    await fireEvent.click(screen.getByTestId('invite-all'));
    const dialog = await screen.findByTestId('invite-dialog');
    const error = await within(dialog).findByTestId('error');
    expect(error.getAttribute('data-kind')).toBe('org_not_configured');
    expect((within(dialog).getByTestId('invite-save-files') as HTMLButtonElement).disabled).toBe(true);
  });

  it('says it in Japanese', async () => {
    await openStep2(invitations);
    await setLang('ja');
    await fireEvent.click(screen.getByTestId('invite-all'));
    const dialog = await screen.findByTestId('invite-dialog');
    expect(within(dialog).getByRole('heading').textContent).toBe('全アカウントの招待');
    expect(dialog.textContent).toContain('パスワードやトークンなど秘密の情報は含まれません');
    expect(screen.getByTestId('invite-all').textContent).toContain('全アカウントの招待');
    await setLang('en');
  });
});
