/**
 * The step screens and the invitation screen, each in its own chunk: the entry holds only the start screen and the shell. A
 * screen is loaded when first shown, and all of them are prefetched right after the first paint
 * (`prefetchScreens`), so moving between steps does not wait.
 */
import type { Component } from 'svelte';
import type { StepNo } from '../app.svelte';

type Loader = () => Promise<{ default: Component }>;

export class LazyScreen {
  /** The component once loaded (reactive), else null. */
  component = $state.raw<Component | null>(null);
  #loader: Loader;
  #pending: Promise<Component> | null = null;

  constructor(loader: Loader) {
    this.#loader = loader;
  }

  load(): Promise<Component> {
    this.#pending ??= this.#loader().then(
      (module) => (this.component = module.default),
      (err: unknown) => {
        this.#pending = null; // a later attempt may succeed
        throw err;
      },
    );
    return this.#pending;
  }
}

export const STEP_SCREENS: Record<StepNo, LazyScreen> = {
  1: new LazyScreen(() => import('../steps/Step1Exchange.svelte')),
  2: new LazyScreen(() => import('../steps/Step2Accounts.svelte')),
  3: new LazyScreen(() => import('../steps/Step3Consent.svelte')),
  4: new LazyScreen(() => import('../steps/Step4SignIn.svelte')),
};

/** Opening an invitation and its confirmation screen (`lib/invite/invite.svelte.ts` shows it). */
export const INVITATION_SCREEN = new LazyScreen(() => import('../invite/InvitationView.svelte'));

/** Loads every step screen and the invitation screen (each once). */
export function prefetchScreens(): Promise<unknown> {
  return Promise.all([...Object.values(STEP_SCREENS), INVITATION_SCREEN].map((screen) => screen.load()));
}

/** Runs `task` once the browser is idle after the current frame (or soon, where there is no idle callback). */
export function whenIdle(task: () => void): void {
  if (typeof requestIdleCallback === 'function') requestIdleCallback(task, { timeout: 200 });
  else setTimeout(task, 0);
}
