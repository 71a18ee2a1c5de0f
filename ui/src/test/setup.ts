import { cleanup } from '@testing-library/svelte';
import { clearMocks } from '@tauri-apps/api/mocks';
import { afterEach } from 'vitest';
import { app } from '../lib/app.svelte';
import { loadLang, setLang } from '../lib/i18n';
import { invitation } from '../lib/invite/invite.svelte';
import { reauth } from '../lib/reauth/reauth.svelte';
import { prefetchScreens } from '../lib/shell/screens.svelte';

// The app loads catalogues and step screens after its first paint; tests render screens at once
// and read texts in both languages, so both are loaded up front.
await Promise.all([loadLang('ja'), loadLang('en'), prefetchScreens()]);

afterEach(() => {
  cleanup();
  clearMocks();
  localStorage.clear();
  sessionStorage.clear();
  Object.assign(app, { info: null, overview: null, mode: null, step: 1 });
  Object.assign(invitation, { view: null, preview: null, error: null });
  Object.assign(reauth, { notices: [], open: null });
  void setLang('en');
});
