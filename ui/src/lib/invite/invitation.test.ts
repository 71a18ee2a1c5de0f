import { emit } from '@tauri-apps/api/event';
import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import type { AccountQuery } from '../../bindings/AccountQuery';
import type { AccountRow } from '../../bindings/AccountRow';
import type { ErrorKind } from '../../bindings/ErrorKind';
import type { InvitationPreview } from '../../bindings/InvitationPreview';
import type { SetupOverview } from '../../bindings/SetupOverview';
import { accountRow, invitationPreview, lastCall, overview, uiError, type Call } from '../../test/fixtures';
import { renderApp, type Handlers } from '../../test/render';
import { sameAddress } from '../address';
import { setLang } from '../i18n';
import { app } from '../app.svelte';
import { invitation } from './invite.svelte';

const LINK = 'dev.exosetup.wizard://invite?v=1&p=eyJhIjoxfQ&c=abc';
const TARO: AccountRow = { ...accountRow(0), address: 'taro@contoso.com', displayName: 'Taro Yamada' };

/** The user's computer: nothing set up before accepting, Taro's mailbox registered after. */
function userComputer(preview: InvitationPreview = invitationPreview(), handlers: Handlers = {}) {
  let accepted = false;
  const before: SetupOverview = overview();
  const after: SetupOverview = { ...overview({ enabled: true, steps: ['done', 'done', 'todo', 'todo'] }), accountCount: 1 };
  const all: Handlers = {
    setup_overview: () => (accepted ? after : before),
    open_invitation_text: () => preview,
    open_invitation_file: () => preview,
    accept_invitation: () => {
      accepted = true;
      return { account: TARO, org: after.org };
    },
    discard_invitation: () => null,
    list_accounts: (args) => {
      const { query } = args as { query: AccountQuery };
      const rows = accepted && TARO.address.includes(query.search.toLowerCase()) ? [TARO] : [];
      return { total: rows.length, offset: 0, rows };
    },
    find_account: (args) => (accepted && sameAddress(TARO.address, (args as { address: string }).address) ? TARO : null),
    ...handlers,
  };
  return all;
}

async function start(handlers: Handlers = userComputer(), locale?: string): Promise<{ calls: Call[] }> {
  return renderApp({ handlers, locale });
}

/** Start screen → "I received an invitation" → paste the link → Open. */
async function paste(calls: Call[], text = LINK) {
  await fireEvent.click(screen.getByTestId('start-invitation'));
  const area = (await screen.findByTestId('invite-open-text')) as HTMLTextAreaElement;
  expect((screen.getByTestId('invite-open-submit') as HTMLButtonElement).disabled).toBe(true);
  await fireEvent.input(area, { target: { value: `  ${text}\n` } });
  await fireEvent.click(screen.getByTestId('invite-open-submit'));
  await waitFor(() => expect(lastCall(calls, 'open_invitation_text')).toBeTruthy());
}

async function opened(preview: InvitationPreview = invitationPreview()) {
  const { calls } = await start(userComputer(preview));
  await paste(calls);
  return { calls, screen: await screen.findByTestId('invitation-screen') };
}

/** Step 4 is shown and has finished attaching to Rust's events (before the test ends). */
async function inStep4(calls: Call[]) {
  await waitFor(() => expect(lastCall(calls, 'flow_snapshot')).toBeTruthy());
  await new Promise((resolve) => setTimeout(resolve, 0));
}

const text = (id: string) => screen.getByTestId(id).textContent?.replace(/\s+/g, ' ').trim() ?? '';

describe('opening an invitation', () => {
  it('offers a third, smaller entry on the start screen, and pastes a link', async () => {
    const { calls } = await start();
    expect(screen.getByTestId('start-invitation').textContent).toContain('I received an invitation');
    await paste(calls);
    expect(lastCall(calls, 'open_invitation_text')?.args).toEqual({ text: LINK });
    const shown = await screen.findByTestId('invitation-screen');
    expect(shown.getAttribute('data-invitation-id')).toBe('inv-1');
    // Nothing is stored by opening.
    expect(lastCall(calls, 'accept_invitation')).toBeUndefined();
  });

  it('submits the pasted link with Enter, but not while an input method composes', async () => {
    const { calls } = await start();
    await fireEvent.click(screen.getByTestId('start-invitation'));
    const area = await screen.findByTestId('invite-open-text');
    await fireEvent.input(area, { target: { value: LINK } });
    await fireEvent.keyDown(area, { key: 'Enter', isComposing: true });
    expect(lastCall(calls, 'open_invitation_text')).toBeUndefined();
    await fireEvent.keyDown(area, { key: 'Enter' });
    await waitFor(() => expect(lastCall(calls, 'open_invitation_text')?.args).toEqual({ text: LINK }));
  });

  it('opens a file through the Rust file picker; a cancelled picker changes nothing', async () => {
    let answer: InvitationPreview | null = null;
    const { calls } = await start(userComputer(invitationPreview(), { open_invitation_file: () => answer }));
    await fireEvent.click(screen.getByTestId('start-invitation'));
    await fireEvent.click(await screen.findByTestId('invite-open-file'));
    await waitFor(() => expect(lastCall(calls, 'open_invitation_file')).toBeTruthy());
    expect(lastCall(calls, 'open_invitation_file')?.args).toEqual({});
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(screen.getByTestId('invite-open')).toBeTruthy();
    expect(screen.queryByTestId('invitation-error')).toBeNull();

    answer = invitationPreview({ invitationId: 'from-file' });
    await fireEvent.click(screen.getByTestId('invite-open-file'));
    expect((await screen.findByTestId('invitation-screen')).getAttribute('data-invitation-id')).toBe('from-file');
  });

  it('is reachable from step 4 when nothing is set up yet, and goes back', async () => {
    await start();
    await fireEvent.click(screen.getByTestId('start-user'));
    const empty = await screen.findByTestId('step4-not-ready');
    await fireEvent.click(within(empty).getByTestId('step4-open-invitation'));
    expect(await screen.findByTestId('invite-open-text')).toBeTruthy();
    await fireEvent.click(screen.getByTestId('invite-open-back'));
    expect(await screen.findByTestId('step4-not-ready')).toBeTruthy();
  });

  it('shows an invitation the OS hands over (deep link, file, drop) on any screen', async () => {
    await start();
    await fireEvent.click(screen.getByTestId('start-admin'));
    await waitFor(() => expect(invitation.view).toBeNull());
    await emit('exo://invitation-opened', { outcome: 'preview', preview: invitationPreview({ invitationId: 'os-1' }) });
    expect((await screen.findByTestId('invitation-screen')).getAttribute('data-invitation-id')).toBe('os-1');
  });

  it('explains an invitation the OS handed over that cannot be used', async () => {
    await start();
    const raw = { kind: 'invite_tampered', actor: 'user', message: 'x', detail: {} };
    await emit('exo://invitation-opened', { outcome: 'failed', error: raw });
    const error = await screen.findByTestId('invitation-error');
    expect(error.getAttribute('data-kind')).toBe('invite_tampered');
    expect(error.textContent).toContain('was changed after your administrator made it');
    expect(error.textContent).toContain('Nothing was changed.');
    expect(within(error).getByTestId('actor-badge').getAttribute('data-actor')).toBe('user');
    // The person can paste another one right there.
    expect(screen.getByTestId('invite-open-text')).toBeTruthy();
  });

  it('shows the invitation that started the app (cold start), asking once', async () => {
    const { calls } = await start(
      userComputer(invitationPreview(), {
        last_opened_invitation: () => ({ outcome: 'preview', preview: invitationPreview({ invitationId: 'cold' }) }),
      }),
    );
    expect((await screen.findByTestId('invitation-screen')).getAttribute('data-invitation-id')).toBe('cold');
    expect(calls.filter((c) => c.cmd === 'last_opened_invitation')).toHaveLength(1);
    // Asked after listening, so nothing arriving in between is lost.
    const listen = calls.findIndex((c) => c.cmd === 'plugin:event|listen' && JSON.stringify(c.args).includes('invitation-opened'));
    expect(listen).toBeGreaterThanOrEqual(0);
    expect(listen).toBeLessThan(calls.findIndex((c) => c.cmd === 'last_opened_invitation'));
  });

  it('shows the error of an invitation that failed at start', async () => {
    await start(
      userComputer(invitationPreview(), {
        last_opened_invitation: () => ({ outcome: 'failed', error: uiError('invite_too_large', 'user', { size: '70000', max: '4096' }) }),
      }),
    );
    const error = await screen.findByTestId('invitation-error');
    expect(error.getAttribute('data-kind')).toBe('invite_too_large');
    expect(error.textContent).toContain('70000 bytes; an invitation has at most 4096');
  });

  it('forgets the invitation on screen when another one arrives', async () => {
    const { calls } = await opened();
    await emit('exo://invitation-opened', { outcome: 'preview', preview: invitationPreview({ invitationId: 'inv-2' }) });
    await waitFor(() => expect(screen.getByTestId('invitation-screen').getAttribute('data-invitation-id')).toBe('inv-2'));
    await waitFor(() => expect(lastCall(calls, 'discard_invitation')?.args).toEqual({ invitationId: 'inv-1' }));
  });
});

describe('the confirmation screen', () => {
  it('says in plain words who invites whom, and shows every field', async () => {
    await opened(
      invitationPreview({
        receiveProtocol: 'pop3',
        redirectMode: 'loopback',
        endpoints: {
          imap: { host: 'imap.contoso.example', port: 993, security: 'tls' },
          pop3: { host: 'pop.contoso.example', port: 995, security: 'tls' },
          smtp: { host: 'smtp.contoso.example', port: 587, security: 'starttls' },
        },
        mailHosts: ['pop.contoso.example', 'smtp.contoso.example'],
      }),
    );
    expect(text('invitation-lead')).toBe('Contoso invites you to set up taro@contoso.com (Taro Yamada) on this computer.');
    expect(text('invitation-org')).toBe('Contoso');
    expect(text('invitation-mailbox')).toBe('taro@contoso.com Taro Yamada');
    expect(text('invitation-tenant')).toBe('contoso.onmicrosoft.com Tenant ID: 72f988bf-86f1-41af-91ab-2d7cd011db47');
    expect(text('invitation-client-id')).toBe('11111111-2222-3333-4444-555555555555');
    expect(text('invitation-authority')).toBe('https://login.microsoftonline.com Microsoft cloud (Global)');
    expect(text('invitation-protocol')).toBe('POP3');
    expect(text('invitation-redirect-mode')).toBe('Loopback');
    const endpoints = text('invitation-endpoints');
    expect(endpoints).toContain('imap.contoso.example:993 · TLS');
    expect(endpoints).toContain('pop.contoso.example:995 · TLS');
    expect(endpoints).toContain('smtp.contoso.example:587 · STARTTLS');
    expect(text('invitation-mail-hosts')).toBe(
      'Your sign-in will be used only with these mail servers: pop.contoso.example, smtp.contoso.example',
    );
    expect(document.body.textContent).toContain('no password or token');
    // A known cloud, no policy, nothing replaced: no warnings.
    for (const id of ['invitation-cloud-warning', 'invitation-overrides', 'invitation-replace', 'invitation-already-registered']) {
      expect(screen.queryByTestId(id), id).toBeNull();
    }
    expect((screen.getByTestId('invitation-accept') as HTMLButtonElement).disabled).toBe(false);
  });

  it('names the other Microsoft clouds, and warns only for an authority that is none of them', async () => {
    await opened(invitationPreview({ authority: 'https://login.microsoftonline.us', cloud: 'us_government' }));
    expect(text('invitation-authority')).toContain('Microsoft cloud for US Government');
    expect(screen.queryByTestId('invitation-cloud-warning')).toBeNull();
  });

  it("names Exchange Online's own servers when the invitation brings none, in Japanese too", async () => {
    await opened(invitationPreview({ mailHosts: ['partner.outlook.cn'], cloud: 'china' }));
    expect(text('invitation-mail-hosts')).toBe('Your sign-in will be used only with these mail servers: partner.outlook.cn');
    await setLang('ja');
    await waitFor(() => expect(text('invitation-mail-hosts')).toBe('サインイン情報は次のメールサーバーでのみ使われます: partner.outlook.cn'));
    await setLang('en');
  });

  it('warns prominently when the authority is not a known Microsoft cloud', async () => {
    await opened(invitationPreview({ authority: 'https://login.evil.example', cloud: null }));
    expect(text('invitation-authority')).toBe('https://login.evil.example Not a known Microsoft cloud');
    const warning = screen.getByTestId('invitation-cloud-warning');
    expect(warning.getAttribute('role')).toBe('alert');
    expect(warning.textContent).toContain('https://login.evil.example, which is not one of Microsoft');
    expect(warning.textContent).toContain('Only continue if your administrator confirmed this address');
  });

  it('says which fields the managed policy decided instead of the invitation', async () => {
    await opened(
      invitationPreview({
        overrides: [
          { field: 'clientId', invited: '99999999-9999-9999-9999-999999999999', managed: '11111111-2222-3333-4444-555555555555' },
          { field: 'redirectMode', invited: 'deep_link', managed: 'loopback' },
        ],
      }),
    );
    const items = within(screen.getByTestId('invitation-overrides')).getAllByRole('listitem').map((li) => li.textContent?.trim());
    expect(items).toEqual([
      "Managed by your organization's IT: the application (client) ID is 11111111-2222-3333-4444-555555555555 (the invitation said 99999999-9999-9999-9999-999999999999).",
      "Managed by your organization's IT: the way sign-in returns to exo-setup is Loopback (the invitation said App link).",
    ]);
  });

  it('announces the receipt before anything is accepted, and only when one will be sent', async () => {
    await opened(invitationPreview({ receiptTo: 'admin@contoso.com' }));
    expect(text('invitation-receipt')).toContain('sends one short receipt to admin@contoso.com');
    expect(text('invitation-receipt')).toContain('never a password or a token');
  });

  it('says nothing of receipts when the invitation asks for none', async () => {
    await opened(invitationPreview());
    expect(screen.queryByTestId('invitation-receipt')).toBeNull();
  });

  it('notes a mailbox already registered on this computer', async () => {
    await opened(invitationPreview({ alreadyRegistered: true }));
    expect(text('invitation-already-registered')).toContain('taro@contoso.com is already registered on this computer');
  });

  it('never replaces another organization without the box ticked', async () => {
    const replaces = { ...overview({ enabled: true }).org!, organizationName: 'Fabrikam', tenant: 'fabrikam.example' };
    const { calls } = await opened(invitationPreview({ replaces }));
    const block = screen.getByTestId('invitation-replace');
    expect(block.textContent).toContain('This computer is set up for Fabrikam (tenant fabrikam.example / 72f988bf-86f1-41af-91ab-2d7cd011db47)');
    const accept = screen.getByTestId('invitation-accept') as HTMLButtonElement;
    expect(accept.disabled).toBe(true);
    await fireEvent.click(accept);
    expect(lastCall(calls, 'accept_invitation')).toBeUndefined();

    await fireEvent.click(within(block).getByTestId('invitation-replace-confirm'));
    expect(accept.disabled).toBe(false);
    await fireEvent.click(accept);
    await waitFor(() => expect(lastCall(calls, 'accept_invitation')?.args).toEqual({ invitationId: 'inv-1', replaceExisting: true }));
    await inStep4(calls);
  });

  it('accepting is one click: step 4 starts the sign-in of the new mailbox at once', async () => {
    const { calls } = await opened();
    expect(lastCall(calls, 'begin_sign_in')).toBeUndefined();
    await fireEvent.click(screen.getByTestId('invitation-accept'));
    await waitFor(() => expect(lastCall(calls, 'begin_sign_in')?.args).toEqual({ address: TARO.address }));
    expect(calls.filter((c) => c.cmd === 'begin_sign_in')).toHaveLength(1);
    await inStep4(calls);
  });

  it('accepts, then opens step 4 with that mailbox chosen', async () => {
    const { calls } = await opened();
    await fireEvent.click(screen.getByTestId('invitation-accept'));
    await waitFor(() => expect(lastCall(calls, 'accept_invitation')?.args).toEqual({ invitationId: 'inv-1', replaceExisting: false }));
    await waitFor(() => expect(screen.getByTestId('step4-account').getAttribute('data-address')).toBe(TARO.address));
    expect(screen.getByTestId('nav-step-4').getAttribute('aria-current')).toBe('step');
    expect((screen.getByTestId('step4-address') as HTMLInputElement).value).toBe(TARO.address);
    expect(screen.queryByTestId('invitation-screen')).toBeNull();
    expect(sessionStorage.getItem('exo-setup.mode')).toBe('user');
    // The wizard knows about the new settings.
    expect(screen.getByTestId('nav-step-1').getAttribute('data-status')).toBe('done');
    await inStep4(calls);
  });

  it('discards: Rust forgets it, and the previous screen is back', async () => {
    const { calls } = await opened();
    await fireEvent.click(screen.getByTestId('invitation-discard'));
    await waitFor(() => expect(lastCall(calls, 'discard_invitation')?.args).toEqual({ invitationId: 'inv-1' }));
    expect(await screen.findByTestId('start-admin')).toBeTruthy();
    expect(screen.queryByTestId('invitation-screen')).toBeNull();
    expect(lastCall(calls, 'accept_invitation')).toBeUndefined();
  });

  it('shows a refused acceptance with who acts and what to do, and stays', async () => {
    const refuse = () => {
      throw uiError('invite_other_tenant', 'admin', { tenant: 'contoso.onmicrosoft.com', allowed: 'fabrikam.example' });
    };
    const { calls } = await start(userComputer(invitationPreview(), { accept_invitation: refuse }));
    await paste(calls);
    await fireEvent.click(await screen.findByTestId('invitation-accept'));
    const error = await screen.findByTestId('invitation-error');
    expect(error.getAttribute('data-kind')).toBe('invite_other_tenant');
    expect(error.textContent).toContain('for another organization (tenant contoso.onmicrosoft.com), and your organization');
    expect(error.textContent).toContain('Nothing was changed.');
    expect(within(error).getByTestId('actor-badge').getAttribute('data-actor')).toBe('admin');
    expect(screen.getByTestId('invitation-screen')).toBeTruthy();
    expect(app.mode).toBeNull();
    expect((screen.getByTestId('invitation-accept') as HTMLButtonElement).disabled).toBe(false);
  });

  it('speaks Japanese', async () => {
    const { calls } = await start(userComputer(invitationPreview({ cloud: null, authority: 'https://login.evil.example' })), 'ja-JP');
    await paste(calls);
    await screen.findByTestId('invitation-screen');
    expect(text('invitation-lead')).toBe('Contosoから、このパソコンでメールアカウント taro@contoso.com (Taro Yamada) を設定するよう招待されています。');
    expect(screen.getByTestId('invitation-cloud-warning').textContent).toContain('このアドレスを管理者に直接');
    expect(screen.getByTestId('invitation-accept').textContent?.trim()).toBe('受け入れてサインインに進む');
    await setLang('en');
  });
});

/** Every kind opening or accepting an invitation can end with, with the detail Rust sends. */
const KINDS: [ErrorKind, Record<string, string>, RegExp][] = [
  ['invite_malformed', { reason: 'incomplete' }, /cannot be opened: the link is cut off or incomplete\. Copy the whole link/],
  ['invite_malformed', { reason: 'not_a_link' }, /neither an invitation link nor/],
  ['invite_malformed', { reason: 'not_an_invitation' }, /: it is not an exo-setup invitation\./],
  ['invite_malformed', { reason: 'unknown_field' }, /parts this version of exo-setup does not know/],
  ['invite_malformed', { reason: 'invalid_field', field: 'authority' }, /: the sign-in address \(authority\) in it is not valid\./],
  ['invite_malformed', { reason: 'invalid_field', field: 'tenantId' }, /: the tenant ID in it is not valid\./],
  ['invite_malformed', { reason: 'duplicate_parameter' }, /a part of the link appears twice/],
  ['invite_malformed', { reason: 'unknown_parameter' }, /a part exo-setup does not know/],
  ['invite_malformed', { reason: 'not_json' }, /damaged or is not an invitation file/],
  ['invite_too_large', { size: '5000', max: '4096' }, /\(5000 bytes; an invitation has at most 4096\)/],
  ['invite_version_unsupported', { version: '2', supported: '1' }, /format version 2, but this exo-setup reads version 1\. Update exo-setup/],
  ['invite_tampered', {}, /Do not use it/],
  ['invite_file_unreadable', { path: '/home/taro/x.exoinvite', error: 'Permission denied' }, /\/home\/taro\/x\.exoinvite could not be read \(Permission denied\)/],
  ['invite_refused_by_policy', {}, /does not allow opening invitations on this computer/],
  ['invite_other_tenant', { tenant: 'fabrikam.example', allowed: 'contoso.onmicrosoft.com' }, /another organization \(tenant fabrikam\.example\), and your organization's IT allows only contoso\.onmicrosoft\.com/],
  ['invite_authority_not_allowed', { authority: 'https://evil.example', allowed: 'https://login.microsoftonline.com' }, /signs in at https:\/\/evil\.example, which .* \(allowed: https:\/\/login\.microsoftonline\.com\)/],
  [
    'invite_mail_host_not_allowed',
    { hosts: 'imap.mail-sync.example, smtp.mail-sync.example', cloud: "Microsoft's worldwide cloud", authority: 'https://login.microsoftonline.com' },
    /to the mail server\(s\) imap\.mail-sync\.example, smtp\.mail-sync\.example\. It signs in at https:\/\/login\.microsoftonline\.com \(Microsoft's worldwide cloud\), and these are not that cloud's mail servers.*allowedMailHosts.*may be forged/,
  ],
  ['invite_replaces_org', { current: 'fabrikam.example', invited: 'contoso.onmicrosoft.com' }, /\(tenant fabrikam\.example\); accepting would replace it with tenant contoso\.onmicrosoft\.com.*Tick the box/],
  ['invite_not_pending', {}, /no longer open.*Open the link or file again/],
  ['policy_invalid', { path: '/etc/exo-setup/policy.json', problem: 'unknown key "tennant"' }, /\(\/etc\/exo-setup\/policy\.json\) cannot be used: unknown key "tennant"\./],
];

describe('what went wrong, in words', () => {
  it.each(KINDS)('%s %j', async (kind, detail, expected) => {
    const fail = () => {
      throw uiError(kind, 'user', detail);
    };
    const { calls } = await start(userComputer(invitationPreview(), { open_invitation_text: fail }));
    await paste(calls);
    const error = await screen.findByTestId('invitation-error');
    expect(error.getAttribute('data-kind')).toBe(kind);
    const shown = error.textContent ?? '';
    expect(shown).toMatch(expected);
    expect(shown).not.toMatch(/%\{|\{\{|—|errors\./);
    if (kind.startsWith('invite_') && kind !== 'invite_refused_by_policy') expect(shown).toContain('Nothing was changed.');
    expect(screen.queryByTestId('invitation-screen')).toBeNull();
  });

  it('explains a cut-off link in Japanese', async () => {
    const fail = () => {
      throw uiError('invite_malformed', 'user', { reason: 'invalid_field', field: 'clientId' });
    };
    const { calls } = await start(userComputer(invitationPreview(), { open_invitation_text: fail }), 'ja-JP');
    await paste(calls);
    const error = await screen.findByTestId('invitation-error');
    expect(error.textContent).toContain('この招待は開けません。含まれているアプリケーション (クライアント) IDが正しくありません。');
    expect(error.textContent).toContain('何も変更していません。');
    await setLang('en');
  });
});
