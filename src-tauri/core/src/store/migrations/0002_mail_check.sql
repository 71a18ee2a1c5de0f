-- exo-setup schema v2: the connection check. When a mailbox last passed it, and with which protocols.
-- Still never a secret: the check records times, protocols and error kinds only.

ALTER TABLE mail_accounts ADD COLUMN verified_at TEXT;          -- RFC 3339 start of the last passed check
ALTER TABLE mail_accounts ADD COLUMN verified_protocols TEXT;   -- space-separated, e.g. 'imap smtp'
