import { emit } from '@tauri-apps/api/event';
import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { AccountQuery } from '../../bindings/AccountQuery';
import type { NeedsReauth } from '../../bindings/NeedsReauth';
import { accountRow, overview, uiError } from '../../test/fixtures';
import { renderApp } from '../../test/render';
import { sameAddress } from '../address';
import { reauth } from './reauth.svelte';

const notification = vi.hoisted(() => ({
  isPermissionGranted: vi.fn<() => Promise<boolean>>(),
  requestPermission: vi.fn<() => Promise<string>>(),
  sendNotification: vi.fn<(options: { title: string; body: string }) => void>(),
}));
vi.mock('@tauri-apps/plugin-notification', () => notification);

const ROWS = Array.from({ length: 10 }, (_, i) => accountRow(i));
const TARO = ROWS[3]; // needs_reauth

function listAccounts(args: unknown) {
  const { query } = args as { query: AccountQuery };
  const hits = ROWS.filter((r) => r.address.includes(query.search.toLowerCase()));
  return { total: hits.length, offset: query.offset, rows: hits.slice(query.offset, query.offset + query.limit) };
}

function findAccount(args: unknown) {
  const { address } = args as { address: string };
  return ROWS.find((r) => sameAddress(r.address, address)) ?? null;
}

function notice(address = TARO.address): NeedsReauth {
  return { address, error: uiError('reauthorization_required', 'user', { code: '700082' }) };
}

async function open(opts: { locale?: string } = {}) {
  const rendered = await renderApp({
    locale: opts.locale,
    overview: { ...overview({ enabled: true, steps: ['done', 'done', 'done', 'todo'] }), accountCount: ROWS.length },
    handlers: { list_accounts: listAccounts, find_account: findAccount },
  });
  // The app listens once the first frame is painted.
  await waitFor(() => expect(rendered.calls.some((c) => c.cmd === 'plugin:event|listen')).toBe(true));
  return rendered;
}

async function announce(n: NeedsReauth) {
  await emit('exo://needs-reauth', n);
  return screen.findByTestId('reauth-banner');
}

beforeEach(() => {
  reauth.notices = [];
  reauth.open = null;
  notification.isPermissionGranted.mockResolvedValue(true);
  notification.requestPermission.mockResolvedValue('granted');
});

describe('sign in again (exo://needs-reauth)', () => {
  it('shows a banner on any screen and sends an OS notification', async () => {
    await open();
    const banner = await announce(notice());
    expect(banner.getAttribute('data-address')).toBe(TARO.address);
    expect(banner.textContent).toContain(
      `${TARO.address} must sign in again — The saved sign-in has expired or was revoked (for example after a password change). Sign in again.`,
    );
    expect(within(banner).getByTestId('actor-badge').getAttribute('data-actor')).toBe('user');
    await waitFor(() => expect(notification.sendNotification).toHaveBeenCalledTimes(1));
    expect(notification.sendNotification).toHaveBeenCalledWith({
      title: 'exo-setup: sign in again',
      body: `${TARO.address} must sign in again — The saved sign-in has expired or was revoked (for example after a password change).`,
    });
    expect(notification.requestPermission).not.toHaveBeenCalled();
  });

  it('asks for the permission first, and sends nothing when it is refused', async () => {
    notification.isPermissionGranted.mockResolvedValue(false);
    notification.requestPermission.mockResolvedValue('denied');
    await open();
    await announce(notice());
    await waitFor(() => expect(notification.requestPermission).toHaveBeenCalledTimes(1));
    expect(notification.sendNotification).not.toHaveBeenCalled();
    // The banner is there all the same.
    expect(screen.getByTestId('reauth-banner')).toBeTruthy();
  });

  it('speaks Japanese in the banner and the notification when the app does', async () => {
    notification.isPermissionGranted.mockResolvedValue(false);
    await open({ locale: 'ja-JP' });
    const banner = await announce(notice());
    expect(banner.textContent).toContain(`${TARO.address} はもう一度サインインする必要があります — 保存済みのサインインの有効期限が切れたか`);
    await waitFor(() => expect(notification.sendNotification).toHaveBeenCalledTimes(1));
    const sent = notification.sendNotification.mock.calls[0][0];
    expect(sent.title).toBe('exo-setup: もう一度サインインしてください');
    expect(sent.body).toBe(
      `${TARO.address} はもう一度サインインする必要があります — 保存済みのサインインの有効期限が切れたか、取り消されました (パスワードの変更後など)。`,
    );
    expect(within(banner).getByTestId('reauth-open').textContent?.trim()).toBe('サインインし直す');
  });

  it('opens step 4 with the mailbox chosen, from the start screen or from the administrator steps', async () => {
    await open();
    await fireEvent.click(screen.getByTestId('start-admin'));
    expect(screen.getByTestId('nav-step-1').getAttribute('aria-current')).toBe('step');
    const banner = await announce(notice());
    await fireEvent.click(within(banner).getByTestId('reauth-open'));
    await waitFor(() => expect(screen.getByTestId('step4-account').getAttribute('data-address')).toBe(TARO.address));
    expect(screen.getByTestId('nav-step-4').getAttribute('aria-current')).toBe('step');
    expect((screen.getByTestId('step4-address') as HTMLInputElement).value).toBe(TARO.address);
    expect(within(screen.getByTestId('step4-account')).getByTestId('account-status').getAttribute('data-status')).toBe(
      'needs_reauth',
    );
    expect(screen.getByTestId('step4-signin').textContent?.trim()).toBe('Sign in again');
    expect(screen.queryByTestId('reauth-banner')).toBeNull();

    // Step 4 already open, another mailbox: it is chosen too.
    const other = ROWS[8];
    await fireEvent.click(within(await announce(notice(other.address))).getByTestId('reauth-open'));
    await waitFor(() => expect(screen.getByTestId('step4-account').getAttribute('data-address')).toBe(other.address));
  });

  it('keeps one banner per mailbox, and each can be dismissed', async () => {
    await open();
    await announce(notice());
    await emit('exo://needs-reauth', notice());
    await emit('exo://needs-reauth', notice(ROWS[8].address));
    await waitFor(() => expect(screen.getAllByTestId('reauth-banner')).toHaveLength(2));
    await fireEvent.click(within(screen.getAllByTestId('reauth-banner')[0]).getByTestId('reauth-dismiss'));
    const left = screen.getAllByTestId('reauth-banner');
    expect(left).toHaveLength(1);
    expect(left[0].getAttribute('data-address')).toBe(ROWS[8].address);
  });
});
