/**
 * Step 2's rollout for one screen: the status, queuing invitations or reminders, the send run
 * (progress events, cancel) and its summary. Every rule is Rust's (who is invited, pacing, never
 * twice): this only tracks what is under way and what came back. While the window is open, Rust's
 * timer also retries deferred mails and reads the receipts; its `exo://rollout-updated` reloads
 * the status shown.
 */
import type { MailLanguage } from '../../bindings/MailLanguage';
import type { Queued } from '../../bindings/Queued';
import type { ReadSummary } from '../../bindings/ReadSummary';
import type { RolloutSettings } from '../../bindings/RolloutSettings';
import type { RolloutStatus } from '../../bindings/RolloutStatus';
import type { SendProgress } from '../../bindings/SendProgress';
import type { SendSummary } from '../../bindings/SendSummary';
import type { UiError } from '../../bindings/UiError';
import { api, type RolloutRecipients, type UnlistenFn } from '../api';
import { toUiError } from '../errors/uiError';

export type RolloutPhase = 'idle' | 'queuing' | 'sending' | 'reading';

/** "No news" after this many days without a receipt, until the administrator says otherwise. */
export const DEFAULT_NO_NEWS_DAYS = 7;

export class RolloutController {
  status = $state<RolloutStatus | null>(null);
  settings = $state<RolloutSettings | null>(null);
  phase = $state<RolloutPhase>('idle');
  progress = $state<SendProgress | null>(null);
  queued = $state<Queued | null>(null);
  summary = $state<SendSummary | null>(null);
  exported = $state<string | null>(null);
  /** What the last read of the receipts found. */
  read = $state<ReadSummary | null>(null);
  error = $state<UiError | null>(null);
  cancelling = $state(false);
  noNewsDays = $state(DEFAULT_NO_NEWS_DAYS);

  private unlisten: UnlistenFn[] = [];
  private destroyed = false;
  /** A send run begun before this screen was drawn: its end comes as `exo://rollout-updated`. */
  private adopted = false;

  /** Listens for progress and timer events and loads the status and settings (call from `onMount`). */
  async attach(): Promise<void> {
    try {
      const unlisten = await Promise.all([
        api.onRolloutProgress((p) => {
          if (this.phase === 'sending') this.progress = p;
        }),
        // The timer's round changed the queue or read receipts: counts, table and "last checked".
        // It also ends a send run this screen adopted (its own runs end when their call returns).
        api.onRolloutUpdated((updated) => {
          if (this.adopted && this.phase === 'sending') {
            this.adopted = false;
            this.phase = 'idle';
            this.cancelling = false;
            this.summary = updated.retried;
          }
          // The timer's round needs the administrator (e.g. Exchange refused the sender).
          if (updated.problem && this.phase === 'idle') this.error = updated.problem;
          void this.reload();
        }),
      ]);
      if (this.destroyed) unlisten.forEach((u) => u());
      else this.unlisten = unlisten;
    } catch (e) {
      if (!this.destroyed) this.error = toUiError(e);
    }
    await Promise.all([this.reload(), this.loadSettings(), this.adoptRun()]);
  }

  /** A send run started before this screen (the administrator went to another step and back). */
  private async adoptRun(): Promise<void> {
    try {
      const running = await api.rolloutRun();
      if (running && !this.destroyed && this.phase === 'idle') {
        this.adopted = true;
        this.phase = 'sending';
        this.progress = running;
      }
    } catch (e) {
      if (!this.destroyed) this.error = toUiError(e);
    }
  }

  /** Stops listening; a send run goes on in Rust (what it sends stays recorded). */
  detach(): void {
    this.destroyed = true;
    this.unlisten.forEach((u) => u());
    this.unlisten = [];
  }

  async reload(): Promise<void> {
    try {
      const status = await api.rolloutStatus(this.noNewsDays);
      if (!this.destroyed) this.status = status;
    } catch (e) {
      if (!this.destroyed) this.error = toUiError(e);
    }
  }

  private async loadSettings(): Promise<void> {
    try {
      const settings = await api.rolloutSettings();
      if (!this.destroyed) this.settings = settings;
    } catch (e) {
      if (!this.destroyed) this.error = toUiError(e);
    }
  }

  async setSender(address: string, language: MailLanguage): Promise<void> {
    this.error = null;
    try {
      this.settings = await api.setRolloutSender(address, language);
    } catch (e) {
      this.error = toUiError(e);
    }
  }

  /** Queues invitations (`resend`: also to those invited before), then sends the queue. */
  invite(recipients: RolloutRecipients, resend: boolean): Promise<void> {
    return this.queueAndSend(() => api.queueInvitations(recipients, resend));
  }

  /** Queues reminders for those invited at least `afterDays` days ago without news, then sends. */
  remind(afterDays: number): Promise<void> {
    return this.queueAndSend(() => api.queueReminders(afterDays));
  }

  private async queueAndSend(queue: () => Promise<Queued>): Promise<void> {
    if (this.phase !== 'idle') return;
    this.phase = 'queuing';
    this.error = null;
    this.summary = null;
    this.queued = null;
    this.exported = null;
    try {
      this.queued = await queue();
      if (this.destroyed) return;
      this.phase = 'sending';
      this.progress = null;
      this.summary = await api.sendInvitations();
    } catch (e) {
      if (!this.destroyed) this.error = toUiError(e);
    } finally {
      this.cancelling = false;
      if (!this.destroyed) {
        this.phase = 'idle';
        await this.reload();
      }
    }
  }

  /** Asks Rust to stop after the mail under way; the run then resolves with `cancelled`. */
  async cancel(): Promise<void> {
    if (this.phase !== 'sending' || this.cancelling) return;
    this.cancelling = true;
    try {
      await api.cancelSending();
    } catch (e) {
      this.error = toUiError(e);
      this.cancelling = false;
    }
  }

  /** Reads the receipts and bounces from the sender's mailbox, then the status again. */
  async readReceipts(): Promise<void> {
    if (this.phase !== 'idle') return;
    this.phase = 'reading';
    this.error = null;
    this.read = null;
    try {
      this.read = await api.readReceipts();
    } catch (e) {
      if (!this.destroyed) this.error = toUiError(e);
    } finally {
      if (!this.destroyed) {
        this.phase = 'idle';
        await this.reload();
      }
    }
  }

  /** Rust asks where and writes the status CSV; the path is kept for the notice. */
  async exportCsv(): Promise<void> {
    this.error = null;
    this.exported = null;
    try {
      this.exported = await api.exportRolloutCsv(this.noNewsDays);
    } catch (e) {
      this.error = toUiError(e);
    }
  }
}
