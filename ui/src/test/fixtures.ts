import { mockIPC } from '@tauri-apps/api/mocks';
import type { AccountRow } from '../bindings/AccountRow';
import type { AccountStatus } from '../bindings/AccountStatus';
import type { AdminConsent } from '../bindings/AdminConsent';
import type { AppInfo } from '../bindings/AppInfo';
import type { ErrorKind } from '../bindings/ErrorKind';
import type { FlowFinished } from '../bindings/FlowFinished';
import type { FlowPurpose } from '../bindings/FlowPurpose';
import type { FlowResult } from '../bindings/FlowResult';
import type { FlowStarted } from '../bindings/FlowStarted';
import type { InvitationLink } from '../bindings/InvitationLink';
import type { InvitationPreview } from '../bindings/InvitationPreview';
import type { ManagedPolicy } from '../bindings/ManagedPolicy';
import type { MailCheckReport } from '../bindings/MailCheckReport';
import type { MailProtocol } from '../bindings/MailProtocol';
import type { MailServer } from '../bindings/MailServer';
import type { OrgSettingsInput } from '../bindings/OrgSettingsInput';
import type { RolloutRow } from '../bindings/RolloutRow';
import type { RolloutStatus } from '../bindings/RolloutStatus';
import type { SetupOverview } from '../bindings/SetupOverview';
import type { StepStatus } from '../bindings/StepStatus';
import type { UiError } from '../bindings/UiError';

export function appInfo(systemLocale = 'en-US', demo: OrgSettingsInput | null = null): AppInfo {
  return {
    productName: 'exo-setup',
    version: '0.1.0',
    identifier: 'dev.exosetup.wizard',
    deepLinkScheme: 'dev.exosetup.wizard',
    dataDir: '/tmp/exo',
    systemLocale,
    osUser: 'admin',
    demo,
  };
}

/** What `scripts/wizard.sh --demo` passes: the emulator's address, tenant and app. */
export function demoSettings(overrides: Partial<OrgSettingsInput> = {}): OrgSettingsInput {
  return {
    organizationName: '',
    tenant: 'contoso.example',
    clientId: '11111111-2222-3333-4444-555555555555',
    authority: 'http://127.0.0.1:8400',
    redirectMode: 'loopback',
    ...overrides,
  };
}

export function exchange(enabled: boolean): MailServer {
  return {
    id: 1,
    name: 'Exchange Online',
    builtin: true,
    enabled,
    imap: { host: 'outlook.office365.com', port: 993, security: 'tls' },
    pop3: { host: 'outlook.office365.com', port: 995, security: 'tls' },
    smtp: { host: 'smtp.office365.com', port: 587, security: 'starttls' },
    auth: 'oauth2',
  };
}

export const CONSENT_SCOPES = [
  'https://outlook.office.com/IMAP.AccessAsUser.All',
  'https://outlook.office.com/POP.AccessAsUser.All',
  'https://outlook.office.com/SMTP.Send',
  'offline_access',
];

export function overview(
  opts: { enabled?: boolean; steps?: [StepStatus, StepStatus, StepStatus, StepStatus]; extraServers?: MailServer[] } = {},
): SetupOverview {
  const enabled = opts.enabled ?? false;
  const steps = opts.steps ?? (enabled ? ['done', 'todo', 'todo', 'blocked'] : ['todo', 'blocked', 'blocked', 'blocked']);
  const ex = exchange(enabled);
  return {
    org: enabled
      ? {
          organizationName: 'Contoso',
          tenant: 'contoso.onmicrosoft.com',
          tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
          clientId: '11111111-2222-3333-4444-555555555555',
          authority: 'https://login.microsoftonline.com',
          redirectMode: 'deep_link',
          issuer: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0',
          verifiedAt: '2025-01-01T00:00:00Z',
        }
      : null,
    exchange: ex,
    servers: [...(opts.extraServers ?? []), ex],
    accountCount: 0,
    consent: null,
    consentScopes: [...CONSENT_SCOPES],
    consentMissing: [...CONSENT_SCOPES],
    redirectUris: [
      { uri: 'dev.exosetup.wizard://oauth2/callback', mode: 'deep_link', platform: 'Mobile and desktop applications' },
      { uri: 'http://localhost', mode: 'loopback', platform: 'Mobile and desktop applications' },
    ],
    steps: steps.map((status, i) => ({ step: i + 1, status })),
    policyConflicts: [],
  };
}

/** No policy file: nothing managed. */
export function noPolicy(overrides: Partial<ManagedPolicy> = {}): ManagedPolicy {
  return {
    path: '/etc/exo-setup/policy.json',
    present: false,
    organizationName: null,
    authority: null,
    tenant: null,
    clientId: null,
    redirectMode: null,
    invitations: 'any',
    allowedAuthorities: [],
    selfService: null,
    ...overrides,
  };
}

/** An invitation as the confirmation screen receives it (Rust's preview). */
export function invitationPreview(overrides: Partial<InvitationPreview> = {}): InvitationPreview {
  return {
    invitationId: 'inv-1',
    organizationName: 'Contoso',
    authority: 'https://login.microsoftonline.com',
    cloud: 'global',
    tenant: 'contoso.onmicrosoft.com',
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    clientId: '11111111-2222-3333-4444-555555555555',
    redirectMode: 'deep_link',
    address: 'taro@contoso.com',
    displayName: 'Taro Yamada',
    receiveProtocol: 'imap',
    endpoints: null,
    mailHosts: ['outlook.office365.com', 'smtp.office365.com'],
    overrides: [],
    replaces: null,
    alreadyRegistered: false,
    receiptTo: null,
    organizationWide: false,
    ...overrides,
  };
}

/** One invitation link of step 2. */
export function invitationLink(row: AccountRow): InvitationLink {
  return {
    accountId: row.id,
    address: row.address,
    displayName: row.displayName,
    link: `dev.exosetup.wizard://invite?v=1&p=${btoa(row.address).replace(/=+$/, '')}&c=check${row.id}`,
    fileName: `${row.address}.exoinvite`,
  };
}

/**
 * `row` with another status, and the view fields Rust derives from it (`AccountStatus::has_sign_in`
 * and `can_check` in the core's model.rs), as Rust would send it.
 */
export function withStatus(row: AccountRow, status: AccountStatus, statusDetail: string | null = null): AccountRow {
  return {
    ...row,
    status,
    statusDetail,
    hasSignIn: status !== 'not_signed_in',
    canCheck: status === 'signed_in' || status === 'verified' || status === 'error',
  };
}

export function accountRow(i: number): AccountRow {
  const n = String(i).padStart(5, '0');
  return withStatus({
    id: i + 1,
    userId: i + 1,
    loginName: `user${n}`,
    userDisplayName: `User ${n}`,
    address: `user${n}@contoso.com`,
    displayName: `User ${n}`,
    receiveProtocol: i % 2 ? 'pop3' : 'imap',
    serverId: 1,
    serverName: 'Exchange Online',
    status: 'not_signed_in',
    statusDetail: null,
    statusAt: null,
    hasSignIn: false,
    canCheck: false,
  }, (['not_signed_in', 'signed_in', 'verified', 'needs_reauth', 'error'] as const)[i % 5]);
}

export function flowStarted(purpose: FlowPurpose, overrides: Partial<FlowStarted> = {}): FlowStarted {
  return {
    flowId: `flow-${purpose}-1`,
    purpose,
    address: purpose === 'sign_in' ? 'user00000@contoso.com' : null,
    redirectMode: 'deep_link',
    redirectUri: 'dev.exosetup.wizard://oauth2/callback',
    browserUrl: `https://login.microsoftonline.com/contoso.onmicrosoft.com/${
      purpose === 'sign_in' ? 'oauth2/v2.0/authorize' : 'v2.0/adminconsent'
    }?client_id=11111111-2222-3333-4444-555555555555&state=opaque`,
    browserOpened: true,
    expiresAt: '2030-01-01T10:10:00Z',
    ...overrides,
  };
}

export function adminConsent(overrides: Partial<AdminConsent> = {}): AdminConsent {
  return {
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    clientId: '11111111-2222-3333-4444-555555555555',
    scopes: [...CONSENT_SCOPES],
    grantedBy: 'admin@contoso.onmicrosoft.com',
    grantedAt: '2030-01-01T10:05:00Z',
    ...overrides,
  };
}

export function flowFinished(flowId: string | null, purpose: FlowPurpose | null, result: FlowResult): FlowFinished {
  return { flowId, purpose, result };
}

export function uiError(kind: ErrorKind, actor: UiError['actor'], detail: Record<string, string> = {}): UiError {
  return { kind, actor, message: `English ${kind}`, detail };
}

const SERVERS: Record<MailProtocol, string> = {
  imap: 'outlook.office365.com:993',
  pop3: 'outlook.office365.com:995',
  smtp: 'smtp.office365.com:587',
};

/**
 * A connection check of `of` (an account, or just an address) over `receive` and SMTP; `failures`
 * gives a failing protocol its error (the detail Rust always sends is filled in). For an account,
 * the report carries it as Rust records the check (`verified`, or `error` with the first failure's
 * kind, like mailcheck/record.rs).
 */
export function checkReport(
  of: AccountRow | string,
  opts: { receive?: 'imap' | 'pop3'; failures?: Partial<Record<MailProtocol, UiError>>; checkedAt?: string } = {},
): MailCheckReport {
  const address = typeof of === 'string' ? of : of.address;
  const protocols: MailProtocol[] = [opts.receive ?? 'imap', 'smtp'];
  const checks = protocols.map((protocol, i) => {
    const server = SERVERS[protocol];
    const [host, port] = server.split(':');
    const failure = opts.failures?.[protocol];
    const error: UiError | null = failure
      ? { ...failure, detail: { protocol: protocol.toUpperCase(), server, host, port, address, ...failure.detail } }
      : null;
    return {
      protocol,
      server,
      security: protocol === 'smtp' ? ('starttls' as const) : ('tls' as const),
      ok: !error,
      error,
      durationMs: 420 + i * 1000,
    };
  });
  const verified = checks.every((c) => c.ok);
  const failed = checks.find((c) => c.error)?.error?.kind ?? null;
  const account = typeof of === 'string' ? null : withStatus(of, verified ? 'verified' : 'error', failed);
  return { address, verified, checkedAt: opts.checkedAt ?? '2030-01-01T10:06:00Z', checks, account };
}

export interface Call {
  cmd: string;
  args: unknown;
  options: unknown;
}

type Handler = (args: unknown, options: unknown) => unknown;

/**
 * A mocked Rust side: `handlers` answer commands (throw a UiError to reject); every call is
 * recorded with its invoke options (mockIPC's callback does not see the headers).
 */
export function backend(handlers: Record<string, Handler>): Call[] {
  const calls: Call[] = [];
  mockIPC(
    (cmd, args) => {
      const handler = handlers[cmd];
      if (!handler) throw new Error(`unmocked command ${cmd}`);
      return handler(args, calls[calls.length - 1]?.options);
    },
    // `listen`/`emit` of @tauri-apps/api/event work in tests: `emit(...)` reaches the app's listeners.
    { shouldMockEvents: true },
  );
  const internals = (window as unknown as { __TAURI_INTERNALS__: { invoke: (...a: unknown[]) => Promise<unknown> } })
    .__TAURI_INTERNALS__;
  const mocked = internals.invoke;
  internals.invoke = (cmd: unknown, args: unknown, options: unknown) => {
    calls.push({ cmd: cmd as string, args, options });
    return mocked(cmd, args, options);
  };
  return calls;
}

export function lastCall(calls: Call[], cmd: string): Call | undefined {
  return calls.filter((c) => c.cmd === cmd).at(-1);
}

/** Step 2's rollout status of `rows`, counted as Rust counts them. */
export function rolloutStatus(rows: RolloutRow[], sender: string | null = null): RolloutStatus {
  const n = (state: RolloutRow['state']) => rows.filter((r) => r.state === state).length;
  return {
    counts: {
      total: rows.length,
      registered: n('registered'),
      queued: n('queued'),
      failed: n('failed'),
      unsure: n('unsure'),
      invited: n('invited'),
      noNews: n('no_news'),
      bounced: n('bounced'),
      verified: n('verified'),
      signedOut: n('signed_out'),
    },
    rows,
    outbox: { queued: n('queued'), deferred: 0, sent: n('invited') + n('no_news') + n('verified'), failed: n('failed'), unsure: n('unsure') },
    sender,
    unmatchedReceipts: 0,
    lastReadAt: null,
    noNewsDays: 7,
  };
}

/** One account's rollout row in `state` (times and replies as the state implies). */
export function rolloutRow(i: number, state: RolloutRow['state']): RolloutRow {
  const n = String(i).padStart(5, '0');
  const invited = !['registered', 'queued', 'failed'].includes(state);
  return {
    accountId: i + 1,
    address: `user${n}@contoso.com`,
    displayName: `User ${n}`,
    state,
    invitedAt: invited ? '2026-12-01T09:00:00Z' : null,
    verifiedAt: state === 'verified' ? '2026-12-02T10:30:00Z' : null,
    protocols: state === 'verified' ? 'imap smtp' : null,
    signedOutAt: null,
    bouncedAt: state === 'bounced' ? '2026-12-01T09:05:00Z' : null,
    reply:
      state === 'failed'
        ? '550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.'
        : state === 'bounced'
          ? '5.1.10 RESOLVER.ADR.RecipientNotFound'
          : null,
    selfRegistered: false,
  };
}
