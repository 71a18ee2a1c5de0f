/**
 * "Sign in again" notices from Rust's token upkeep (`exo://needs-reauth`), shown as a banner above
 * every screen. This module is small and in the entry chunk; the banner, its texts and the OS
 * notification are loaded when the first notice arrives (`announce.ts`).
 */
import type { NeedsReauth } from '../../bindings/NeedsReauth';
import { sameAddress } from '../address';
import { api, type UnlistenFn } from '../api';
import { chooseMode } from '../app.svelte';

export const reauth = $state<{ notices: NeedsReauth[]; open: string | null; start: boolean }>({
  notices: [],
  open: null,
  start: false,
});

/** Shows `notice` (replacing an older one of the same mailbox). */
export function addNotice(notice: NeedsReauth): void {
  reauth.notices = [...reauth.notices.filter((n) => !sameAddress(n.address, notice.address)), notice];
}

export function dismissNotice(address: string): void {
  reauth.notices = reauth.notices.filter((n) => !sameAddress(n.address, address));
}

/**
 * Opens step 4 with `address` chosen (step 4 picks `reauth.open` up and clears it). With `start`,
 * step 4 also starts the sign-in at once (an invitation just accepted: one click for the user).
 */
export function openSignIn(address: string, start = false): void {
  dismissNotice(address);
  reauth.open = address;
  reauth.start = start;
  chooseMode('user');
}

/** Listens for notices for the whole run of the app; each is shown and sent as an OS notification. */
export function listenForReauth(): Promise<UnlistenFn> {
  return api.onNeedsReauth((notice) => {
    void import('./announce').then((m) => m.announce(notice));
  });
}
