import { emit } from '@tauri-apps/api/event';
import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import type { ErrorKind } from '../../bindings/ErrorKind';
import type { FlowFinished } from '../../bindings/FlowFinished';
import type { FlowSnapshot } from '../../bindings/FlowSnapshot';
import type { SetupOverview } from '../../bindings/SetupOverview';
import {
  adminConsent,
  CONSENT_SCOPES,
  flowFinished,
  flowStarted,
  lastCall,
  overview,
  uiError,
  type Call,
} from '../../test/fixtures';
import { renderApp, type Handlers } from '../../test/render';
import { setLang } from '../i18n';

const [IMAP, POP, SMTP, OFFLINE] = CONSENT_SCOPES;
const FLOW = flowStarted('admin_consent');

function todo(): SetupOverview {
  return { ...overview({ enabled: true, steps: ['done', 'done', 'todo', 'todo'] }), accountCount: 3 };
}

function granted(): SetupOverview {
  return {
    ...overview({ enabled: true, steps: ['done', 'done', 'done', 'todo'] }),
    accountCount: 3,
    consent: adminConsent(),
    consentMissing: [],
  };
}

async function openStep3(opts: { overview?: SetupOverview; handlers?: Handlers } = {}): Promise<{ calls: Call[] }> {
  const rendered = await renderApp({
    overview: opts.overview ?? todo(),
    handlers: { begin_admin_consent: () => FLOW, cancel_flow: () => null, ...opts.handlers },
  });
  await fireEvent.click(screen.getByTestId('start-admin'));
  await fireEvent.click(screen.getByTestId('nav-step-3'));
  // Listening first, then the snapshot: only then can an event reach the screen.
  await waitFor(() => expect(lastCall(rendered.calls, 'flow_snapshot')).toBeTruthy());
  expect(rendered.calls.some((c) => c.cmd === 'plugin:event|listen')).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  return rendered;
}

async function finish(payload: FlowFinished) {
  await emit('exo://flow-finished', payload);
  await new Promise((resolve) => setTimeout(resolve, 0));
}

async function grant() {
  await fireEvent.click(screen.getByTestId('step3-grant'));
  return screen.findByTestId('flow-waiting');
}

describe('step 3: admin consent', () => {
  it('shows the tenant, the client ID and each requested scope with what it is for', async () => {
    await openStep3();
    expect(screen.getByTestId('step3-tenant').textContent).toBe('contoso.onmicrosoft.com');
    expect(screen.getByTestId('step3-client-id').textContent).toBe('11111111-2222-3333-4444-555555555555');
    const scopes = screen.getAllByTestId('step3-scope');
    expect(scopes.map((s) => s.getAttribute('data-scope'))).toEqual(CONSENT_SCOPES);
    expect(scopes[0].textContent).toContain('Read mail over IMAP');
    expect(scopes[1].textContent).toContain('Read mail over POP');
    expect(scopes[2].textContent).toContain('Send mail');
    expect(scopes[3].textContent).toContain('Stay signed in');
    expect(document.body.textContent).toContain('Global Administrator, Privileged Role Administrator or Cloud Application Administrator');
    expect(document.body.textContent).toContain('issues no token');
    expect(screen.getByTestId('step3-consent-status').getAttribute('data-state')).toBe('none');
    expect(screen.getByTestId('step3-grant').textContent).toContain('Grant admin consent in the browser');
  });

  it('shows the recorded consent and the scopes it does not cover', async () => {
    await openStep3({
      overview: { ...todo(), consent: adminConsent({ scopes: [IMAP, SMTP, OFFLINE] }), consentMissing: [POP] },
    });
    const status = screen.getByTestId('step3-consent-status');
    expect(status.getAttribute('data-state')).toBe('missing');
    expect(within(status).getByTestId('step3-granted-by').textContent).toBe('admin@contoso.onmicrosoft.com');
    expect(within(status).getAllByTestId('step3-granted-scope').map((s) => s.getAttribute('data-scope'))).toEqual([
      IMAP,
      SMTP,
      OFFLINE,
    ]);
    expect(within(status).getByTestId('step3-missing').textContent).toContain('Not yet covered: POP');
    expect(screen.getByTestId('step3-grant').textContent).toContain('Grant admin consent in the browser');
  });

  it('offers "Grant again" when the recorded consent covers everything', async () => {
    await openStep3({ overview: granted() });
    const status = screen.getByTestId('step3-consent-status');
    expect(status.getAttribute('data-state')).toBe('complete');
    expect(status.textContent).toContain('covers every permission needed');
    expect(screen.getByTestId('step3-grant').textContent?.trim()).toBe('Grant again');
    setLang('ja');
    await waitFor(() => expect(screen.getByTestId('step3-grant').textContent?.trim()).toBe('もう一度同意を付与する'));
  });

  it('waits for the browser, then shows the consent and refreshes the overview', async () => {
    let consented = false;
    const { calls } = await openStep3({ handlers: { setup_overview: () => (consented ? granted() : todo()) } });
    const overviews = calls.filter((c) => c.cmd === 'setup_overview').length;

    const waiting = await grant();
    expect(lastCall(calls, 'begin_admin_consent')).toBeTruthy();
    expect(waiting.getAttribute('data-browser-opened')).toBe('true');
    expect(waiting.textContent).toContain("Microsoft's admin consent page is open in your browser");
    expect(within(waiting).getByTestId('flow-expires').textContent).toContain('2030');
    expect((screen.getByTestId('step3-grant') as HTMLButtonElement).disabled).toBe(true);

    consented = true;
    await finish(flowFinished(FLOW.flowId, 'admin_consent', { outcome: 'admin_consented', consent: adminConsent() }));

    const success = await screen.findByTestId('flow-success');
    expect(success.textContent).toContain('72f988bf-86f1-41af-91ab-2d7cd011db47');
    expect(within(success).getAllByTestId('flow-success-scope')).toHaveLength(4);
    expect(screen.queryByTestId('flow-waiting')).toBeNull();
    await waitFor(() => expect(calls.filter((c) => c.cmd === 'setup_overview').length).toBe(overviews + 1));
    await waitFor(() => expect(screen.getByTestId('step3-consent-status').getAttribute('data-state')).toBe('complete'));
    expect(screen.getByTestId('nav-step-3').getAttribute('data-status')).toBe('done');
    expect(screen.getByTestId('step3-grant').textContent?.trim()).toBe('Grant again');
  });

  it("ignores the end of another screen's flow", async () => {
    await openStep3();
    await grant();
    await finish(flowFinished('someone-elses-flow', 'sign_in', uiErrorResult('sign_in_cancelled', 'user')));
    await finish(flowFinished('another-consent', 'admin_consent', { outcome: 'admin_consented', consent: adminConsent() }));
    expect(screen.getByTestId('flow-waiting')).toBeTruthy();
    expect(screen.queryByTestId('flow-success')).toBeNull();
    expect(screen.queryByTestId('flow-error')).toBeNull();
  });

  it('shows a redirect that matched no flow (flowId null), and keeps waiting for its own', async () => {
    await openStep3();
    await grant();
    await finish(flowFinished(null, null, uiErrorResult('state_unknown', 'user')));
    const error = await screen.findByTestId('flow-error');
    expect(within(error).getByTestId('error').getAttribute('data-kind')).toBe('state_unknown');
    expect(error.textContent).toContain('this app did not start');
    expect(screen.getByTestId('flow-waiting')).toBeTruthy();

    await finish(flowFinished(FLOW.flowId, 'admin_consent', { outcome: 'admin_consented', consent: adminConsent() }));
    await screen.findByTestId('flow-success');
    expect(screen.queryByTestId('flow-error')).toBeNull();
  });

  it('cancels through cancel_flow and shows the cancellation', async () => {
    const { calls } = await openStep3();
    await grant();
    await fireEvent.click(screen.getByTestId('flow-cancel'));
    await waitFor(() => expect(lastCall(calls, 'cancel_flow')?.args).toEqual({ flowId: FLOW.flowId }));
    await finish(flowFinished(FLOW.flowId, 'admin_consent', uiErrorResult('flow_cancelled', 'user')));
    const error = await screen.findByTestId('flow-error');
    expect(error.textContent).toContain('Waiting for the browser was cancelled');
    expect(screen.queryByTestId('flow-waiting')).toBeNull();
    expect((screen.getByTestId('step3-grant') as HTMLButtonElement).disabled).toBe(false);
  });

  it('offers the link to copy when no browser could be opened', async () => {
    const copied: unknown[] = [];
    const offline = flowStarted('admin_consent', { browserOpened: false });
    await openStep3({
      handlers: {
        begin_admin_consent: () => offline,
        'plugin:clipboard-manager|write_text': (args) => {
          copied.push(args);
          return null;
        },
      },
    });
    const waiting = await grant();
    expect(waiting.getAttribute('data-browser-opened')).toBe('false');
    expect(within(waiting).getByTestId('flow-browser-state').textContent).toContain('No web browser could be opened');
    expect(waiting.textContent).toContain('Copy this link and open it in your web browser');
    expect(within(waiting).getByTestId('flow-url').textContent).toBe(offline.browserUrl);
    await fireEvent.click(within(waiting).getByTestId('flow-copy-url'));
    await waitFor(() => expect(copied).toEqual([expect.objectContaining({ text: offline.browserUrl })]));
  });

  it('shows Microsoft errors with who must act and the IDs for support', async () => {
    await openStep3();
    await grant();
    const error = uiError('admin_role_required', 'admin', {
      code: '90093',
      error: 'access_denied',
      traceId: 'trace-1',
      correlationId: 'corr-2',
    });
    await finish(flowFinished(FLOW.flowId, 'admin_consent', { outcome: 'failed', error }));
    const box = await screen.findByTestId('flow-error');
    expect(box.textContent).toContain('is not an administrator (AADSTS90093)');
    expect(within(box).getByTestId('actor-badge').getAttribute('data-actor')).toBe('admin');
    expect(within(box).getByTestId('support-code').textContent).toBe('AADSTS90093');
    expect(within(box).getByTestId('support-traceId').textContent).toBe('trace-1');
    expect(within(box).getByTestId('support-correlationId').textContent).toBe('corr-2');
    expect(within(box).getByTestId('copy-support')).toBeTruthy();
  });

  it('shows a result that arrived before the screen listened (snapshot)', async () => {
    const snapshot: FlowSnapshot = {
      pending: [],
      last: flowFinished('earlier', 'admin_consent', { outcome: 'admin_consented', consent: adminConsent() }),
    };
    await openStep3({ handlers: { flow_snapshot: () => snapshot } });
    expect(await screen.findByTestId('flow-success')).toBeTruthy();
  });

  it('keeps waiting for a flow started before the screen opened (snapshot)', async () => {
    const { calls } = await openStep3({ handlers: { flow_snapshot: () => ({ pending: [FLOW], last: null }) } });
    expect(await screen.findByTestId('flow-waiting')).toBeTruthy();
    expect(lastCall(calls, 'begin_admin_consent')).toBeUndefined();
    await finish(flowFinished(FLOW.flowId, 'admin_consent', uiErrorResult('admin_consent_declined', 'admin')));
    expect((await screen.findByTestId('flow-error')).textContent).toContain('Admin consent was declined');
  });

  it('stops listening when the screen closes', async () => {
    const { calls } = await openStep3();
    await fireEvent.click(screen.getByTestId('nav-step-2'));
    await waitFor(() => expect(calls.some((c) => c.cmd === 'plugin:event|unlisten')).toBe(true));
  });

  it('shows a failure to start', async () => {
    await openStep3({
      handlers: {
        begin_admin_consent: () => {
          throw uiError('loopback_unavailable', 'support', { cause: 'address in use' });
        },
      },
    });
    await fireEvent.click(screen.getByTestId('step3-grant'));
    const alert = await screen.findByTestId('error');
    expect(alert.getAttribute('data-kind')).toBe('loopback_unavailable');
    expect(alert.textContent).toContain('127.0.0.1');
    expect(alert.textContent).toContain('address in use');
    expect(screen.queryByTestId('flow-waiting')).toBeNull();
  });
});

function uiErrorResult(kind: ErrorKind, actor: 'admin' | 'user' | 'support') {
  return { outcome: 'failed' as const, error: uiError(kind, actor) };
}
