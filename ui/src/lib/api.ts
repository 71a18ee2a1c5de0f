/**
 * The one place the UI talks to Rust. Every command is typed with the ts-rs generated bindings;
 * every rejection is normalized into a `UiError`.
 */
import { invoke, type InvokeArgs, type InvokeOptions } from '@tauri-apps/api/core';
import type { AccountInput } from '../bindings/AccountInput';
import type { AccountPage } from '../bindings/AccountPage';
import type { AccountQuery } from '../bindings/AccountQuery';
import type { AccountRow } from '../bindings/AccountRow';
import type { AppInfo } from '../bindings/AppInfo';
import type { ImportMode } from '../bindings/ImportMode';
import type { ImportOutcome } from '../bindings/ImportOutcome';
import type { ImportPreview } from '../bindings/ImportPreview';
import type { OrgSettingsInput } from '../bindings/OrgSettingsInput';
import type { SetupOverview } from '../bindings/SetupOverview';
import { toUiError } from './errors/uiError';

async function call<T>(cmd: string, args?: InvokeArgs, options?: InvokeOptions): Promise<T> {
  try {
    return await invoke<T>(cmd, args, options);
  } catch (raw) {
    throw toUiError(raw);
  }
}

/** Ids are i64 in Rust; ts-rs may type them as bigint. The IPC carries them as JSON numbers. */
export type Id = number | bigint;
const id = (value: Id): number => Number(value);

export const api = {
  appInfo: () => call<AppInfo>('app_info'),
  setupOverview: () => call<SetupOverview>('setup_overview'),
  saveExchangeOnline: (input: OrgSettingsInput) => call<SetupOverview>('save_exchange_online', { input }),
  setServerEnabled: (serverId: Id, enabled: boolean) =>
    call<SetupOverview>('set_server_enabled', { serverId: id(serverId), enabled }),
  listAccounts: (query: AccountQuery) => call<AccountPage>('list_accounts', { query }),
  addAccount: (input: AccountInput) => call<AccountRow>('add_account', { input }),
  updateAccount: (accountId: Id, input: AccountInput) =>
    call<AccountRow>('update_account', { id: id(accountId), input }),
  deleteAccount: (accountId: Id) => call<null>('delete_account', { id: id(accountId) }),
  /** The file's raw bytes as the raw request body: Rust detects the encoding. */
  previewCsvImport: (bytes: Uint8Array) => call<ImportPreview>('preview_csv_import', bytes),
  importCsv: (bytes: Uint8Array, mode: ImportMode) =>
    call<ImportOutcome>('import_csv', bytes, { headers: { 'x-import-mode': mode } }),
  /** Rust shows the save dialog; the path written, or null when cancelled. */
  exportCsv: () => call<string | null>('export_csv'),
  uiReady: () => call<null>('ui_ready'),
};
