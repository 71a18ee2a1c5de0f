/**
 * The one place the UI talks to Rust. Every command is typed with the ts-rs generated bindings;
 * every rejection is normalized into a `UiError`.
 */
import { invoke, type InvokeArgs, type InvokeOptions } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import { writeText } from '@tauri-apps/plugin-clipboard-manager';
import type { AccountInput } from '../bindings/AccountInput';
import type { OrganizationInvitation } from '../bindings/OrganizationInvitation';
import type { SelfServiceState } from '../bindings/SelfServiceState';
import type { ReceiveProtocol } from '../bindings/ReceiveProtocol';
import type { AccountPage } from '../bindings/AccountPage';
import type { AccountQuery } from '../bindings/AccountQuery';
import type { AccountRow } from '../bindings/AccountRow';
import type { AppInfo } from '../bindings/AppInfo';
import type { AppRegistration } from '../bindings/AppRegistration';
import type { DirectoryDiffPage } from '../bindings/DirectoryDiffPage';
import type { DirectoryDiffQuery } from '../bindings/DirectoryDiffQuery';
import type { DirectoryGroup } from '../bindings/DirectoryGroup';
import type { DirectoryOutcome } from '../bindings/DirectoryOutcome';
import type { DirectoryPreview } from '../bindings/DirectoryPreview';
import type { DirectoryProgress } from '../bindings/DirectoryProgress';
import type { DirectoryReadInput } from '../bindings/DirectoryReadInput';
import type { FlowFinished } from '../bindings/FlowFinished';
import type { FlowSnapshot } from '../bindings/FlowSnapshot';
import type { FlowStarted } from '../bindings/FlowStarted';
import type { ImportMode } from '../bindings/ImportMode';
import type { ImportOutcome } from '../bindings/ImportOutcome';
import type { ImportPreview } from '../bindings/ImportPreview';
import type { InvitationAccepted } from '../bindings/InvitationAccepted';
import type { InvitationLink } from '../bindings/InvitationLink';
import type { InvitationOpened } from '../bindings/InvitationOpened';
import type { InvitationPreview } from '../bindings/InvitationPreview';
import type { MailCheckReport } from '../bindings/MailCheckReport';
import type { ManagedPolicy } from '../bindings/ManagedPolicy';
import type { NeedsReauth } from '../bindings/NeedsReauth';
import type { MailLanguage } from '../bindings/MailLanguage';
import type { OrgSettingsInput } from '../bindings/OrgSettingsInput';
import type { Queued } from '../bindings/Queued';
import type { ReadSummary } from '../bindings/ReadSummary';
import type { RolloutSettings } from '../bindings/RolloutSettings';
import type { RolloutStatus } from '../bindings/RolloutStatus';
import type { RolloutUpdated } from '../bindings/RolloutUpdated';
import type { SavedFiles } from '../bindings/SavedFiles';
import type { SendProgress } from '../bindings/SendProgress';
import type { SendSummary } from '../bindings/SendSummary';
import type { SetupOverview } from '../bindings/SetupOverview';
import type { SupportBundle } from '../bindings/SupportBundle';
import { toUiError } from './errors/uiError';

async function call<T>(cmd: string, args?: InvokeArgs, options?: InvokeOptions): Promise<T> {
  try {
    return await invoke<T>(cmd, args, options);
  } catch (raw) {
    throw toUiError(raw);
  }
}

export type { UnlistenFn };

/** The event Rust emits when a browser round trip (steps 3 and 4) ends. */
export const FLOW_FINISHED_EVENT = 'exo://flow-finished';

/** A finished flow as received, with its error (if any) normalized like a rejected command's. */
function normalizeFinished(raw: FlowFinished): FlowFinished {
  if (raw.result.outcome !== 'failed') return raw;
  return { ...raw, result: { outcome: 'failed', error: toUiError(raw.result.error) } };
}

/** The event Rust emits after every connection check (also the one it runs after each sign-in). */
export const ACCOUNT_CHECKED_EVENT = 'exo://account-checked';

/** The event Rust's token upkeep emits when an account's refresh failed for good. */
export const NEEDS_REAUTH_EVENT = 'exo://needs-reauth';

/** A check report with each protocol's error normalized like a rejected command's. */
function normalizeReport(raw: MailCheckReport): MailCheckReport {
  return { ...raw, checks: raw.checks.map((c) => ({ ...c, error: c.error ? toUiError(c.error) : null })) };
}

/** The event Rust emits when an invitation arrives (deep link, `.exoinvite` file, or a file dropped on the window). */
export const INVITATION_OPENED_EVENT = 'exo://invitation-opened';

/** An opened invitation as received, with its error (if any) normalized like a rejected command's. */
function normalizeOpened(raw: InvitationOpened): InvitationOpened {
  return raw.outcome === 'failed' ? { outcome: 'failed', error: toUiError(raw.error) } : raw;
}

/** The event Rust emits after every page of a directory read (`DirectoryProgress`). */
export const DIRECTORY_PROGRESS_EVENT = 'exo://directory-progress';

/** The event Rust emits after every rollout mail and while waiting for the sending limits (`SendProgress`). */
export const ROLLOUT_PROGRESS_EVENT = 'exo://rollout-progress';

/** The event Rust emits after a round of the rollout's timer changed something (`RolloutUpdated`). */
export const ROLLOUT_UPDATED_EVENT = 'exo://rollout-updated';

/** Whom to queue a rollout mail for (Rust's `Recipients`; account ids go as JSON numbers). */
export type RolloutRecipients =
  | { type: 'addresses'; value: string[] }
  | { type: 'accounts'; value: Id[] }
  | { type: 'all' }
  | { type: 'notInvited' };

/** Ids are i64 in Rust; ts-rs may type them as bigint. The IPC carries them as JSON numbers. */
export type Id = number | bigint;
const id = (value: Id): number => Number(value);
/** Accounts to make invitations for: some, or null for every registered account. */
const ids = (values: readonly Id[] | null): number[] | null => (values ? values.map(id) : null);

export const api = {
  appInfo: () => call<AppInfo>('app_info'),
  setupOverview: () => call<SetupOverview>('setup_overview'),
  appRegistration: () => call<AppRegistration>('app_registration'),
  saveExchangeOnline: (input: OrgSettingsInput) => call<SetupOverview>('save_exchange_online', { input }),
  setServerEnabled: (serverId: Id, enabled: boolean) =>
    call<SetupOverview>('set_server_enabled', { serverId: id(serverId), enabled }),
  listAccounts: (query: AccountQuery) => call<AccountPage>('list_accounts', { query }),
  /** The registered account of `address` as Rust matches it (trimmed, case-insensitive); null when there is none. */
  findAccount: (address: string) => call<AccountRow | null>('find_account', { address }),
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
  /** Step 3: Rust opens the system browser on Microsoft's admin-consent page. */
  beginAdminConsent: () => call<FlowStarted>('begin_admin_consent'),
  /** Step 4: Rust opens the system browser on Microsoft's sign-in page for `address`. */
  beginSignIn: (address: string) => call<FlowStarted>('begin_sign_in', { address }),
  /** Stops waiting; Rust then sends the flow's end (a `flow_cancelled` failure) as an event. */
  cancelFlow: (flowId: string) => call<null>('cancel_flow', { flowId }),
  /** The flows still waiting and the last one that ended (for a screen opened afterwards). */
  flowSnapshot: () => call<FlowSnapshot>('flow_snapshot'),
  /** Deletes the account's tokens from the keychain. */
  signOut: (address: string) => call<AccountRow>('sign_out', { address }),
  /** Calls `handler` for every flow that ends; the returned function stops listening. */
  onFlowFinished: (handler: (finished: FlowFinished) => void): Promise<UnlistenFn> =>
    listen<FlowFinished>(FLOW_FINISHED_EVENT, (event) => handler(normalizeFinished(event.payload))),
  /** Logs in to the mailbox's servers with its token (receive protocol and SMTP); records the outcome. */
  checkAccount: async (address: string): Promise<MailCheckReport> =>
    normalizeReport(await call<MailCheckReport>('check_account', { address })),
  /** Calls `handler` after every connection check (`exo://account-checked`). */
  onAccountChecked: (handler: (report: MailCheckReport) => void): Promise<UnlistenFn> =>
    listen<MailCheckReport>(ACCOUNT_CHECKED_EVENT, (event) => handler(normalizeReport(event.payload))),
  /** Calls `handler` when an account must sign in again (`exo://needs-reauth`). */
  onNeedsReauth: (handler: (notice: NeedsReauth) => void): Promise<UnlistenFn> =>
    listen<NeedsReauth>(NEEDS_REAUTH_EVENT, (event) =>
      handler({ address: event.payload.address, error: toUiError(event.payload.error) }),
    ),
  /**
   * Shows an OS notification, asking for the permission first if needed; false when it is not
   * granted. The plugin is loaded on first use (it is not needed for the first screen).
   */
  notify: async (title: string, body: string): Promise<boolean> => {
    try {
      const plugin = await import('@tauri-apps/plugin-notification');
      let granted = await plugin.isPermissionGranted();
      if (!granted) granted = (await plugin.requestPermission()) === 'granted';
      if (granted) plugin.sendNotification({ title, body });
      return granted;
    } catch (raw) {
      throw toUiError(raw);
    }
  },
  /** Step 2: an invitation link per account (`null`: every registered account). */
  createInvitations: (accountIds: readonly Id[] | null) =>
    call<InvitationLink[]>('create_invitations', { accountIds: ids(accountIds) }),
  /** Rust shows a folder picker and writes one `.exoinvite` file per account; null when cancelled. */
  saveInvitationFiles: (accountIds: readonly Id[] | null) =>
    call<SavedFiles | null>('save_invitation_files', { accountIds: ids(accountIds) }),
  /** Rust shows a save dialog and writes a mail-merge CSV (one link per account); null when cancelled. */
  saveInvitationsCsv: (accountIds: readonly Id[] | null) =>
    call<SavedFiles | null>('save_invitations_csv', { accountIds: ids(accountIds) }),
  /** Reads a pasted invitation link (or a file's text): what accepting it would set up. Stores nothing. */
  openInvitationText: (text: string) => call<InvitationPreview>('open_invitation_text', { text }),
  /** Rust shows an open dialog for a `.exoinvite` file; null when cancelled. Stores nothing. */
  openInvitationFile: () => call<InvitationPreview | null>('open_invitation_file'),
  /** Stores the shown invitation's settings and mailbox; `replaceExisting` confirms replacing another organization. */
  acceptInvitation: (invitationId: string, replaceExisting: boolean) =>
    call<InvitationAccepted>('accept_invitation', { invitationId, replaceExisting }),
  /** Forgets a shown invitation without storing anything. */
  discardInvitation: (invitationId: string) => call<null>('discard_invitation', { invitationId }),
  /** The invitation the OS handed over before the window listened (cold start), once; else null. */
  lastOpenedInvitation: async (): Promise<InvitationOpened | null> => {
    const opened = await call<InvitationOpened | null>('last_opened_invitation');
    return opened ? normalizeOpened(opened) : null;
  },
  /** Calls `handler` for every invitation the OS, a drop or a file hands to the app (`exo://invitation-opened`). */
  onInvitationOpened: (handler: (opened: InvitationOpened) => void): Promise<UnlistenFn> =>
    listen<InvitationOpened>(INVITATION_OPENED_EVENT, (event) => handler(normalizeOpened(event.payload))),
  /** Step 2 from Microsoft Entra: Rust opens the system browser on Microsoft's sign-in page for the directory. */
  beginDirectorySignIn: (loginHint: string | null) => call<FlowStarted>('begin_directory_sign_in', { loginHint }),
  /** Whether an administrator is signed in for the directory on this computer. */
  directorySignedIn: () => call<boolean>('directory_signed_in'),
  /** Deletes the directory sign-in from the keychain. */
  directorySignOut: () => call<null>('directory_sign_out'),
  /** Groups whose name starts with `prefix` (at most 20). */
  searchDirectoryGroups: (prefix: string) => call<DirectoryGroup[]>('search_directory_groups', { prefix }),
  /** Reads the directory into the stage (progress: `onDirectoryProgress`); resolves with the diff's counts. */
  readDirectory: (input: DirectoryReadInput) => call<DirectoryPreview>('read_directory', { input }),
  /** Stops the read under way after its current page (it then rejects with `directory_cancelled`). */
  cancelDirectoryRead: () => call<null>('cancel_directory_read'),
  /** One page of the staged diff, read from SQLite. */
  directoryDiff: (query: DirectoryDiffQuery) => call<DirectoryDiffPage>('directory_diff', { query }),
  /** Writes the staged read (one transaction). */
  applyDirectory: (mode: ImportMode) => call<DirectoryOutcome>('apply_directory', { mode }),
  /** Drops the staged read without applying it. */
  discardDirectory: () => call<null>('discard_directory'),
  /** Calls `handler` after every page of a directory read. */
  onDirectoryProgress: (handler: (progress: DirectoryProgress) => void): Promise<UnlistenFn> =>
    listen<DirectoryProgress>(DIRECTORY_PROGRESS_EVENT, (event) => handler(event.payload)),
  /** Step 2's rollout: every account's state and the counts ("no news" after `noNewsDays` days). */
  rolloutStatus: (noNewsDays: number) => call<RolloutStatus>('rollout_status', { noNewsDays }),
  /** The sending mailbox and the mails' language; null before a sender was chosen. */
  rolloutSettings: () => call<RolloutSettings | null>('rollout_settings'),
  /** Chooses the sending mailbox (registered, signed in on this computer) and the mails' language. */
  setRolloutSender: (address: string, language: MailLanguage) =>
    call<RolloutSettings>('set_rollout_sender', { address, language }),
  /** Queues an invitation for each recipient; someone invited before only with `resend`. */
  queueInvitations: (recipients: RolloutRecipients, resend: boolean) =>
    call<Queued>('queue_invitations', {
      recipients: recipients.type === 'accounts' ? { type: 'accounts', value: recipients.value.map(id) } : recipients,
      resend,
    }),
  /** Queues a reminder for everyone invited at least `afterDays` days ago without news. */
  queueReminders: (afterDays: number) => call<Queued>('queue_reminders', { afterDays }),
  /** Sends the queue (progress: `onRolloutProgress`); rejects with `rollout_nothing_to_send` when it is empty. */
  sendInvitations: () => call<SendSummary>('send_invitations'),
  /** Stops the send run after the mail under way (it then resolves with `cancelled: true`). */
  cancelSending: () => call<null>('cancel_sending'),
  /** Reads the receipts and bounces that came back to the sender's mailbox (IMAP) and records them. */
  readReceipts: () => call<ReadSummary>('read_receipts'),
  /** The administrator's send run under way and its last progress, or null (a step 2 drawn again picks it up). */
  rolloutRun: () => call<SendProgress | null>('rollout_run'),
  /** Self-service after the managed policy: on, managed by IT, or pinned (no invitation needed). */
  selfServiceState: () => call<SelfServiceState>('self_service_state'),
  /** Step 1's self-service switch; refused (`policy_locked_field`) where IT decides. */
  setSelfService: (enabled: boolean) => call<SelfServiceState>('set_self_service', { enabled }),
  /** The organization invitation: one link for everyone, no mailbox. */
  organizationInvitation: () => call<OrganizationInvitation>('organization_invitation'),
  /** Step 4 for a typed mailbox: registered only once Microsoft confirms the signed-in identity. */
  beginSelfSignIn: (address: string, protocol: ReceiveProtocol) =>
    call<FlowStarted>('begin_self_sign_in', { address, protocol }),
  /** Rust shows the save dialog and writes the rollout status CSV; the path, or null when cancelled. */
  exportRolloutCsv: (noNewsDays: number) => call<string | null>('export_rollout_csv', { noNewsDays }),
  /** Calls `handler` after every rollout mail and while waiting for the sending limits. */
  onRolloutProgress: (handler: (progress: SendProgress) => void): Promise<UnlistenFn> =>
    listen<SendProgress>(ROLLOUT_PROGRESS_EVENT, (event) => handler(event.payload)),
  /** Calls `handler` when the timer retried deferred mails or read the receipts while the window is open. */
  onRolloutUpdated: (handler: (updated: RolloutUpdated) => void): Promise<UnlistenFn> =>
    listen<RolloutUpdated>(ROLLOUT_UPDATED_EVENT, (event) => handler(event.payload)),
  /** The machine-wide policy IT deployed (rejects with `policy_invalid` when its file is broken). */
  managedPolicy: () => call<ManagedPolicy>('managed_policy'),
  /** Rust writes a redacted support bundle (zip) to Downloads (else Documents); its path and entries. */
  createSupportBundle: (hashAddresses: boolean) => call<SupportBundle>('create_support_bundle', { hashAddresses }),
  /** Writes `text` to the clipboard (rejects with a UiError). */
  copyText: async (text: string): Promise<void> => {
    try {
      await writeText(text);
    } catch (raw) {
      throw toUiError(raw);
    }
  },
};
