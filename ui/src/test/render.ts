import { render, screen, waitFor } from '@testing-library/svelte';
import App from '../App.svelte';
import { backend, appInfo, noPolicy, overview as makeOverview, rolloutStatus, type Call } from './fixtures';
import type { OrgSettingsInput } from '../bindings/OrgSettingsInput';
import type { SetupOverview } from '../bindings/SetupOverview';

export type Handlers = Parameters<typeof backend>[0];

/** Renders the whole app against a mocked backend and waits for the start screen. */
export async function renderApp(
  opts: { locale?: string; overview?: SetupOverview; demo?: OrgSettingsInput | null; handlers?: Handlers } = {},
): Promise<{ calls: Call[] }> {
  const calls = backend({
    app_info: () => appInfo(opts.locale ?? 'en-US', opts.demo ?? null),
    setup_overview: () => opts.overview ?? makeOverview(),
    ui_ready: () => null,
    flow_snapshot: () => ({ pending: [], last: null }),
    managed_policy: () => noPolicy(),
    last_opened_invitation: () => null,
    directory_signed_in: () => false,
    rollout_status: () => rolloutStatus([]),
    rollout_settings: () => null,
    rollout_run: () => null,
    self_service_state: () => ({ enabled: false, managed: null, pinnedByPolicy: false }),
    ...opts.handlers,
  });
  render(App);
  // The start screen paints before Rust answers; wait until the app has its info and overview too.
  await waitFor(() => screen.getByTestId('start-admin'));
  await waitFor(() => {
    if (!calls.some((c) => c.cmd === 'setup_overview')) throw new Error('setup_overview not called yet');
  });
  await new Promise((resolve) => setTimeout(resolve, 0));
  return { calls };
}
