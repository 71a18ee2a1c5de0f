import { emit } from '@tauri-apps/api/event';
import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import type { AccountQuery } from '../../bindings/AccountQuery';
import type { ReadSummary } from '../../bindings/ReadSummary';
import type { RolloutRow } from '../../bindings/RolloutRow';
import type { SendSummary } from '../../bindings/SendSummary';
import {
  accountRow,
  lastCall,
  overview,
  rolloutRow,
  rolloutStatus,
  uiError,
  withStatus,
  type Call,
} from '../../test/fixtures';
import { renderApp, type Handlers } from '../../test/render';
import { setLang } from '../i18n';

/** 12 accounts: 3 verified, 1 signed out, 2 invited, 1 no news, 1 bounced, 1 failed, 3 not invited. */
const ROWS: RolloutRow[] = [
  ...(['verified', 'verified', 'verified', 'signed_out', 'invited', 'invited', 'no_news', 'bounced', 'failed'] as const),
  ...(['registered', 'registered', 'registered'] as const),
].map((state, i) => rolloutRow(i, state));

const ADMIN = withStatus({ ...accountRow(99), address: 'admin@contoso.com' }, 'verified');

function listAccounts(args: unknown) {
  const { query } = args as { query: AccountQuery };
  const rows = query.status === 'verified' ? [ADMIN] : query.status ? [] : [accountRow(0)];
  return { total: rows.length, offset: query.offset, rows };
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

async function openStep2(handlers: Handlers = {}): Promise<{ calls: Call[] }> {
  const rendered = await renderApp({
    overview: overview({ enabled: true }),
    handlers: {
      list_accounts: listAccounts,
      rollout_status: () => rolloutStatus(ROWS, 'admin@contoso.com'),
      rollout_settings: () => ({ sender: 'admin@contoso.com', language: 'ja', unmatchedReceipts: 0, lastReadAt: null }),
      ...handlers,
    },
  });
  await fireEvent.click(screen.getByTestId('start-admin'));
  await fireEvent.click(screen.getByTestId('next-step'));
  await screen.findByTestId('rollout');
  await waitFor(() => expect(within(section()).getAllByTestId('rollout-row').length).toBeGreaterThan(0));
  // The progress listener is registered before anything is sent.
  await waitFor(() =>
    expect(
      rendered.calls.some(
        (c) => c.cmd === 'plugin:event|listen' && (c.args as { event: string }).event === 'exo://rollout-progress',
      ),
    ).toBe(true),
  );
  return rendered;
}

const section = () => screen.getByTestId('rollout');
const rows = () => within(section()).getAllByTestId('rollout-row');
const chip = (state: string) => within(section()).getByTestId(`rollout-filter-${state}`);

describe('step 2: rollout by mail', () => {
  it('counts each state and filters the table by a chip', async () => {
    const { calls } = await openStep2();
    expect(lastCall(calls, 'rollout_status')?.args).toEqual({ noNewsDays: 7 });
    expect(rows()).toHaveLength(12);
    const expected = { verified: 3, signed_out: 1, invited: 2, no_news: 1, bounced: 1, failed: 1, queued: 0, registered: 3 };
    for (const [state, n] of Object.entries(expected)) expect(chip(state).getAttribute('data-count')).toBe(String(n));
    // No run was interrupted: no "unsure" chip.
    expect(within(section()).queryByTestId('rollout-filter-unsure')).toBeNull();
    expect(within(section()).getByTestId('rollout-send').textContent).toContain('not invited (3)');

    await fireEvent.click(chip('bounced'));
    expect(chip('bounced').getAttribute('aria-pressed')).toBe('true');
    expect(rows().map((r) => r.getAttribute('data-state'))).toEqual(['bounced']);
    expect(within(rows()[0]).getByTestId('rollout-reply').textContent).toContain('RESOLVER.ADR.RecipientNotFound');
    expect(within(rows()[0]).getByTestId('rollout-resend')).toBeTruthy();

    await fireEvent.click(chip('verified'));
    expect(rows().map((r) => r.getAttribute('data-state'))).toEqual(['verified', 'verified', 'verified']);
    expect(rows()[0].textContent).toContain('imap smtp');
    expect(within(rows()[0]).queryByTestId('rollout-resend')).toBeNull();

    await fireEvent.click(chip('all'));
    expect(rows()).toHaveLength(12);
    // The failed row shows the server's refusal.
    const failed = rows().find((r) => r.getAttribute('data-state') === 'failed')!;
    expect(within(failed).getByTestId('rollout-reply').textContent).toContain('550 5.7.708');
  });

  it('sends to those not invited with sent, remaining and time left, and cancels', async () => {
    const send = deferred<SendSummary>();
    const { calls } = await openStep2({
      queue_invitations: () => ({ added: 3, alreadyPending: 0, alreadyInvited: 9 }),
      send_invitations: () => send.promise,
      cancel_sending: () => null,
    });
    const statusReads = calls.filter((c) => c.cmd === 'rollout_status').length;
    await fireEvent.click(within(section()).getByTestId('rollout-send'));
    const progress = await within(section()).findByTestId('rollout-progress');
    expect(lastCall(calls, 'queue_invitations')?.args).toEqual({ recipients: { type: 'notInvited' }, resend: false });
    expect((within(section()).getByTestId('rollout-send') as HTMLButtonElement).disabled).toBe(true);

    await emit('exo://rollout-progress', { sent: 1, deferred: 0, failed: 0, remaining: 2, etaSecs: 150 });
    await waitFor(() => expect(progress.getAttribute('data-sent')).toBe('1'));
    const text = within(progress).getByTestId('rollout-progress-text').textContent ?? '';
    expect(text).toContain('Sent 1, 2 to go.');
    expect(text).toContain('About 3 min left');
    expect(progress.querySelector('progress')?.getAttribute('max')).toBe('3');

    await fireEvent.click(within(progress).getByTestId('rollout-cancel'));
    await waitFor(() => expect(lastCall(calls, 'cancel_sending')).toBeTruthy());
    expect((within(progress).getByTestId('rollout-cancel') as HTMLButtonElement).disabled).toBe(true);
    // Rust stops after the mail under way and resolves with what was done.
    send.resolve({ sent: 1, deferred: 0, failed: 0, remaining: 2, interrupted: 0, cancelled: true });
    const summary = await within(section()).findByTestId('rollout-summary');
    expect(within(section()).queryByTestId('rollout-progress')).toBeNull();
    expect(summary.getAttribute('data-cancelled')).toBe('true');
    expect(summary.textContent).toContain('Sending was cancelled');
    expect(summary.textContent).toContain('Sent 1; deferred 0');
    expect(summary.textContent).toContain('still in the queue 2');
    expect(summary.textContent).toContain('9 invited before');
    // The status is read again after the run.
    await waitFor(() => expect(calls.filter((c) => c.cmd === 'rollout_status').length).toBeGreaterThan(statusReads));
    expect((within(section()).getByTestId('rollout-send') as HTMLButtonElement).disabled).toBe(false);
  });

  it('resends to a failed row and reminds after the chosen days', async () => {
    const summary: SendSummary = { sent: 1, deferred: 0, failed: 0, remaining: 0, interrupted: 0, cancelled: false };
    const { calls } = await openStep2({
      queue_invitations: () => ({ added: 1, alreadyPending: 0, alreadyInvited: 0 }),
      queue_reminders: () => ({ added: 1, alreadyPending: 0, alreadyInvited: 0 }),
      send_invitations: () => summary,
    });
    await fireEvent.click(chip('failed'));
    await fireEvent.click(within(rows()[0]).getByTestId('rollout-resend'));
    await within(section()).findByTestId('rollout-summary');
    expect(lastCall(calls, 'queue_invitations')?.args).toEqual({
      recipients: { type: 'accounts', value: [ROWS.find((r) => r.state === 'failed')!.accountId] },
      resend: true,
    });

    const days = within(section()).getByTestId('rollout-remind-days') as HTMLInputElement;
    await fireEvent.input(days, { target: { value: '14' } });
    await fireEvent.click(within(section()).getByTestId('rollout-remind'));
    await waitFor(() => expect(lastCall(calls, 'queue_reminders')?.args).toEqual({ afterDays: 14 }));
    await waitFor(() => expect(calls.filter((c) => c.cmd === 'send_invitations')).toHaveLength(2));
  });

  it('shows why the invitations cannot be sent, with the error kind', async () => {
    const { calls } = await openStep2({
      queue_invitations: () => {
        throw uiError('rollout_sender_not_signed_in', 'admin', { address: 'admin@contoso.com' });
      },
    });
    await fireEvent.click(within(section()).getByTestId('rollout-send'));
    const error = await within(section()).findByTestId('error');
    expect(error.getAttribute('data-kind')).toBe('rollout_sender_not_signed_in');
    expect(error.textContent).toContain('admin@contoso.com cannot send the invitations');
    expect(calls.some((c) => c.cmd === 'send_invitations')).toBe(false);
    expect(within(section()).queryByTestId('rollout-progress')).toBeNull();
  });

  it('says when nothing is left to send, in Japanese', async () => {
    await openStep2({
      queue_invitations: () => ({ added: 0, alreadyPending: 0, alreadyInvited: 3 }),
      send_invitations: () => {
        throw uiError('rollout_nothing_to_send', 'admin');
      },
    });
    await setLang('ja');
    await fireEvent.click(within(section()).getByTestId('rollout-send'));
    const error = await within(section()).findByTestId('error');
    expect(error.getAttribute('data-kind')).toBe('rollout_nothing_to_send');
    expect(error.textContent).toContain('送信するものがありません');
    expect(chip('registered').textContent).toContain('未招待');
    await setLang('en');
  });

  it('chooses the sender among the signed-in mailboxes and the mail language', async () => {
    const { calls } = await openStep2({
      rollout_settings: () => null,
      set_rollout_sender: (args) => {
        const { address, language } = args as { address: string; language: 'ja' };
        return { sender: address, language, unmatchedReceipts: 0, lastReadAt: null };
      },
    });
    const address = within(section()).getByTestId('rollout-sender-address') as HTMLSelectElement;
    await waitFor(() => expect([...address.options].map((o) => o.value)).toContain('admin@contoso.com'));
    // Only mailboxes with a sign-in are offered.
    expect([...address.options].map((o) => o.value)).not.toContain(accountRow(0).address);
    address.value = 'admin@contoso.com';
    await fireEvent.change(address);
    const language = within(section()).getByTestId('rollout-language') as HTMLSelectElement;
    // The mails' language starts as the UI's.
    expect(language.value).toBe('en');
    language.value = 'ja';
    await fireEvent.change(language);
    await fireEvent.click(within(section()).getByTestId('rollout-sender-save'));
    await waitFor(() =>
      expect(lastCall(calls, 'set_rollout_sender')?.args).toEqual({ address: 'admin@contoso.com', language: 'ja' }),
    );
    await waitFor(() => expect(within(section()).getByTestId('rollout-sender').getAttribute('data-sender')).toBe('admin@contoso.com'));
  });

  it('reads the receipts, says what came back and reads the status again', async () => {
    const read = deferred<ReadSummary>();
    const { calls } = await openStep2({ read_receipts: () => read.promise });
    const statusReads = calls.filter((c) => c.cmd === 'rollout_status').length;
    await fireEvent.click(within(section()).getByTestId('rollout-read'));
    await waitFor(() => expect(within(section()).getByTestId('rollout-read').textContent).toContain('Reading the receipts'));
    expect((within(section()).getByTestId('rollout-send') as HTMLButtonElement).disabled).toBe(true);
    read.resolve({ read: 5, verified: 3, signedOut: 1, bounced: 1, unmatched: 0, other: 2, selfRegistered: 0 });
    const summary = await within(section()).findByTestId('rollout-read-summary');
    expect(summary.textContent).toContain('Read 5 mail(s): 3 verified, 1 signed out, 1 bounced, 0 matching no invitation');
    await waitFor(() => expect(calls.filter((c) => c.cmd === 'rollout_status').length).toBeGreaterThan(statusReads));
    expect((within(section()).getByTestId('rollout-send') as HTMLButtonElement).disabled).toBe(false);
  });

  it('reloads the counts, the table and the time of the last check when the timer changed something', async () => {
    // Before the round: none verified, never checked. After it: one receipt read, one deferred mail sent.
    const before: RolloutRow[] = ROWS.map((r) => (r.state === 'verified' ? { ...r, state: 'invited' } : r));
    let status = { ...rolloutStatus(before, 'admin@contoso.com'), lastReadAt: null as string | null };
    const { calls } = await openStep2({ rollout_status: () => status });
    expect(chip('verified').getAttribute('data-count')).toBe('0');
    expect(within(section()).queryByTestId('rollout-last-read')).toBeNull();
    const statusReads = calls.filter((c) => c.cmd === 'rollout_status').length;

    status = { ...rolloutStatus(ROWS, 'admin@contoso.com'), lastReadAt: '2024-06-03T01:00:00Z' };
    await emit('exo://rollout-updated', {
      retried: { sent: 1, deferred: 0, failed: 0, remaining: 0, interrupted: 0, cancelled: false },
      read: { read: 3, verified: 3, signedOut: 0, bounced: 0, unmatched: 0, other: 0 },
    });
    await waitFor(() => expect(chip('verified').getAttribute('data-count')).toBe('3'));
    expect(calls.filter((c) => c.cmd === 'rollout_status').length).toBeGreaterThan(statusReads);
    expect(rows().filter((r) => r.getAttribute('data-state') === 'verified')).toHaveLength(3);
    const lastRead = within(section()).getByTestId('rollout-last-read');
    expect(lastRead.textContent).toContain('Last checked for receipts:');
    expect(lastRead.textContent).toContain('2024');
    // Nothing was started by the window: no send run, no read, no error.
    expect(calls.some((c) => c.cmd === 'send_invitations' || c.cmd === 'read_receipts')).toBe(false);
    expect(within(section()).queryByTestId('error')).toBeNull();

    await setLang('ja');
    await waitFor(() => expect(within(section()).getByTestId('rollout-last-read').textContent).toContain('受領通知の最終確認'));
    await setLang('en');
  });

  it('exports the status CSV through the save dialog of Rust', async () => {
    const { calls } = await openStep2({ export_rollout_csv: () => '/home/admin/exo-setup-rollout.csv' });
    await fireEvent.click(within(section()).getByTestId('rollout-export'));
    await waitFor(() =>
      expect(within(section()).getByTestId('rollout-exported').textContent).toContain('/home/admin/exo-setup-rollout.csv'),
    );
    expect(lastCall(calls, 'export_rollout_csv')?.args).toEqual({ noNewsDays: 7 });
  });
});

describe('rollout table labels', () => {
  it('marks a self-registered mailbox and names the sender instead of "Not invited"', async () => {
    await setLang('en');
    const self = { ...rolloutRow(20, 'verified'), address: 'shiro@contoso.com', selfRegistered: true };
    const sender = { ...rolloutRow(21, 'registered'), address: 'Admin@contoso.com' };
    await openStep2({ rollout_status: () => rolloutStatus([...ROWS, self, sender], 'admin@contoso.com') });
    const rows = within(section()).getAllByTestId('rollout-row');
    const row = (address: string) => rows.find((r) => r.dataset.address === address)!;
    expect(within(row('shiro@contoso.com')).getByTestId('rollout-self-registered').textContent).toBe('Self-registered');
    expect(within(row('user00000@contoso.com')).queryByTestId('rollout-self-registered')).toBeNull();
    const senderState = within(row('Admin@contoso.com')).getByTestId('rollout-state');
    expect(senderState.textContent?.trim()).toBe('Sender (you)');
    // Other accounts not invited keep their label.
    expect(within(row('user00009@contoso.com')).getByTestId('rollout-state').textContent?.trim()).toBe('Not invited');
  });
});

describe('a send run begun before step 2 was drawn again', () => {
  it('shows its progress and its end', async () => {
    await setLang('en');
    await openStep2({ rollout_run: () => ({ sent: 4, deferred: 0, failed: 0, remaining: 6, etaSecs: 12 }) });
    const progress = await within(section()).findByTestId('rollout-progress');
    await waitFor(() => expect(progress.textContent).toContain('4'));
    expect((within(section()).getByTestId('rollout-send') as HTMLButtonElement).disabled).toBe(true);
    // Rust's run ends: the panel gives way to its summary.
    const summary: SendSummary = { sent: 10, deferred: 0, failed: 0, remaining: 0, interrupted: 0, cancelled: false };
    await emit('exo://rollout-updated', { retried: summary, read: null, problem: null });
    await waitFor(() => expect(within(section()).queryByTestId('rollout-progress')).toBeNull());
    expect(within(section()).getByTestId('rollout-summary')).toBeTruthy();
  });
});

describe("the timer's round", () => {
  it('shows what the administrator must act on', async () => {
    await setLang('en');
    await openStep2();
    const problem = uiError('rollout_sender_refused', 'admin', {
      address: 'admin@contoso.com',
      reply: '550 5.7.60 SMTP; Client does not have permissions to send as this sender',
    });
    await emit('exo://rollout-updated', { retried: null, read: null, problem });
    const alert = await within(section()).findByText(/refused to send from admin@contoso.com/);
    expect(alert.textContent).toContain('5.7.60');
  });
});
