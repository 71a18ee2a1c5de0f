/**
 * Invitations on the user's side: which invitation screen is shown, over whatever screen was there.
 *
 * An invitation arrives by the OS (a clicked link, a double-clicked or dropped `.exoinvite` file:
 * event `exo://invitation-opened`, or `last_opened_invitation` for one handed over before the window
 * listened), or the person opens one themselves (start screen, step 4: paste a link or choose a
 * file). This module is small and in the entry chunk; the screens and their texts are loaded when
 * one is first shown.
 */
import type { InvitationOpened } from '../../bindings/InvitationOpened';
import type { InvitationPreview } from '../../bindings/InvitationPreview';
import type { UiError } from '../../bindings/UiError';
import { api, type UnlistenFn } from '../api';
import { catalogueReady } from '../i18n';
import { INVITATION_SCREEN } from '../shell/screens.svelte';

export type InvitationView = 'open' | 'preview';

export const invitation = $state<{
  /** The screen shown instead of the wizard, or null. */
  view: InvitationView | null;
  /** The invitation shown for confirmation (`view` 'preview'). */
  preview: InvitationPreview | null;
  /** Why an invitation handed over by the OS could not be opened (shown on the 'open' screen). */
  error: UiError | null;
  /** The screen's code and every text are loaded. */
  ready: boolean;
}>({ view: null, preview: null, error: null, ready: false });

let loading: Promise<void> | null = null;

/** Loads the screens and the full catalogue (once); `ready` follows. */
function prepare(): void {
  loading ??= Promise.all([INVITATION_SCREEN.load(), catalogueReady()]).then(
    () => {
      invitation.ready = true;
    },
    (e: unknown) => {
      loading = null;
      console.error('could not load the invitation screen', e);
    },
  );
}

/** The invitation on screen is given up for another one: Rust forgets it (best effort). */
function forgetShown(next: InvitationPreview | null): void {
  const shown = invitation.preview;
  if (shown && shown.invitationId !== next?.invitationId) {
    api.discardInvitation(shown.invitationId).catch(() => undefined);
  }
}

/** Shows the "open an invitation" screen (paste a link or choose a file). */
export function openInvitationPanel(): void {
  forgetShown(null);
  invitation.preview = null;
  invitation.error = null;
  invitation.view = 'open';
  prepare();
}

/** Shows an invitation for confirmation. */
export function showPreview(preview: InvitationPreview): void {
  forgetShown(preview);
  invitation.preview = preview;
  invitation.error = null;
  invitation.view = 'preview';
  prepare();
}

/** Shows what the OS handed over: the invitation, or why it cannot be used. */
export function showOpened(opened: InvitationOpened): void {
  if (opened.outcome === 'preview') {
    showPreview(opened.preview);
    return;
  }
  forgetShown(null);
  invitation.preview = null;
  invitation.error = opened.error;
  invitation.view = 'open';
  prepare();
}

/** Back to the screen that was there before. */
export function closeInvitation(): void {
  invitation.view = null;
  invitation.preview = null;
  invitation.error = null;
}

/**
 * Listens for invitations for the whole run of the app, then asks Rust once for one that arrived
 * before (cold start: the app was started by opening it).
 */
export async function listenForInvitations(): Promise<UnlistenFn> {
  const unlisten = await api.onInvitationOpened(showOpened);
  api.lastOpenedInvitation().then(
    (earlier) => earlier && showOpened(earlier),
    (e: unknown) => console.warn('could not ask for an invitation opened at start', e),
  );
  return unlisten;
}
