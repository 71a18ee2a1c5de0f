-- Where a server's IMAP/POP3/SMTP endpoints came from: set on this computer ('local': the
-- built-in defaults, step 1, `exo-setup server add|endpoints`) or carried by an invitation. A token
-- goes to an invitation's hosts only when they are its cloud's or the managed policy lists them.
ALTER TABLE mail_servers ADD COLUMN endpoints_origin TEXT NOT NULL DEFAULT 'local'
    CHECK (endpoints_origin IN ('local', 'invitation'));

-- Before this column, an accepted invitation could have written the built-in server's endpoints:
-- where that may have happened (hosts other than the defaults on a computer that accepted an
-- invitation), the provenance is unknown, and unknown is not trusted.
UPDATE mail_servers SET endpoints_origin = 'invitation'
 WHERE builtin = 1
   AND NOT (imap_host = 'outlook.office365.com' AND pop3_host = 'outlook.office365.com'
            AND smtp_host = 'smtp.office365.com')
   AND EXISTS (SELECT 1 FROM audit_log WHERE action = 'invitation.accept');
