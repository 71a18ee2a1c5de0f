import { emit } from '@tauri-apps/api/event';
import { describe, expect, it, vi } from 'vitest';
import type { FlowFinished } from '../bindings/FlowFinished';
import { backend, checkReport, invitationPreview, lastCall, noPolicy, uiError } from '../test/fixtures';
import type { MailCheckReport } from '../bindings/MailCheckReport';
import type { NeedsReauth } from '../bindings/NeedsReauth';
import { api } from './api';
import { AccountPager } from './accounts/pager.svelte';
import { toUiError } from './errors/uiError';
import type { AccountPage } from '../bindings/AccountPage';

describe('api', () => {
  it('passes UiErrors from Rust through unchanged', async () => {
    const error = { kind: 'tenant_required', actor: 'admin', message: 'Enter the tenant', detail: {} };
    backend({
      save_exchange_online: () => {
        throw error;
      },
    });
    await expect(
      api.saveExchangeOnline({ organizationName: '', tenant: '', clientId: '', authority: '', redirectMode: 'deep_link' }),
    ).rejects.toEqual(error);
  });

  it('normalizes strings and other rejections into kind "unexpected"', async () => {
    backend({
      app_info: () => {
        throw 'command app_info not found';
      },
    });
    await expect(api.appInfo()).rejects.toMatchObject({
      kind: 'unexpected',
      actor: 'support',
      message: 'command app_info not found',
    });
    expect(toUiError(new Error('x'))).toMatchObject({ kind: 'unexpected', message: 'x' });
    expect(toUiError(undefined)).toMatchObject({ kind: 'unexpected' });
    expect(toUiError({ kind: 'storage', actor: 'nobody', detail: { reason: 5 } })).toEqual({
      kind: 'storage',
      actor: 'support',
      message: '',
      detail: { reason: '5' },
    });
  });

  it('sends ids as numbers even if the bindings say bigint', async () => {
    const calls = backend({ delete_account: () => null, set_server_enabled: () => null });
    await api.deleteAccount(5n);
    await api.setServerEnabled(1n, true);
    expect(lastCall(calls, 'delete_account')?.args).toEqual({ id: 5 });
    expect(lastCall(calls, 'set_server_enabled')?.args).toEqual({ serverId: 1, enabled: true });
  });

  it('delivers flow-finished events with their error normalized, until unlistened', async () => {
    const calls = backend({});
    const seen: FlowFinished[] = [];
    const unlisten = await api.onFlowFinished((f) => seen.push(f));
    const raw = { kind: 'wrong_account', actor: 'user', message: 'x', detail: { expected: 'a@contoso.com', n: 5 } };
    await emit('exo://flow-finished', { flowId: 'f1', purpose: 'sign_in', result: { outcome: 'failed', error: raw } });
    expect(seen).toEqual([
      {
        flowId: 'f1',
        purpose: 'sign_in',
        result: { outcome: 'failed', error: { kind: 'wrong_account', actor: 'user', message: 'x', detail: { expected: 'a@contoso.com', n: '5' } } },
      },
    ]);
    unlisten();
    await emit('exo://flow-finished', { flowId: 'f2', purpose: null, result: { outcome: 'failed', error: raw } });
    expect(seen).toHaveLength(1);
    expect(lastCall(calls, 'plugin:event|listen')?.args).toMatchObject({ event: 'exo://flow-finished' });
  });

  it('passes the flow commands their arguments in camelCase', async () => {
    const calls = backend({ cancel_flow: () => null, begin_sign_in: () => null, sign_out: () => null });
    await api.cancelFlow('f1');
    await api.beginSignIn('a@contoso.com');
    await api.signOut('a@contoso.com');
    expect(lastCall(calls, 'cancel_flow')?.args).toEqual({ flowId: 'f1' });
    expect(lastCall(calls, 'begin_sign_in')?.args).toEqual({ address: 'a@contoso.com' });
    expect(lastCall(calls, 'sign_out')?.args).toEqual({ address: 'a@contoso.com' });
  });
});

describe('AccountPager', () => {
  it('drops the answer to a superseded search', async () => {
    const pending: { search: string; resolve: (p: AccountPage) => void }[] = [];
    const pager = new AccountPager(
      (query) => new Promise((resolve) => pending.push({ search: query.search, resolve })),
      10,
    );
    pager.reset('old');
    pager.reset('new');
    const page = (total: number): AccountPage => ({ total, offset: 0, rows: [] });
    pending[1].resolve(page(3));
    await Promise.resolve();
    await Promise.resolve();
    pending[0].resolve(page(999));
    await new Promise((r) => setTimeout(r, 0));
    expect(pager.total).toBe(3);
    expect(pager.search).toBe('new');
  });

  it('requests each missing page once', () => {
    const offsets: number[] = [];
    const pager = new AccountPager((query) => {
      offsets.push(query.offset);
      return new Promise(() => undefined);
    }, 100);
    pager.reset('');
    pager.ensure(0, 250);
    pager.ensure(50, 260);
    expect(offsets).toEqual([0, 100, 200]);
  });
});

const notification = vi.hoisted(() => ({
  isPermissionGranted: vi.fn<() => Promise<boolean>>(),
  requestPermission: vi.fn<() => Promise<string>>(),
  sendNotification: vi.fn<(options: { title: string; body: string }) => void>(),
}));
vi.mock('@tauri-apps/plugin-notification', () => notification);

describe('api: connection check and notices', () => {
  it('checks an account and normalizes each protocol error', async () => {
    const raw = checkReport('taro@contoso.com', { failures: { smtp: uiError('mail_timeout', 'support') } });
    (raw.checks[1].error as { actor: string }).actor = 'someone';
    const calls = backend({ check_account: () => raw });
    const report = await api.checkAccount('taro@contoso.com');
    expect(lastCall(calls, 'check_account')?.args).toEqual({ address: 'taro@contoso.com' });
    expect(report.verified).toBe(false);
    expect(report.checks[0].error).toBeNull();
    expect(report.checks[1].error?.actor).toBe('support');
    expect(report.checks[1].error?.detail.server).toBe('smtp.office365.com:587');
  });

  it('delivers exo://account-checked and exo://needs-reauth', async () => {
    backend({});
    const reports: MailCheckReport[] = [];
    const notices: NeedsReauth[] = [];
    const stop1 = await api.onAccountChecked((r) => reports.push(r));
    const stop2 = await api.onNeedsReauth((n) => notices.push(n));
    await emit('exo://account-checked', checkReport('a@contoso.com'));
    await emit('exo://needs-reauth', { address: 'a@contoso.com', error: { kind: 'reauthorization_required', actor: 'user', detail: { code: 50173 } } });
    expect(reports.map((r) => r.address)).toEqual(['a@contoso.com']);
    expect(notices).toEqual([
      { address: 'a@contoso.com', error: { kind: 'reauthorization_required', actor: 'user', message: '', detail: { code: '50173' } } },
    ]);
    stop1();
    stop2();
    await emit('exo://account-checked', checkReport('b@contoso.com'));
    expect(reports).toHaveLength(1);
  });

  it('asks for the notification permission only when it is not granted yet', async () => {
    notification.isPermissionGranted.mockResolvedValue(true);
    await expect(api.notify('T', 'B')).resolves.toBe(true);
    expect(notification.requestPermission).not.toHaveBeenCalled();
    expect(notification.sendNotification).toHaveBeenCalledWith({ title: 'T', body: 'B' });

    notification.sendNotification.mockClear();
    notification.isPermissionGranted.mockResolvedValue(false);
    notification.requestPermission.mockResolvedValue('granted');
    await expect(api.notify('T2', 'B2')).resolves.toBe(true);
    expect(notification.sendNotification).toHaveBeenCalledWith({ title: 'T2', body: 'B2' });

    notification.sendNotification.mockClear();
    notification.requestPermission.mockResolvedValue('denied');
    await expect(api.notify('T3', 'B3')).resolves.toBe(false);
    expect(notification.sendNotification).not.toHaveBeenCalled();

    notification.isPermissionGranted.mockRejectedValue('notification plugin missing');
    await expect(api.notify('T4', 'B4')).rejects.toMatchObject({ kind: 'unexpected', message: 'notification plugin missing' });
  });

  it('sends the invitation commands with the contract’s arguments', async () => {
    const preview = invitationPreview();
    const calls = backend({
      create_invitations: () => [],
      save_invitation_files: () => null,
      save_invitations_csv: () => ({ count: 2, path: '/tmp/i.csv' }),
      open_invitation_text: () => preview,
      open_invitation_file: () => null,
      accept_invitation: () => ({ account: null, org: null }),
      discard_invitation: () => null,
      managed_policy: () => noPolicy(),
    });
    await api.createInvitations([3n, 4]);
    expect(lastCall(calls, 'create_invitations')?.args).toEqual({ accountIds: [3, 4] });
    await api.createInvitations(null);
    expect(lastCall(calls, 'create_invitations')?.args).toEqual({ accountIds: null });
    await expect(api.saveInvitationFiles(null)).resolves.toBeNull();
    expect(lastCall(calls, 'save_invitation_files')?.args).toEqual({ accountIds: null });
    await expect(api.saveInvitationsCsv([7])).resolves.toEqual({ count: 2, path: '/tmp/i.csv' });
    expect(lastCall(calls, 'save_invitations_csv')?.args).toEqual({ accountIds: [7] });
    await expect(api.openInvitationText('link')).resolves.toEqual(preview);
    expect(lastCall(calls, 'open_invitation_text')?.args).toEqual({ text: 'link' });
    await expect(api.openInvitationFile()).resolves.toBeNull();
    await api.acceptInvitation('inv-1', true);
    expect(lastCall(calls, 'accept_invitation')?.args).toEqual({ invitationId: 'inv-1', replaceExisting: true });
    await api.discardInvitation('inv-1');
    expect(lastCall(calls, 'discard_invitation')?.args).toEqual({ invitationId: 'inv-1' });
    await expect(api.managedPolicy()).resolves.toEqual(noPolicy());
  });

  it('delivers opened invitations with their error normalized, also the one kept for a cold start', async () => {
    const raw = { kind: 'invite_malformed', actor: 'user', message: 'x', detail: { reason: 'incomplete', n: 1 } };
    let kept: unknown = { outcome: 'failed', error: raw };
    backend({ last_opened_invitation: () => kept });
    const normalized = { outcome: 'failed', error: { ...raw, detail: { reason: 'incomplete', n: '1' } } };
    await expect(api.lastOpenedInvitation()).resolves.toEqual(normalized);
    kept = null;
    await expect(api.lastOpenedInvitation()).resolves.toBeNull();

    const seen: unknown[] = [];
    const stop = await api.onInvitationOpened((o) => seen.push(o));
    await emit('exo://invitation-opened', { outcome: 'failed', error: raw });
    await emit('exo://invitation-opened', { outcome: 'preview', preview: invitationPreview() });
    expect(seen).toEqual([normalized, { outcome: 'preview', preview: invitationPreview() }]);
    stop();
  });
});
