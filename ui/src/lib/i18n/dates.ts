import { langState } from './lang.svelte';

/** An RFC 3339 time as a medium date and short time in the UI language (as given if unreadable). */
export function formatDateTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? iso
    : d.toLocaleString(langState.lang === 'ja' ? 'ja-JP' : 'en-US', { dateStyle: 'medium', timeStyle: 'short' });
}
