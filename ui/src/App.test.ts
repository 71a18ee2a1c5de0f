import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import { appInfo, backend, demoSettings, overview, uiError } from './test/fixtures';
import { renderApp } from './test/render';
import App from './App.svelte';

describe('language', () => {
  it('starts in Japanese when the system locale is Japanese, and switches to English', async () => {
    await renderApp({ locale: 'ja-JP' });
    expect(document.documentElement.lang).toBe('ja');
    expect(screen.getByTestId('start-admin').textContent).toContain('システム管理者の設定');
    expect(screen.getByTestId('lang-ja').getAttribute('aria-pressed')).toBe('true');

    await fireEvent.click(screen.getByTestId('lang-en'));
    expect(document.documentElement.lang).toBe('en');
    expect(screen.getByTestId('start-admin').textContent).toContain('Administrator setup');
    expect(screen.getByTestId('lang-en').getAttribute('aria-pressed')).toBe('true');
    expect(localStorage.getItem('exo-setup.lang')).toBe('en');
  });

  it('starts in English for other locales', async () => {
    await renderApp({ locale: 'de-DE' });
    expect(document.documentElement.lang).toBe('en');
    expect(screen.getByTestId('start-user').textContent).toContain('My mail account');
  });

  it('prefers the saved choice over the system locale', async () => {
    localStorage.setItem('exo-setup.lang', 'ja');
    await renderApp({ locale: 'en-US' });
    expect(document.documentElement.lang).toBe('ja');
    expect(screen.getByTestId('start-user').textContent).toContain('自分のメールアカウント');
  });

  it('switches the language inside the wizard too', async () => {
    await renderApp({ locale: 'en-US' });
    await fireEvent.click(screen.getByTestId('start-admin'));
    expect((await screen.findByTestId('save-exchange')).textContent).toContain('Save and use');
    await fireEvent.click(screen.getByTestId('lang-ja'));
    expect(screen.getByTestId('save-exchange').textContent).toContain('保存して使用する');
  });
});

describe('start screen and step indicator', () => {
  it('tells Rust when the first frame is painted', async () => {
    const { calls } = await renderApp();
    await waitFor(() => expect(calls.some((c) => c.cmd === 'ui_ready')).toBe(true));
    expect(calls.filter((c) => c.cmd === 'ui_ready')).toHaveLength(1);
  });

  it('renders each step status from the overview', async () => {
    await renderApp({ overview: overview({ enabled: true, steps: ['done', 'partial', 'todo', 'blocked'] }) });
    await fireEvent.click(screen.getByTestId('start-admin'));
    const indicator = screen.getByTestId('step-indicator');
    const statuses = [1, 2, 3, 4].map((n) => indicator.querySelector(`[data-testid=nav-step-${n}]`)?.getAttribute('data-status'));
    expect(statuses).toEqual(['done', 'partial', 'todo', 'blocked']);
    expect(screen.getByTestId('nav-step-1').getAttribute('aria-current')).toBe('step');
    expect(screen.getByTestId('nav-step-2').textContent).toContain('In progress');
    expect((screen.getByTestId('nav-step-4') as HTMLButtonElement).disabled).toBe(true);

    await fireEvent.click(screen.getByTestId('nav-step-2'));
    expect(screen.getByTestId('nav-step-2').getAttribute('aria-current')).toBe('step');
    expect(screen.getByTestId('nav-step-1').hasAttribute('aria-current')).toBe(false);
  });

  it('does not let the admin past a blocked step', async () => {
    await renderApp({ overview: overview({ enabled: false }) });
    await fireEvent.click(screen.getByTestId('start-admin'));
    expect((screen.getByTestId('next-step') as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByTestId('nav-step-2') as HTMLButtonElement).disabled).toBe(true);
  });

  it('opens step 4 for "My mail account", explaining what the administrator must do first', async () => {
    await renderApp();
    await fireEvent.click(screen.getByTestId('start-user'));
    expect(screen.getByTestId('nav-step-4').getAttribute('aria-current')).toBe('step');
    expect(screen.getByTestId('step4-not-ready').textContent).toContain('administrator must first complete steps 1 and 2');
    expect(screen.queryByTestId('step4-signin')).toBeNull();
    expect(sessionStorage.getItem('exo-setup.mode')).toBe('user');
  });

  it('explains step 3 and why it avoids error 11102', async () => {
    await renderApp({ overview: overview({ enabled: true, steps: ['done', 'done', 'todo', 'todo'] }) });
    await fireEvent.click(screen.getByTestId('start-admin'));
    await fireEvent.click(screen.getByTestId('nav-step-3'));
    expect(document.body.textContent).toContain('11102');
    expect((screen.getByTestId('step3-grant') as HTMLButtonElement).disabled).toBe(false);
  });
});

describe('demo badge', () => {
  it('is shown in the header from the start screen on while demo settings are set', async () => {
    await renderApp({ demo: demoSettings() });
    await waitFor(() => expect(screen.getByTestId('demo-badge').textContent).toBe('DEMO'));
    await fireEvent.click(screen.getByTestId('start-user'));
    expect(screen.getByTestId('demo-badge')).toBeTruthy();
  });

  it('is absent without demo settings', async () => {
    await renderApp({ demo: null });
    expect(screen.queryByTestId('demo-badge')).toBeNull();
  });
});

describe('start failure and language switch', () => {
  it('shows the failure with its error text when Rust cannot answer at start', async () => {
    backendFailing();
    await waitFor(() => expect(screen.getByTestId('error').getAttribute('data-kind')).toBe('storage'));
    expect(document.body.textContent).toContain('The app could not load its settings.');
  });

  it('switches the language inside a step without losing what was typed', async () => {
    await renderApp({ locale: 'en-US' });
    await fireEvent.click(screen.getByTestId('start-admin'));
    await screen.findByTestId('save-exchange');
    await fireEvent.input(document.getElementById('tenant') as HTMLInputElement, { target: { value: 'kept.example' } });
    await fireEvent.click(screen.getByTestId('lang-ja'));
    await waitFor(() => expect(screen.getByTestId('save-exchange').textContent).toContain('保存して使用する'));
    expect((document.getElementById('tenant') as HTMLInputElement).value).toBe('kept.example');
  });
});

function backendFailing() {
  const info = appInfo();
  backend({
    app_info: () => info,
    setup_overview: () => {
      throw uiError('storage', 'support');
    },
    ui_ready: () => null,
  });
  render(App);
}
