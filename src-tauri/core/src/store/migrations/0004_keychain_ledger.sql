-- Every (tenant, mailbox) for which this app may have written keychain items. The keychain
-- cannot be enumerated, so this is how items whose account is gone are found again. A row is
-- written BEFORE the first keychain write of a sign-in and removed only after the items are
-- deleted. It names an entry; it never holds a secret.
CREATE TABLE keychain_ledger (
    tenant_id   TEXT NOT NULL,                      -- lower-cased, as in the keychain entry name
    address     TEXT NOT NULL COLLATE NOCASE,       -- lower-cased, as in the keychain entry name
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, address)
) STRICT;

-- Accounts that signed in before this table existed may have keychain items.
INSERT OR IGNORE INTO keychain_ledger (tenant_id, address, recorded_at)
SELECT lower(o.tenant_id), lower(a.address), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
FROM mail_accounts a CROSS JOIN org_settings o
WHERE a.status <> 'not_signed_in';
