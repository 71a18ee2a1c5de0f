-- Accounts imported from Microsoft Entra ID (Microsoft Graph). `source` says where an account came
-- from; a directory account keeps the directory's object id (a user renamed or given another
-- address is still the same account), the scope it was imported from ('all' or 'group:<id>') and
-- what the last sync saw. An account that is gone from the directory, or whose user is disabled
-- there, is flagged, never deleted: the administrator decides.
ALTER TABLE mail_accounts ADD COLUMN source TEXT NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'directory'));
ALTER TABLE mail_accounts ADD COLUMN directory_id TEXT;
ALTER TABLE mail_accounts ADD COLUMN directory_scope TEXT;
ALTER TABLE mail_accounts ADD COLUMN directory_state TEXT CHECK (directory_state IN ('present', 'disabled', 'gone'));
CREATE UNIQUE INDEX mail_accounts_directory_id ON mail_accounts (directory_id) WHERE directory_id IS NOT NULL;

-- The users of the last directory read, page by page as they arrived, and what applying them
-- would do: the diff is computed and paged by SQL, so 100,000 users never sit in memory. Holds
-- names and addresses only (never a token); emptied when a read starts and after it is applied.
CREATE TABLE directory_stage (
    seq          INTEGER PRIMARY KEY,           -- order read
    object_id    TEXT NOT NULL,
    upn          TEXT NOT NULL,
    login_name   TEXT NOT NULL,                 -- from the login-name rule
    display_name TEXT NOT NULL,
    address      TEXT NOT NULL COLLATE NOCASE,  -- `mail`, lower-cased
    enabled      INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    row_problem  TEXT,                          -- the row's own check (syntax, no mailbox); NULL = valid
    row_message  TEXT,
    problem      TEXT,                          -- why rejected, skipped or flagged, after the diff
    message      TEXT,
    account_id   INTEGER,                       -- the account it matches
    action       TEXT                           -- create, update, unchanged, disable, skip, reject, gone
) STRICT;
CREATE INDEX directory_stage_object ON directory_stage (object_id);
CREATE INDEX directory_stage_address ON directory_stage (address);
CREATE INDEX directory_stage_login ON directory_stage (login_name COLLATE NOCASE);
CREATE INDEX directory_stage_action ON directory_stage (action, seq);

-- What the stage was read from, with the rule used; one row while a read is staged.
CREATE TABLE directory_stage_meta (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    scope      TEXT NOT NULL,
    scope_name TEXT NOT NULL,
    login_rule TEXT NOT NULL,
    pages      INTEGER NOT NULL,
    complete   INTEGER NOT NULL CHECK (complete IN (0, 1)),
    read_at    TEXT NOT NULL
) STRICT;
