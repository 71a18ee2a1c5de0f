-- Self-service: a user sets up their own mailbox from the organization's invitation (one link
-- for everyone) or, where the managed policy pins the organization, with no invitation at all.
--
-- One row. On the administrator's computer: whether step 1 allows it, and the organization
-- invitation's receipt code (shared by everyone who uses that invitation; a receipt carrying it
-- adds the mailbox to the list, marked self-registered). On a user's computer: set by accepting
-- an organization invitation, with where its receipts go.
CREATE TABLE self_service (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    code        TEXT NOT NULL,                 -- 32 lower-case hex digits
    report_to   TEXT,                          -- a user's computer: the administrator's mailbox
    changed_at  TEXT NOT NULL
) STRICT;

-- A mailbox the user registered on this computer by typing it (after Microsoft confirmed it).
ALTER TABLE mail_accounts ADD COLUMN self_registered INTEGER NOT NULL DEFAULT 0 CHECK (self_registered IN (0, 1));
