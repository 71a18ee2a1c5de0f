/** The wizard's shared state: what Rust told us, and where the person is. */
import type { AppInfo } from '../bindings/AppInfo';
import type { SetupOverview } from '../bindings/SetupOverview';
import type { StepStatus } from '../bindings/StepStatus';

export type Mode = 'admin' | 'user';
export type StepNo = 1 | 2 | 3 | 4;
export const STEPS: readonly StepNo[] = [1, 2, 3, 4];
export const MODE_STEPS: Record<Mode, readonly StepNo[]> = { admin: [1, 2, 3], user: [4] };
const MODE_KEY = 'exo-setup.mode';

export const app = $state<{
  info: AppInfo | null;
  overview: SetupOverview | null;
  mode: Mode | null;
  step: StepNo;
}>({ info: null, overview: null, mode: null, step: 1 });

export function stepStatus(step: number): StepStatus {
  return app.overview?.steps.find((s) => Number(s.step) === step)?.status ?? 'blocked';
}

/** A step can be opened when it belongs to the chosen role and no earlier step blocks it. */
export function isReachable(step: StepNo): boolean {
  if (!app.mode || !MODE_STEPS[app.mode].includes(step)) return false;
  // The person's own step (4) is always shown, with its explanation, even when blocked.
  return app.mode === 'user' || stepStatus(step) !== 'blocked';
}

/** The role chosen last in this session (sessionStorage: forgotten when the app closes). */
export function lastMode(): Mode | null {
  try {
    const v = sessionStorage.getItem(MODE_KEY);
    return v === 'admin' || v === 'user' ? v : null;
  } catch {
    return null;
  }
}

export function chooseMode(mode: Mode): void {
  try {
    sessionStorage.setItem(MODE_KEY, mode);
  } catch {
    /* no storage: nothing to remember */
  }
  app.mode = mode;
  app.step = MODE_STEPS[mode][0];
}

export function leaveMode(): void {
  app.mode = null;
}

export function goTo(step: StepNo): void {
  if (isReachable(step)) app.step = step;
}

export function setOverview(overview: SetupOverview): void {
  app.overview = overview;
}
