import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import { demoSettings, lastCall, overview, uiError } from '../../test/fixtures';
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
