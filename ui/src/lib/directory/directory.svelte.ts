/**
 * The directory import's steps after the sign-in, for one screen: read (progress events, cancel),
 * the staged preview, apply or discard. Every rule is Rust's: this only tracks what is under way
 * and what came back. The diff's rows are not held here: `DirectoryDiff` pages them from SQLite.
 */
import type { DirectoryOutcome } from '../../bindings/DirectoryOutcome';
import type { DirectoryPreview } from '../../bindings/DirectoryPreview';
import type { DirectoryProgress } from '../../bindings/DirectoryProgress';
import type { DirectoryReadInput } from '../../bindings/DirectoryReadInput';
import type { ImportMode } from '../../bindings/ImportMode';
import type { UiError } from '../../bindings/UiError';
import { api, type UnlistenFn } from '../api';
import { toUiError } from '../errors/uiError';

export type DirectoryPhase = 'idle' | 'reading' | 'preview' | 'applying';

export class DirectoryImportController {
  phase = $state<DirectoryPhase>('idle');
  /** Pages and users read so far (while reading). */
  progress = $state<DirectoryProgress>({ pages: 0, users: 0 });
  preview = $state<DirectoryPreview | null>(null);
  outcome = $state<DirectoryOutcome | null>(null);
  error = $state<UiError | null>(null);
  cancelling = $state(false);

  private readonly onapplied: (outcome: DirectoryOutcome) => void;
  private unlisten: UnlistenFn | null = null;
  private destroyed = false;

  constructor(onapplied: (outcome: DirectoryOutcome) => void) {
    this.onapplied = onapplied;
  }

  /** Listens for progress events (call from `onMount`). */
  async attach(): Promise<void> {
    try {
      const unlisten = await api.onDirectoryProgress((p) => {
        if (this.phase === 'reading') this.progress = p;
      });
      if (this.destroyed) unlisten();
      else this.unlisten = unlisten;
    } catch (e) {
      if (!this.destroyed) this.error = toUiError(e);
    }
  }

  /** Stops listening and cancels a read under way (call from `onDestroy`). */
  detach(): void {
    this.destroyed = true;
    this.unlisten?.();
    this.unlisten = null;
    if (this.phase === 'reading') void api.cancelDirectoryRead().catch(() => undefined);
  }

  async read(input: DirectoryReadInput): Promise<void> {
    if (this.phase === 'reading' || this.phase === 'applying') return;
    this.phase = 'reading';
    this.progress = { pages: 0, users: 0 };
    this.preview = null;
    this.outcome = null;
    this.error = null;
    try {
      const preview = await api.readDirectory(input);
      if (this.destroyed) return;
      this.preview = preview;
      this.phase = 'preview';
    } catch (e) {
      if (this.destroyed) return;
      this.error = toUiError(e);
      this.phase = 'idle';
    } finally {
      this.cancelling = false;
    }
  }

  /** Asks Rust to stop after the current page; the read then rejects with `directory_cancelled`. */
  async cancel(): Promise<void> {
    if (this.phase !== 'reading' || this.cancelling) return;
    this.cancelling = true;
    try {
      await api.cancelDirectoryRead();
    } catch (e) {
      this.error = toUiError(e);
      this.cancelling = false;
    }
  }

  async apply(mode: ImportMode): Promise<void> {
    if (this.phase !== 'preview') return;
    this.phase = 'applying';
    this.error = null;
    try {
      const outcome = await api.applyDirectory(mode);
      if (this.destroyed) return;
      this.outcome = outcome;
      this.preview = null;
      this.phase = 'idle';
      this.onapplied(outcome);
    } catch (e) {
      if (this.destroyed) return;
      this.error = toUiError(e);
      this.phase = 'preview';
    }
  }

  /** Drops the staged read. */
  async discard(): Promise<void> {
    if (this.phase !== 'preview') return;
    this.preview = null;
    this.phase = 'idle';
    try {
      await api.discardDirectory();
    } catch (e) {
      this.error = toUiError(e);
    }
  }

  /** Forgets the last result and error. */
  clear(): void {
    this.outcome = null;
    this.error = null;
  }
}
