import { emit } from '@tauri-apps/api/event';
import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import type { AccountQuery } from '../bindings/AccountQuery';
import type { AccountRow } from '../bindings/AccountRow';
import type { SelfServiceState } from '../bindings/SelfServiceState';
import type { SetupOverview } from '../bindings/SetupOverview';
import {
  accountRow,
  flowFinished,
  flowStarted,
  invitationPreview,
  lastCall,
  overview,
  uiError,
  withStatus,
  type Call,
} from '../test/fixtures';
import { renderApp, type Handlers } from '../test/render';
import { setLang } from './i18n';

const ON: SelfServiceState = { enabled: true, managed: null, pinnedByPolicy: false };
const OFF: SelfServiceState = { enabled: false, managed: null, pinnedByPolicy: false };
const ORG_LINK = 'dev.exosetup.wizard://invite?v=1&p=b3Jn&c=org';
const HANAKO: AccountRow = withStatus({ ...accountRow(0), address: 'hanako@contoso.com', displayName: '' }, 'signed_in');

const text = (id: string) => screen.getByTestId(id).textContent?.replace(/\s+/g, ' ').trim() ?? '';

/** A configured computer without any registered mailbox (the organization invitation was accepted). */
function orgOnly(accounts = 0): SetupOverview {
  return { ...overview({ enabled: true, steps: ['done', 'done', 'done', 'todo'] }), accountCount: accounts };
}

/** Lists `rows()` as Rust's `list_accounts` would. */
function listing(rows: () => AccountRow[]): Handlers {
  return {
    list_accounts: (args) => {
      const { query } = args as { query: AccountQuery };
      const hits = rows().filter((r) => r.address.includes(query.search.toLowerCase()));
      return { total: hits.length, offset: 0, rows: hits };
    },
    find_account: (args) => rows().find((r) => r.address === (args as { address: string }).address) ?? null,
  };
}

async function settle(calls: Call[]) {
  await waitFor(() => expect(lastCall(calls, 'flow_snapshot')).toBeTruthy());
  await new Promise((resolve) => setTimeout(resolve, 0));
}

describe('the organization invitation on the user computer', () => {
  const ORG_WIDE = invitationPreview({ organizationWide: true, address: '', displayName: '' });

  async function openOrgWide(extra: Handlers = {}) {
    let accepted = false;
    const rendered = await renderApp({
      handlers: {
        setup_overview: () => (accepted ? orgOnly() : overview()),
        open_invitation_text: () => ORG_WIDE,
        accept_invitation: () => {
          accepted = true;
          return { account: null, org: orgOnly().org };
        },
        self_service_state: () => (accepted ? ON : OFF),
        ...listing(() => []),
        ...extra,
      },
    });
    await fireEvent.click(screen.getByTestId('start-invitation'));
    await fireEvent.input(await screen.findByTestId('invite-open-text'), { target: { value: ORG_LINK } });
    await fireEvent.click(screen.getByTestId('invite-open-submit'));
    await screen.findByTestId('invitation-screen');
    return rendered;
  }

  it('shows no empty mailbox: the address is typed after accepting, in English and Japanese', async () => {
    await openOrgWide();
    const mailbox = screen.getByTestId('invitation-mailbox');
    expect(mailbox.getAttribute('data-organization-wide')).toBe('true');
    expect(mailbox.querySelector('.mono')).toBeNull();
    expect(text('invitation-mailbox')).toContain('You type your own mail address after accepting');
    expect(text('invitation-lead')).toBe('Contoso invites you to set up your own mailbox on this computer.');
    expect(text('invitation-accept-help')).toContain('where you type your own mail address');
    setLang('ja');
    await waitFor(() => expect(text('invitation-mailbox')).toContain('ご自身のメールアドレスを入力していただきます'));
    expect(text('invitation-lead')).toContain('ご自身のメールアカウントを設定するよう招待されています');
  });

  it('goes to step 4 with the typed-mailbox form focused after accepting', async () => {
    const { calls } = await openOrgWide();
    await fireEvent.click(screen.getByTestId('invitation-accept'));
    const input = await screen.findByTestId('step4-self-address');
    await waitFor(() => expect(document.activeElement).toBe(input));
    // No registered mailbox, but nothing says "ask your administrator to register yours".
    expect(screen.queryByTestId('step4-not-ready')).toBeNull();
    expect(lastCall(calls, 'begin_self_sign_in')).toBeUndefined();
    await settle(calls);
  });
});

describe('step 4: set up your own mailbox', () => {
  async function openStep4(handlers: Handlers = {}, accounts = 0) {
    const rendered = await renderApp({
      overview: orgOnly(accounts),
      handlers: {
        self_service_state: () => ON,
        begin_self_sign_in: (args) => flowStarted('sign_in', { address: (args as { address: string }).address }),
        cancel_flow: () => null,
        check_account: () => {
          throw uiError('unexpected', 'support');
        },
        ...listing(() => []),
        ...handlers,
      },
    });
    await fireEvent.click(screen.getByTestId('start-user'));
    await settle(rendered.calls);
    return rendered;
  }

  it('is not offered where self-service is off', async () => {
    const { calls } = await openStep4({ self_service_state: () => OFF });
    await waitFor(() => expect(lastCall(calls, 'self_service_state')).toBeTruthy());
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(screen.queryByTestId('step4-self')).toBeNull();
    expect(screen.getByTestId('step4-not-ready')).toBeTruthy();
  });

  it('signs in to the typed mailbox with the chosen protocol, and shows the mailbox once Microsoft confirmed it', async () => {
    let registered: AccountRow[] = [];
    let accounts = 0;
    const { calls } = await openStep4({
      setup_overview: () => orgOnly(accounts),
      ...listing(() => registered),
    });
    const form = await screen.findByTestId('step4-self');
    expect((within(form).getByTestId('step4-self-imap') as HTMLInputElement).checked).toBe(true);
    await fireEvent.input(screen.getByTestId('step4-self-address'), { target: { value: ' hanako@contoso.com ' } });
    await fireEvent.click(screen.getByTestId('step4-self-pop3'));
    await fireEvent.click(screen.getByTestId('step4-self-signin'));

    await screen.findByTestId('flow-waiting');
    expect(lastCall(calls, 'begin_self_sign_in')?.args).toEqual({ address: 'hanako@contoso.com', protocol: 'pop3' });
    expect(lastCall(calls, 'begin_sign_in')).toBeUndefined();
    expect((screen.getByTestId('step4-self-signin') as HTMLButtonElement).disabled).toBe(true);

    // Rust registered the mailbox after the wrong-account guard: the list now has it.
    registered = [HANAKO];
    accounts = 1;
    await emit(
      'exo://flow-finished',
      flowFinished('flow-sign_in-1', 'sign_in', {
        outcome: 'signed_in',
        sign_in: { address: HANAKO.address, signedInAs: HANAKO.address, name: 'Hanako', scopes: [], account: HANAKO },
      }),
    );
    const success = await screen.findByTestId('flow-success');
    expect(within(success).getByTestId('step4-signed-in-as').textContent).toBe('hanako@contoso.com');
    await waitFor(() => expect(screen.getByTestId('step4-account').getAttribute('data-address')).toBe('hanako@contoso.com'));
    // The form is empty again, ready for another mailbox.
    await waitFor(() => expect((screen.getByTestId('step4-self-address') as HTMLInputElement).value).toBe(''));
  });

  it("shows Rust's refusal when self-service is not allowed, in English and Japanese", async () => {
    await openStep4({
      begin_self_sign_in: () => {
        throw uiError('self_service_not_allowed', 'admin');
      },
    });
    await fireEvent.input(await screen.findByTestId('step4-self-address'), { target: { value: 'hanako@contoso.com' } });
    await fireEvent.click(screen.getByTestId('step4-self-signin'));
    await waitFor(() => expect(document.body.textContent).toContain('self-service is not turned on for your organization here'));
    expect(screen.queryByTestId('flow-waiting')).toBeNull();
    expect((screen.getByTestId('step4-self-signin') as HTMLButtonElement).disabled).toBe(false);
    setLang('ja');
    await waitFor(() => expect(document.body.textContent).toContain('セルフサービスが有効になっていません'));
  });
});

describe('step 1: self-service', () => {
  async function openStep1(handlers: Handlers) {
    const copied: unknown[] = [];
    const rendered = await renderApp({
      overview: overview({ enabled: true }),
      handlers: {
        organization_invitation: () => ({ link: ORG_LINK, fileName: 'Contoso.exoinvite', receiptTo: 'admin@contoso.com' }),
        'plugin:clipboard-manager|write_text': (args) => {
          copied.push(args);
          return null;
        },
        ...handlers,
      },
    });
    await fireEvent.click(screen.getByTestId('start-admin'));
    const toggle = (await screen.findByTestId('self-service-toggle')) as HTMLInputElement;
    return { ...rendered, copied, toggle };
  }

  it('turns self-service on, then copies the organization invitation and says where receipts go', async () => {
    const { calls, copied, toggle } = await openStep1({ set_self_service: () => ON });
    expect(toggle.checked).toBe(false);
    expect(toggle.disabled).toBe(false);
    expect(screen.queryByTestId('self-service-copy')).toBeNull();

    await fireEvent.click(toggle);
    await waitFor(() => expect(lastCall(calls, 'set_self_service')?.args).toEqual({ enabled: true }));
    const receipts = await screen.findByTestId('self-service-receipts');
    expect(receipts.textContent).toContain('admin@contoso.com');

    const copy = screen.getByTestId('self-service-copy') as HTMLButtonElement;
    await waitFor(() => expect(copy.disabled).toBe(false));
    await fireEvent.click(copy);
    await waitFor(() => expect(copied).toHaveLength(1));
    expect(copied[0]).toMatchObject({ text: ORG_LINK });
    await waitFor(() => expect(document.body.textContent).toContain('The organization invitation link was copied.'));
  });

  it('turns it off again', async () => {
    const { calls, toggle } = await openStep1({ self_service_state: () => ON, set_self_service: () => OFF });
    await waitFor(() => expect(toggle.checked).toBe(true));
    await fireEvent.click(toggle);
    await waitFor(() => expect(lastCall(calls, 'set_self_service')?.args).toEqual({ enabled: false }));
    await waitFor(() => expect(screen.queryByTestId('self-service-copy')).toBeNull());
  });

  it('is read-only where the managed policy decides', async () => {
    const { calls, toggle } = await openStep1({ self_service_state: () => ({ enabled: true, managed: true, pinnedByPolicy: true }) });
    await waitFor(() => expect(toggle.checked).toBe(true));
    expect(toggle.disabled).toBe(true);
    expect(text('self-service-managed')).toContain("Managed by your organization's IT");
    expect(screen.getByTestId('self-service-pinned')).toBeTruthy();
    expect(lastCall(calls, 'set_self_service')).toBeUndefined();
  });

  it('puts the switch back when Rust refuses the change', async () => {
    const { toggle } = await openStep1({
      set_self_service: () => {
        throw uiError('policy_locked_field', 'admin', { field: 'selfService', value: 'false' });
      },
    });
    await fireEvent.click(toggle);
    await waitFor(() => expect(document.body.textContent).toContain("Your organization's IT manages"));
    expect(toggle.checked).toBe(false);
  });
});
