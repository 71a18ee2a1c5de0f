-- The rollout loop: invitations mailed from the administrator's own mailbox, and what comes back.

-- The durable send queue. A row is one mail to one person; it survives a quit or a crash, and the
-- sender resumes from it. `sending` is set just before the SMTP transaction: a row found in that
-- state after a crash may have been delivered, so it is never sent again by itself (`unsure`).
-- Pacing (Exchange Online: 30 messages a minute, 10,000 recipients a day) counts `sent_ms`.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES mail_accounts (id) ON DELETE CASCADE,
    recipient    TEXT NOT NULL COLLATE NOCASE,
    kind         TEXT NOT NULL CHECK (kind IN ('invitation', 'reminder')),
    state        TEXT NOT NULL
                 CHECK (state IN ('queued', 'sending', 'sent', 'deferred', 'failed', 'unsure', 'cancelled')),
    message_id   TEXT NOT NULL UNIQUE,          -- <…@domain>, also what a bounce quotes
    attempts     INTEGER NOT NULL DEFAULT 0,
    not_before_ms INTEGER,                      -- a deferred row waits until then
    reply        TEXT,                          -- the server's last reply (never a token)
    queued_at    TEXT NOT NULL,
    sent_at      TEXT,
    sent_ms      INTEGER
) STRICT;
-- At most one pending mail per account: queuing twice never mails a person twice.
CREATE UNIQUE INDEX outbox_one_pending ON outbox (account_id) WHERE state IN ('queued', 'sending', 'deferred');
CREATE INDEX outbox_state ON outbox (state, id);
CREATE INDEX outbox_account ON outbox (account_id, id);
CREATE INDEX outbox_sent_ms ON outbox (sent_ms) WHERE sent_ms IS NOT NULL;

-- Per account, what the administrator knows of its rollout. The receipt code is random and no
-- secret: it only lets a receipt (or a bounce) be matched to the account it is about.
CREATE TABLE rollout (
    account_id      INTEGER PRIMARY KEY REFERENCES mail_accounts (id) ON DELETE CASCADE,
    receipt_code    TEXT NOT NULL UNIQUE,
    invited_at      TEXT,
    bounced_at      TEXT,
    bounce_status   TEXT,                       -- e.g. 5.1.1 and the diagnostic
    verified_at     TEXT,                       -- the user's computer verified the mailbox
    protocols       TEXT,                       -- as the receipt says, e.g. "imap smtp"
    signed_out_at   TEXT,
    app_version     TEXT,
    os_family       TEXT,
    self_registered INTEGER NOT NULL DEFAULT 0 CHECK (self_registered IN (0, 1))
) STRICT;

-- One row: the mailbox invitations are sent from and receipts come back to, and the language of
-- the mails. Receipts that matched nothing are counted, not kept.
CREATE TABLE rollout_settings (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    sender             TEXT NOT NULL COLLATE NOCASE,
    language           TEXT NOT NULL CHECK (language IN ('ja', 'en')),
    unmatched_receipts INTEGER NOT NULL DEFAULT 0,
    last_read_at       TEXT
) STRICT;

-- On a user's computer: where the receipts for an accepted invitation go, and which were sent.
CREATE TABLE receipt_plan (
    account_id        INTEGER PRIMARY KEY REFERENCES mail_accounts (id) ON DELETE CASCADE,
    report_to         TEXT NOT NULL,
    receipt_code      TEXT NOT NULL,
    verified_sent_at  TEXT,
    signed_out_sent_at TEXT
) STRICT;
