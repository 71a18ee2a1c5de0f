/** Shows a "sign in again" notice in the window and as an OS notification, in the UI language. */
import type { NeedsReauth } from '../../bindings/NeedsReauth';
import { api } from '../api';
import { errorSummary } from '../errors/messages';
import { currentLang, loadLang, t } from '../i18n';
import { addNotice } from './reauth.svelte';

export async function announce(notice: NeedsReauth): Promise<void> {
  // The texts come with the full catalogue (loaded after the first paint; usually there already).
  await loadLang(currentLang()).catch(() => undefined);
  addNotice(notice);
  const reason = errorSummary(notice.error.kind, { ...notice.error.detail, address: notice.address });
  try {
    await api.notify(t('reauth.notifyTitle'), t('reauth.banner', { address: notice.address, reason }));
  } catch (e) {
    console.warn('could not show the OS notification', e);
  }
}
