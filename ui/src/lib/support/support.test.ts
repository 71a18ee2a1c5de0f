import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import type { SupportBundle } from '../../bindings/SupportBundle';
import { lastCall, uiError } from '../../test/fixtures';
import { renderApp } from '../../test/render';
import { setLang, tIn } from '../i18n';

const PATH = '/home/taro/Downloads/exo-setup-support-20261205-235501.zip';

function written(hashAddresses: boolean): SupportBundle {
  return {
    path: PATH,
    files: ['README.txt', 'versions.json', 'settings.json', 'accounts.json', 'audit.json', 'logs/exo-setup-20261205.log'],
    addressesHashed: hashAddresses,
    redactions: 7,
  };
}

async function openDialog() {
  await fireEvent.click(screen.getByTestId('support-bundle'));
  return screen.findByTestId('support-dialog');
}

describe('support bundle (header)', () => {
  it('is offered on the start screen, before a role is chosen, and in the wizard for a user', async () => {
    await renderApp();
    expect(screen.getByTestId('support-bundle').textContent).toBe(tIn('en', 'header.support'));
    await fireEvent.click(screen.getByTestId('start-user'));
    expect(screen.getByTestId('support-bundle')).toBeTruthy();
  });

  it('writes the bundle with the addresses kept by default and shows the path and the file list', async () => {
    const { calls } = await renderApp({
      handlers: { create_support_bundle: (args) => written((args as { hashAddresses: boolean }).hashAddresses) },
    });
    const dialog = await openDialog();
    expect((within(dialog).getByTestId('support-hash') as HTMLInputElement).checked).toBe(false);
    await fireEvent.click(within(dialog).getByTestId('support-create'));
    const done = await within(dialog).findByTestId('support-done');
    expect(lastCall(calls, 'create_support_bundle')?.args).toEqual({ hashAddresses: false });
    expect(done.textContent).toContain(tIn('en', 'support.done', { path: PATH }));
    expect(done.textContent).toContain(tIn('en', 'support.kept'));
    const files = within(done).getByTestId('support-files');
    expect([...files.querySelectorAll('li')].map((li) => li.textContent)).toEqual(written(false).files);
  });

  it('asks Rust to hash the addresses when the box is ticked, in Japanese too', async () => {
    await setLang('ja');
    const { calls } = await renderApp({
      locale: 'ja-JP',
      handlers: { create_support_bundle: (args) => written((args as { hashAddresses: boolean }).hashAddresses) },
    });
    const dialog = await openDialog();
    await fireEvent.click(within(dialog).getByTestId('support-hash'));
    await fireEvent.click(within(dialog).getByTestId('support-create'));
    const done = await within(dialog).findByTestId('support-done');
    expect(lastCall(calls, 'create_support_bundle')?.args).toEqual({ hashAddresses: true });
    expect(done.textContent).toContain(tIn('ja', 'support.done', { path: PATH }));
    expect(done.textContent).toContain(tIn('ja', 'support.hashed'));
  });

  it('shows why the bundle could not be written', async () => {
    await renderApp({
      handlers: {
        create_support_bundle: () => {
          throw uiError('support_bundle_failed', 'user', { path: PATH, reason: 'No space left on device' });
        },
      },
    });
    const dialog = await openDialog();
    await fireEvent.click(within(dialog).getByTestId('support-create'));
    await waitFor(() =>
      expect(dialog.textContent).toContain(
        tIn('en', 'errors.support_bundle_failed', { path: PATH, reason: 'No space left on device' }),
      ),
    );
    expect(within(dialog).queryByTestId('support-done')).toBeNull();
    await fireEvent.click(within(dialog).getByTestId('support-close'));
    await waitFor(() => expect(screen.queryByTestId('support-dialog')).toBeNull());
  });
});
