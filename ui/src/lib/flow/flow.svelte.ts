/**
 * One browser round trip of step 3 (admin consent) or step 4 (sign-in), shared by both screens:
 * start it, wait for Rust's `exo://flow-finished` event, cancel it, and — when the screen opens —
 * pick up a flow still waiting or the last one that ended (the app may have been launched cold by
 * the redirect's deep link, before any screen listened).
 */
import type { FlowFinished } from '../../bindings/FlowFinished';
import type { FlowPurpose } from '../../bindings/FlowPurpose';
import type { FlowStarted } from '../../bindings/FlowStarted';
import type { UiError } from '../../bindings/UiError';
import { api, type UnlistenFn } from '../api';
import { toUiError } from '../errors/uiError';

/** Ended flows kept while a start is in flight, in case the end arrives before the start's answer. */
const EARLY_LIMIT = 8;

export class FlowController {
  /** The flow this screen waits for (shown as the waiting panel). */
  started = $state<FlowStarted | null>(null);
  /** The last end shown on this screen: its own flow, or a redirect that matched no flow. */
  finished = $state<FlowFinished | null>(null);
  /** A command that failed (starting, cancelling, the snapshot). */
  error = $state<UiError | null>(null);
  starting = $state(false);
  cancelling = $state(false);

  readonly purpose: FlowPurpose;
  private readonly onfinished?: (finished: FlowFinished) => void;
  private unlisten: UnlistenFn | null = null;
  private destroyed = false;
  private early: FlowFinished[] = [];

  constructor(purpose: FlowPurpose, onfinished?: (finished: FlowFinished) => void) {
    this.purpose = purpose;
    this.onfinished = onfinished;
  }

  /** True while the browser round trip is under way (the start button is then disabled). */
  get busy(): boolean {
    return this.starting || this.started !== null;
  }

  /**
   * Listens for ended flows, then asks Rust what happened meanwhile (in this order, so that nothing
   * ends unseen between the two). A flow of this screen still waiting is shown as waiting; else
   * the last end of this screen's kind (or of a redirect that matched no flow) is shown.
   */
  async attach(): Promise<void> {
    try {
      const unlisten = await api.onFlowFinished((f) => this.receive(f));
      if (this.destroyed) {
        unlisten();
        return;
      }
      this.unlisten = unlisten;
      const snapshot = await api.flowSnapshot();
      if (this.destroyed || this.busy || this.finished) return;
      const pending = snapshot.pending.find((p) => p.purpose === this.purpose);
      const last = snapshot.last;
      if (pending) this.started = pending;
      else if (last && (last.purpose === this.purpose || last.flowId === null)) this.end(last);
    } catch (e) {
      if (!this.destroyed) this.error = toUiError(e);
    }
  }

  /** Stops listening (call from `onDestroy`). */
  detach(): void {
    this.destroyed = true;
    this.unlisten?.();
    this.unlisten = null;
  }

  /** Starts a round trip with `begin` (e.g. `api.beginAdminConsent`). */
  async begin(begin: () => Promise<FlowStarted>): Promise<void> {
    if (this.busy) return;
    this.starting = true;
    this.error = null;
    this.finished = null;
    this.early = [];
    try {
      const started = await begin();
      if (this.destroyed) return;
      const ended = this.early.find((f) => f.flowId === started.flowId);
      if (ended) this.end(ended);
      else this.started = started;
    } catch (e) {
      this.error = toUiError(e);
    } finally {
      this.starting = false;
      this.early = [];
    }
  }

  /** Asks Rust to stop waiting; the end (`flow_cancelled`) arrives as an event. */
  async cancel(): Promise<void> {
    const flow = this.started;
    if (!flow || this.cancelling) return;
    this.cancelling = true;
    this.error = null;
    try {
      await api.cancelFlow(flow.flowId);
    } catch (e) {
      this.error = toUiError(e);
    } finally {
      this.cancelling = false;
    }
  }

  /** Forgets the last end (e.g. after signing out). */
  clear(): void {
    this.finished = null;
    this.error = null;
  }

  private receive(f: FlowFinished): void {
    if (this.destroyed) return;
    if (f.flowId === null) {
      // A redirect that matched no flow (forged, replayed, late): shown, but a flow of this screen
      // that is still waiting keeps waiting for its own answer.
      this.finished = f;
      this.onfinished?.(f);
      return;
    }
    if (this.started?.flowId === f.flowId) {
      this.end(f);
      return;
    }
    if (this.starting) this.early = [...this.early, f].slice(-EARLY_LIMIT);
    // Anything else belongs to another screen's flow.
  }

  private end(f: FlowFinished): void {
    this.started = null;
    this.finished = f;
    this.onfinished?.(f);
  }
}
