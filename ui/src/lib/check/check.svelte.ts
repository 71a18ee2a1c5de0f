/**
 * Step 4's connection check: runs `check_account`, listens for `exo://account-checked` (every
 * check, including the one Rust runs by itself after each sign-in) and keeps, per mailbox, the
 * newest report, whether a check is under way and why one could not run.
 */
import type { MailCheckReport } from '../../bindings/MailCheckReport';
import type { UiError } from '../../bindings/UiError';
import { addressKey } from '../address';
import { api, type UnlistenFn } from '../api';
import { toUiError } from '../errors/uiError';

/** How long to wait for the check Rust runs after a sign-in before giving up on it (ms). */
export const AUTO_CHECK_WAIT_MS = 120_000;

export class MailCheck {
  /** The newest report per mailbox (lower-case address). */
  reports = $state<Record<string, MailCheckReport>>({});
  /** Mailboxes whose check is under way (or expected, right after a sign-in). */
  running = $state<Record<string, boolean>>({});
  /** Why a check could not start (not signed in, server off, token refresh failed, …). */
  errors = $state<Record<string, UiError>>({});

  private readonly onreport?: (report: MailCheckReport) => void;
  private readonly onfailed?: (address: string, error: UiError) => void;
  private unlisten: UnlistenFn | null = null;
  private destroyed = false;
  private timers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(
    onreport?: (report: MailCheckReport) => void,
    onfailed?: (address: string, error: UiError) => void,
  ) {
    this.onreport = onreport;
    this.onfailed = onfailed;
  }

  /** Listens for ended checks (call from `onMount`). */
  async attach(): Promise<void> {
    try {
      const unlisten = await api.onAccountChecked((r) => this.receive(r));
      if (this.destroyed) unlisten();
      else this.unlisten = unlisten;
    } catch {
      /* no events: results of "Check again" still arrive as the command's answer */
    }
  }

  /** Stops listening (call from `onDestroy`). */
  detach(): void {
    this.destroyed = true;
    this.unlisten?.();
    this.unlisten = null;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  report(address: string): MailCheckReport | null {
    return this.reports[addressKey(address)] ?? null;
  }

  isRunning(address: string): boolean {
    return this.running[addressKey(address)] === true;
  }

  error(address: string): UiError | null {
    return this.errors[addressKey(address)] ?? null;
  }

  /** Hides why the last check of `address` could not run. */
  dismissError(address: string): void {
    delete this.errors[addressKey(address)];
  }

  /** A check of `address` is about to run in Rust (after a sign-in): show it as under way. */
  expect(address: string): void {
    const k = addressKey(address);
    this.running[k] = true;
    delete this.errors[k];
    clearTimeout(this.timers.get(k));
    this.timers.set(
      k,
      setTimeout(() => {
        this.timers.delete(k);
        this.running[k] = false;
      }, AUTO_CHECK_WAIT_MS),
    );
  }

  /** Checks `address` now (unless a check of it is already under way). */
  async run(address: string): Promise<void> {
    const k = addressKey(address);
    if (this.running[k]) return;
    this.running[k] = true;
    delete this.errors[k];
    try {
      this.receive(await api.checkAccount(address));
    } catch (e) {
      if (this.destroyed) return;
      const error = toUiError(e);
      this.errors[k] = error;
      this.onfailed?.(address, error);
    } finally {
      if (!this.destroyed) this.running[k] = false;
    }
  }

  /** A report (event or answer): kept unless a newer one of the same mailbox is already there. */
  private receive(report: MailCheckReport): void {
    if (this.destroyed) return;
    const k = addressKey(report.address);
    clearTimeout(this.timers.get(k));
    this.timers.delete(k);
    this.running[k] = false;
    const known = this.reports[k];
    if (known && known.checkedAt > report.checkedAt) return;
    this.reports[k] = report;
    delete this.errors[k];
    this.onreport?.(report);
  }
}
