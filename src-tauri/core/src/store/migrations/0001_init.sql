-- exo-setup schema v1. Never a secret in this database: tokens live only in the OS keychain.

CREATE TABLE org_settings (
    id            INTEGER PRIMARY KEY CHECK (id = 1),   -- one organization per installation
    tenant        TEXT NOT NULL,                         -- as typed: GUID or verified domain
    tenant_id     TEXT NOT NULL,                         -- GUID read from the discovery issuer
    client_id     TEXT NOT NULL,
    authority     TEXT NOT NULL,
    redirect_mode TEXT NOT NULL CHECK (redirect_mode IN ('deep_link', 'loopback')),
    issuer        TEXT NOT NULL,
    verified_at   TEXT NOT NULL
) STRICT;

CREATE TABLE mail_servers (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE COLLATE NOCASE,
    builtin       INTEGER NOT NULL DEFAULT 0 CHECK (builtin IN (0, 1)),
    enabled       INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    imap_host     TEXT NOT NULL,
    imap_port     INTEGER NOT NULL CHECK (imap_port BETWEEN 1 AND 65535),
    imap_security TEXT NOT NULL CHECK (imap_security IN ('tls', 'starttls', 'plain')),
    pop3_host     TEXT NOT NULL,
    pop3_port     INTEGER NOT NULL CHECK (pop3_port BETWEEN 1 AND 65535),
    pop3_security TEXT NOT NULL CHECK (pop3_security IN ('tls', 'starttls', 'plain')),
    smtp_host     TEXT NOT NULL,
    smtp_port     INTEGER NOT NULL CHECK (smtp_port BETWEEN 1 AND 65535),
    smtp_security TEXT NOT NULL CHECK (smtp_security IN ('tls', 'starttls', 'plain')),
    auth          TEXT NOT NULL CHECK (auth IN ('oauth2', 'password'))
) STRICT;

-- The built-in default server of the four steps: present from the start, OFF until step 1.
INSERT INTO mail_servers (id, name, builtin, enabled,
        imap_host, imap_port, imap_security, pop3_host, pop3_port, pop3_security,
        smtp_host, smtp_port, smtp_security, auth)
VALUES (1, 'Exchange Online', 1, 0,
        'outlook.office365.com', 993, 'tls', 'outlook.office365.com', 995, 'tls',
        'smtp.office365.com', 587, 'starttls', 'oauth2');

CREATE TRIGGER mail_servers_builtin_not_deletable
BEFORE DELETE ON mail_servers WHEN OLD.builtin = 1
BEGIN
    SELECT RAISE(ABORT, 'builtin mail server cannot be deleted');
END;

CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    login_name   TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) STRICT;

CREATE TABLE mail_accounts (
    id               INTEGER PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address          TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name     TEXT NOT NULL,
    receive_protocol TEXT NOT NULL CHECK (receive_protocol IN ('imap', 'pop3')),
    server_id        INTEGER NOT NULL REFERENCES mail_servers (id) ON DELETE RESTRICT,
    status           TEXT NOT NULL DEFAULT 'not_signed_in'
                     CHECK (status IN ('not_signed_in', 'signed_in', 'verified', 'needs_reauth', 'error')),
    status_detail    TEXT,
    status_at        TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;
CREATE INDEX mail_accounts_user ON mail_accounts (user_id);
CREATE INDEX mail_accounts_status ON mail_accounts (status);

CREATE TABLE admin_consents (
    id         INTEGER PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,          -- space-separated, as sent to /adminconsent
    granted_by TEXT NOT NULL,          -- OS user who ran step 3
    granted_at TEXT NOT NULL
) STRICT;

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    os_user TEXT NOT NULL,
    action  TEXT NOT NULL,             -- e.g. server.enable, account.add, csv.import
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT ''   -- JSON; never a secret
) STRICT;
CREATE INDEX audit_log_at ON audit_log (at);
