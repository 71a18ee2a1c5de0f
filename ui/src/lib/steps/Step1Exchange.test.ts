import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import { demoSettings, lastCall, noPolicy, overview, uiError } from '../../test/fixtures';
import { renderApp } from '../../test/render';

async function openStep1(opts: Parameters<typeof renderApp>[0] = {}) {
  const rendered = await renderApp(opts);
  await fireEvent.click(screen.getByTestId('start-admin'));
  // The form waits for the managed policy (locked fields must never look editable).
  await waitFor(() => expect(screen.queryByTestId('org-summary') ?? document.getElementById('tenant')).not.toBeNull());
  return rendered;
}

async function fill(tenant: string, clientId: string) {
  await fireEvent.input(document.getElementById('tenant') as HTMLInputElement, { target: { value: tenant } });
  await fireEvent.input(document.getElementById('client-id') as HTMLInputElement, { target: { value: clientId } });
}

const CLIENT = '11111111-2222-3333-4444-555555555555';

describe('step 1: Exchange Online', () => {
  it('shows the built-in server OFF with its endpoints', async () => {
    await openStep1();
    const status = screen.getByTestId('exchange-status');
    expect(status.getAttribute('data-enabled')).toBe('false');
    expect(document.body.textContent).toContain('outlook.office365.com:993');
    expect(document.body.textContent).toContain('smtp.office365.com:587');
    expect(document.body.textContent).toContain('STARTTLS');
  });

  it('saves with the exact payload, shows progress, and turns the server on', async () => {
    let finish: (value: unknown) => void = () => undefined;
    const { calls } = await openStep1({
      handlers: { save_exchange_online: () => new Promise((resolve) => (finish = resolve)) },
    });
    await fill('  contoso.onmicrosoft.com ', CLIENT);
    await fireEvent.click(document.querySelector('input[name=redirect-mode][value=loopback]') as HTMLInputElement);
    await fireEvent.click(screen.getByTestId('save-exchange'));

    await waitFor(() => expect(lastCall(calls, 'save_exchange_online')).toBeTruthy());
    expect(lastCall(calls, 'save_exchange_online')?.args).toEqual({
      input: {
        organizationName: '',
        tenant: 'contoso.onmicrosoft.com',
        clientId: CLIENT,
        authority: 'https://login.microsoftonline.com',
        redirectMode: 'loopback',
      },
    });
    expect((screen.getByTestId('save-exchange') as HTMLButtonElement).disabled).toBe(true);
    expect(document.body.textContent).toContain('Checking the tenant');

    finish(overview({ enabled: true }));
    await waitFor(() => expect(screen.getByTestId('exchange-status').getAttribute('data-enabled')).toBe('true'));
    expect(screen.getByTestId('org-summary').textContent).toContain('72f988bf-86f1-41af-91ab-2d7cd011db47');
    expect(screen.getByTestId('nav-step-1').getAttribute('data-status')).toBe('done');
    expect(screen.queryByTestId('disable-exchange')).not.toBeNull();
  });

  it('sends a custom authority from the advanced section', async () => {
    const { calls } = await openStep1({ handlers: { save_exchange_online: () => overview({ enabled: true }) } });
    expect(document.getElementById('authority')).toBeNull();
    await fireEvent.click(screen.getByTestId('show-advanced'));
    // Clicking again never hides the field (the end-to-end suite clicks it unconditionally).
    await fireEvent.click(screen.getByTestId('show-advanced'));
    expect(document.getElementById('authority')).not.toBeNull();
    await fill('contoso.example', CLIENT);
    await fireEvent.input(document.getElementById('authority') as HTMLInputElement, {
      target: { value: 'http://127.0.0.1:8400' },
    });
    await fireEvent.click(screen.getByTestId('save-exchange'));
    await waitFor(() => expect(lastCall(calls, 'save_exchange_online')).toBeTruthy());
    expect(lastCall(calls, 'save_exchange_online')?.args).toMatchObject({
      input: { authority: 'http://127.0.0.1:8400', redirectMode: 'deep_link' },
    });
  });

  it('shows the unknown-tenant error in Japanese with the admin badge and the support ids', async () => {
    await openStep1({
      locale: 'ja-JP',
      handlers: {
        save_exchange_online: () => {
          throw uiError('tenant_not_found', 'admin', {
            tenant: 'nope.example',
            code: 'AADSTS90002',
            traceId: 'trace-123',
            correlationId: 'corr-456',
          });
        },
      },
    });
    await fill('nope.example', CLIENT);
    await fireEvent.click(screen.getByTestId('save-exchange'));

    const alert = await screen.findByRole('alert');
    expect(alert.getAttribute('data-testid')).toBe('error');
    expect(alert.getAttribute('data-kind')).toBe('tenant_not_found');
    expect(alert.textContent).toContain('テナント「nope.example」は Microsoft 社に登録されていません (AADSTS90002)');
    expect(within(alert).getByTestId('actor-badge').textContent).toContain('管理者が対応');
    expect(within(alert).getByTestId('support-traceId').textContent).toBe('trace-123');
    expect(within(alert).getByTestId('support-correlationId').textContent).toBe('corr-456');
    // Shown next to the field too, and the server stays OFF.
    expect(document.getElementById('tenant')?.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById('tenant-error')?.textContent).toContain('nope.example');
    expect(screen.getByTestId('exchange-status').getAttribute('data-enabled')).toBe('false');
    expect((screen.getByTestId('save-exchange') as HTMLButtonElement).disabled).toBe(false);
  });

  it('explains why "common" is refused', async () => {
    await openStep1({
      handlers: {
        save_exchange_online: () => {
          throw uiError('tenant_multi_tenant', 'admin', { tenant: 'common' });
        },
      },
    });
    await fill('common', CLIENT);
    await fireEvent.click(screen.getByTestId('save-exchange'));
    const alert = await screen.findByTestId('error');
    expect(alert.getAttribute('data-kind')).toBe('tenant_multi_tenant');
    expect(alert.textContent).toContain('“common” is not a specific tenant');
    expect(alert.textContent).toContain('only its accounts can sign in');
    expect(alert.textContent).toContain('Administrator action');
  });

  it('turns a non-UiError rejection into an "unexpected" error', async () => {
    await openStep1({
      handlers: {
        save_exchange_online: () => {
          throw 'boom';
        },
      },
    });
    await fill('contoso.example', CLIENT);
    await fireEvent.click(screen.getByTestId('save-exchange'));
    expect((await screen.findByTestId('error')).getAttribute('data-kind')).toBe('unexpected');
  });

  it('submits with Enter but not while the IME composes', async () => {
    const { calls } = await openStep1({ handlers: { save_exchange_online: () => overview({ enabled: true }) } });
    await fill('コントソ', CLIENT);
    const tenant = document.getElementById('tenant') as HTMLInputElement;
    await fireEvent.keyDown(tenant, { key: 'Enter', isComposing: true });
    await fireEvent.keyDown(tenant, { key: 'Enter', keyCode: 229 });
    expect(lastCall(calls, 'save_exchange_online')).toBeUndefined();
    await fireEvent.keyDown(tenant, { key: 'Enter' });
    await waitFor(() => expect(lastCall(calls, 'save_exchange_online')).toBeTruthy());
  });

  it('stops the server with set_server_enabled(1, false)', async () => {
    const { calls } = await openStep1({
      overview: overview({ enabled: true }),
      handlers: { set_server_enabled: () => overview({ enabled: false, steps: ['todo', 'blocked', 'blocked', 'blocked'] }) },
    });
    expect(screen.getByTestId('exchange-status').getAttribute('data-enabled')).toBe('true');
    await fireEvent.click(screen.getByTestId('disable-exchange'));
    await waitFor(() => expect(screen.getByTestId('exchange-status').getAttribute('data-enabled')).toBe('false'));
    expect(lastCall(calls, 'set_server_enabled')?.args).toEqual({ serverId: 1, enabled: false });
  });

  it('lists the redirect URIs and copies one through the clipboard plugin', async () => {
    const copied: unknown[] = [];
    await openStep1({
      handlers: {
        'plugin:clipboard-manager|write_text': (args) => {
          copied.push(args);
          return null;
        },
      },
    });
    const uris = screen.getAllByTestId('redirect-uri').map((el) => el.textContent);
    expect(uris).toEqual(['dev.exosetup.wizard://oauth2/callback', 'http://localhost']);
    expect(document.body.textContent).toContain('Mobile and desktop applications');
    expect(document.body.textContent).toContain('AADSTS7000218');

    await fireEvent.click(screen.getAllByTestId('copy-redirect-uri')[0]);
    await waitFor(() => expect(copied).toHaveLength(1));
    expect(copied[0]).toMatchObject({ text: 'dev.exosetup.wizard://oauth2/callback' });
    await waitFor(() => expect(document.body.textContent).toContain('Copied dev.exosetup.wizard://oauth2/callback'));
  });
});

describe('step 1: the app registration for the admin', () => {
  const registration = {
    script: "Connect-MgGraph -Scopes 'Application.ReadWrite.All' -NoWelcome\n$app = New-MgApplication …\n",
    manifest: '{\n  "isFallbackPublicClient": true\n}',
  };

  it('asks Rust only when opened, shows the script and the manifest, and copies the one shown', async () => {
    const copied: unknown[] = [];
    const { calls } = await openStep1({
      handlers: {
        app_registration: () => registration,
        'plugin:clipboard-manager|write_text': (args) => {
          copied.push(args);
          return null;
        },
      },
    });
    expect(calls.some((c) => c.cmd === 'app_registration')).toBe(false);
    await fireEvent.click(screen.getByTestId('show-registration'));
    await waitFor(() => expect(screen.getByTestId('registration-text').textContent).toBe(registration.script));
    await fireEvent.click(screen.getByTestId('copy-registration'));
    await waitFor(() => expect(copied).toEqual([{ text: registration.script }]));
    await fireEvent.click(screen.getByTestId('registration-tab-manifest'));
    expect(screen.getByTestId('registration-text').textContent).toBe(registration.manifest);
    await fireEvent.click(screen.getByTestId('copy-registration'));
    await waitFor(() => expect(copied).toHaveLength(2));
    expect(copied[1]).toEqual({ text: registration.manifest });
    await waitFor(() => expect(document.body.textContent).toContain('Manifest copied'));
  });

  it('shows the error when the clipboard refuses', async () => {
    await openStep1({
      handlers: {
        app_registration: () => registration,
        'plugin:clipboard-manager|write_text': () => {
          throw 'the clipboard is not available';
        },
      },
    });
    await fireEvent.click(screen.getByTestId('show-registration'));
    await waitFor(() => screen.getByTestId('copy-registration'));
    await fireEvent.click(screen.getByTestId('copy-registration'));
    await waitFor(() => expect(screen.getByTestId('error').textContent).not.toBe(''));
    expect(screen.getByTestId('copy-registration').textContent).not.toContain('✓');
  });
});

describe('step 1 in demo mode (scripts/wizard.sh --demo)', () => {
  const value = (id: string) => (document.getElementById(id) as HTMLInputElement | null)?.value;
  const checkedMode = () => (document.querySelector('input[name=redirect-mode]:checked') as HTMLInputElement).value;

  it('without demo settings: no notice, no badge, an empty form', async () => {
    await openStep1({ demo: null });
    expect(screen.queryByTestId('demo-notice')).toBeNull();
    expect(screen.queryByTestId('demo-badge')).toBeNull();
    expect(value('tenant')).toBe('');
    expect(value('client-id')).toBe('');
    expect(document.getElementById('authority')).toBeNull();
    expect(checkedMode()).toBe('deep_link');
  });

  it('pre-fills the form with the emulator values and says it is not Microsoft', async () => {
    const demo = demoSettings();
    const { calls } = await openStep1({ demo, handlers: { save_exchange_online: () => overview({ enabled: true }) } });
    const notice = screen.getByTestId('demo-notice');
    expect(notice.textContent).toContain('Demo mode');
    expect(notice.textContent).toContain('local emulator at http://127.0.0.1:8400, not to Microsoft');
    expect(notice.textContent).toContain('real tenant');
    expect(screen.getByTestId('demo-badge').textContent).toBe('DEMO');
    expect(value('tenant')).toBe('contoso.example');
    expect(value('client-id')).toBe(CLIENT);
    // The authority lives under "Advanced", which opens by itself to show it.
    expect(screen.getByTestId('show-advanced').getAttribute('aria-expanded')).toBe('true');
    expect(value('authority')).toBe('http://127.0.0.1:8400');
    expect(checkedMode()).toBe('loopback');

    await fireEvent.click(screen.getByTestId('save-exchange'));
    await waitFor(() => expect(lastCall(calls, 'save_exchange_online')).toBeTruthy());
    expect(lastCall(calls, 'save_exchange_online')?.args).toEqual({ input: demo });
    // Saved: the form and its notice give way to the summary; the badge stays.
    await waitFor(() => expect(screen.queryByTestId('demo-notice')).toBeNull());
    expect(screen.getByTestId('demo-badge')).toBeTruthy();
  });

  it('says so in Japanese too', async () => {
    await openStep1({ locale: 'ja-JP', demo: demoSettings({ redirectMode: 'deep_link' }) });
    const notice = screen.getByTestId('demo-notice');
    expect(notice.textContent).toContain('デモモード');
    expect(notice.textContent).toContain('Microsoft 社ではなく、ローカルのエミュレーター (http://127.0.0.1:8400)');
    expect(checkedMode()).toBe('deep_link');
  });

  it('keeps the saved settings of a configured organization (no pre-fill, no notice)', async () => {
    await openStep1({ demo: demoSettings(), overview: overview({ enabled: true }) });
    expect(screen.getByTestId('demo-badge')).toBeTruthy();
    await fireEvent.click(screen.getByTestId('edit-exchange'));
    expect(value('tenant')).toBe('contoso.onmicrosoft.com');
    expect(screen.queryByTestId('demo-notice')).toBeNull();
  });
});

describe('step 1 under a managed policy', () => {
  const value = (id: string) => document.getElementById(id) as HTMLInputElement;
  const checkedMode = () => (document.querySelector('input[name=redirect-mode]:checked') as HTMLInputElement).value;
  const FIELDS = ['organizationName', 'authority', 'tenant', 'clientId', 'redirectMode'] as const;
  const GOV = 'https://login.microsoftonline.us';
  const locked = noPolicy({
    present: true,
    organizationName: { value: 'Contoso Ltd.', locked: true },
    authority: { value: GOV, locked: true },
    tenant: { value: 'contoso.onmicrosoft.us', locked: true },
    clientId: { value: '99999999-8888-7777-6666-555555555555', locked: true },
    redirectMode: { value: 'loopback', locked: true },
  });

  it('shows locked fields read-only with their badge, and saves the managed values', async () => {
    const { calls } = await openStep1({
      handlers: { managed_policy: () => locked, save_exchange_online: () => overview({ enabled: true }) },
    });
    expect(screen.getByTestId('policy-notice').textContent).toContain('/etc/exo-setup/policy.json');
    for (const field of FIELDS) {
      expect(screen.getByTestId(`managed-${field}`).textContent, field).toBe('Managed by your organization');
    }
    expect(value('organization-name').value).toBe('Contoso Ltd.');
    expect(value('tenant').value).toBe('contoso.onmicrosoft.us');
    expect(value('client-id').value).toBe('99999999-8888-7777-6666-555555555555');
    // The authority is under "Advanced", opened to show it is managed.
    expect(value('authority').value).toBe(GOV);
    for (const id of ['organization-name', 'tenant', 'client-id', 'authority']) {
      expect(value(id).readOnly, id).toBe(true);
      expect(value(id).getAttribute('aria-readonly'), id).toBe('true');
    }
    expect(checkedMode()).toBe('loopback');
    for (const radio of document.querySelectorAll<HTMLInputElement>('input[name=redirect-mode]')) expect(radio.disabled).toBe(true);

    await fireEvent.click(screen.getByTestId('save-exchange'));
    await waitFor(() => expect(lastCall(calls, 'save_exchange_online')).toBeTruthy());
    expect(lastCall(calls, 'save_exchange_online')?.args).toEqual({
      input: {
        organizationName: 'Contoso Ltd.',
        tenant: 'contoso.onmicrosoft.us',
        clientId: '99999999-8888-7777-6666-555555555555',
        authority: GOV,
        redirectMode: 'loopback',
      },
    });
  });

  it('forces a locked value over the saved one, leaving the others editable', async () => {
    const policy = noPolicy({ present: true, clientId: { value: '99999999-8888-7777-6666-555555555555', locked: true } });
    await openStep1({ overview: overview({ enabled: true }), handlers: { managed_policy: () => policy } });
    await fireEvent.click(screen.getByTestId('edit-exchange'));
    expect(value('client-id').value).toBe('99999999-8888-7777-6666-555555555555');
    expect(value('client-id').readOnly).toBe(true);
    expect(screen.getByTestId('managed-clientId')).toBeTruthy();
    expect(value('tenant').value).toBe('contoso.onmicrosoft.com');
    expect(value('tenant').readOnly).toBe(false);
    expect(value('organization-name').value).toBe('Contoso');
    for (const field of FIELDS.filter((f) => f !== 'clientId')) expect(screen.queryByTestId(`managed-${field}`), field).toBeNull();
  });

  it('pre-fills unlocked values without badges, and they can be changed', async () => {
    const policy = noPolicy({
      present: true,
      organizationName: { value: 'Contoso Ltd.', locked: false },
      tenant: { value: 'contoso.onmicrosoft.com', locked: false },
      redirectMode: { value: 'loopback', locked: false },
    });
    const { calls } = await openStep1({
      handlers: { managed_policy: () => policy, save_exchange_online: () => overview({ enabled: true }) },
    });
    expect(screen.getByTestId('policy-notice').textContent).toContain('suggested by your organization');
    for (const field of FIELDS) expect(screen.queryByTestId(`managed-${field}`), field).toBeNull();
    expect(value('organization-name').value).toBe('Contoso Ltd.');
    expect(value('tenant').value).toBe('contoso.onmicrosoft.com');
    expect(value('tenant').readOnly).toBe(false);
    expect(checkedMode()).toBe('loopback');
    await fireEvent.input(value('tenant'), { target: { value: 'other.example' } });
    await fireEvent.input(value('client-id'), { target: { value: CLIENT } });
    await fireEvent.click(document.querySelector('input[name=redirect-mode][value=deep_link]') as HTMLInputElement);
    await fireEvent.click(screen.getByTestId('save-exchange'));
    await waitFor(() => expect(lastCall(calls, 'save_exchange_online')).toBeTruthy());
    expect(lastCall(calls, 'save_exchange_online')?.args).toMatchObject({
      input: { organizationName: 'Contoso Ltd.', tenant: 'other.example', redirectMode: 'deep_link' },
    });
  });

  it('lists the sign-in addresses the policy allows', async () => {
    const policy = noPolicy({ present: true, allowedAuthorities: ['https://login.microsoftonline.com', GOV] });
    await openStep1({ handlers: { managed_policy: () => policy } });
    await fireEvent.click(screen.getByTestId('show-advanced'));
    expect(screen.getByTestId('allowed-authorities').textContent?.trim()).toBe(
      `Your organization's IT allows only these sign-in addresses: https://login.microsoftonline.com, ${GOV}`,
    );
    expect(value('authority').readOnly).toBe(false);
  });

  it('does not pre-fill over saved settings', async () => {
    const policy = noPolicy({ present: true, tenant: { value: 'suggested.example', locked: false } });
    await openStep1({ overview: overview({ enabled: true }), handlers: { managed_policy: () => policy } });
    await fireEvent.click(screen.getByTestId('edit-exchange'));
    expect(value('tenant').value).toBe('contoso.onmicrosoft.com');
  });

  it('explains saved settings that differ from the policy, with the form to save again', async () => {
    const ov = { ...overview({ enabled: true, steps: ['partial', 'done', 'done', 'todo'] }), policyConflicts: ['tenant', 'clientId'] };
    const policy = noPolicy({
      present: true,
      tenant: { value: 'contoso.onmicrosoft.us', locked: true },
      clientId: { value: '99999999-8888-7777-6666-555555555555', locked: true },
    });
    await openStep1({ overview: ov, handlers: { managed_policy: () => policy } });
    const banner = screen.getByTestId('policy-conflict');
    expect(banner.getAttribute('data-fields')).toBe('tenant,clientId');
    expect(banner.textContent).toContain('The saved settings differ from your organization');
    expect(banner.textContent).toContain("IT manages the tenant, the application (client) ID on this computer");
    expect(banner.textContent).toContain('Save step 1 again');
    // The form is open with the managed values, and cannot be cancelled back to the old ones.
    expect(value('tenant').value).toBe('contoso.onmicrosoft.us');
    expect(value('client-id').value).toBe('99999999-8888-7777-6666-555555555555');
    expect(screen.queryByTestId('org-summary')).toBeNull();
    expect(screen.queryByText('Cancel')).toBeNull();
  });

  it('has no conflict banner without conflicts', async () => {
    await openStep1({ overview: overview({ enabled: true }) });
    expect(screen.queryByTestId('policy-conflict')).toBeNull();
    expect(screen.queryByTestId('policy-error')).toBeNull();
    expect(screen.queryByTestId('policy-notice')).toBeNull();
  });

  it('says when the policy file cannot be used', async () => {
    await openStep1({
      handlers: {
        managed_policy: () => {
          throw uiError('policy_invalid', 'admin', { path: '/etc/exo-setup/policy.json', problem: 'expected a JSON object' });
        },
      },
    });
    const banner = screen.getByTestId('policy-error');
    expect(banner.getAttribute('data-kind')).toBe('policy_invalid');
    expect(banner.textContent).toContain('The managed policy cannot be read');
    expect(banner.textContent).toContain('(/etc/exo-setup/policy.json) cannot be used: expected a JSON object.');
    expect(within(banner).getByTestId('actor-badge').getAttribute('data-actor')).toBe('admin');
    expect(value('tenant').readOnly).toBe(false);
  });

  it('shows a locked-field refusal next to that field, in words', async () => {
    await openStep1({
      handlers: {
        save_exchange_online: () => {
          throw uiError('policy_locked_field', 'user', { field: 'authority', value: 'https://login.microsoftonline.com' });
        },
      },
    });
    await fill('contoso.example', CLIENT);
    await fireEvent.click(screen.getByTestId('save-exchange'));
    const alert = await screen.findByTestId('error');
    expect(alert.textContent).toContain(
      "Your organization's IT manages the sign-in address (authority) on this computer: it must be https://login.microsoftonline.com. Nothing was saved.",
    );
    expect(value('authority').getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById('authority-error')?.textContent).toContain('must be https://login.microsoftonline.com');
  });

  it('names a managed redirect mode in words, in Japanese too', async () => {
    await openStep1({
      locale: 'ja-JP',
      handlers: {
        managed_policy: () => locked,
        save_exchange_online: () => {
          throw uiError('policy_locked_field', 'user', { field: 'redirectMode', value: 'loopback' });
        },
      },
    });
    expect(screen.getByTestId('managed-tenant').textContent).toBe('組織の IT が管理');
    await fireEvent.click(screen.getByTestId('save-exchange'));
    const alert = await screen.findByTestId('error');
    expect(alert.textContent).toContain('このパソコンのサインイン後の戻り先は組織の IT 部門が管理しており、「ループバック」である必要があります。');
  });
});
