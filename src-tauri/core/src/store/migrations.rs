//! Versioned schema migrations. Append new `M::up` entries; never edit a released one.

use std::sync::LazyLock;

use rusqlite_migration::{Migrations, M};

pub static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![
        M::up(include_str!("migrations/0001_init.sql")),
        M::up(include_str!("migrations/0002_mail_check.sql")),
        M::up(include_str!("migrations/0003_org_name.sql")),
        M::up(include_str!("migrations/0004_keychain_ledger.sql")),
        M::up(include_str!("migrations/0005_endpoints_origin.sql")),
        M::up(include_str!("migrations/0006_directory.sql")),
        M::up(include_str!("migrations/0007_rollout.sql")),
        M::up(include_str!("migrations/0008_self_service.sql")),
    ])
});

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::MIGRATIONS.validate().unwrap();
    }

    /// Endpoints of unknown provenance (the built-in server's, changed on a computer that
    /// accepted an invitation before provenance was recorded) are not trusted as set locally.
    #[test]
    fn endpoints_origin_of_existing_servers() {
        let origin = |custom_hosts: bool, accepted_invitation: bool| {
            let mut conn = rusqlite::Connection::open_in_memory().unwrap();
            super::MIGRATIONS.to_version(&mut conn, 4).unwrap();
            conn.execute(
                "INSERT INTO mail_servers (name, builtin, enabled, imap_host, imap_port, imap_security, pop3_host,
                 pop3_port, pop3_security, smtp_host, smtp_port, smtp_security, auth)
                 VALUES ('Dovecot', 0, 1, 'localhost', 1, 'tls', 'localhost', 2, 'tls', 'localhost', 3, 'tls', 'oauth2')",
                [],
            )
            .unwrap();
            if custom_hosts {
                conn.execute("UPDATE mail_servers SET imap_host = 'imap.example' WHERE id = 1", []).unwrap();
            }
            if accepted_invitation {
                conn.execute(
                    "INSERT INTO audit_log (at, os_user, action, target) VALUES ('x', 'u', 'invitation.accept', 't')",
                    [],
                )
                .unwrap();
            }
            super::MIGRATIONS.to_latest(&mut conn).unwrap();
            let get = |name: &str| -> String {
                conn.query_row("SELECT endpoints_origin FROM mail_servers WHERE name = ?1", [name], |r| r.get(0))
                    .unwrap()
            };
            (get("Exchange Online"), get("Dovecot"))
        };
        assert_eq!(origin(false, false), ("local".into(), "local".into()));
        assert_eq!(origin(false, true), ("local".into(), "local".into()), "the defaults are the app's own");
        assert_eq!(origin(true, false), ("local".into(), "local".into()), "never accepted an invitation");
        assert_eq!(origin(true, true), ("invitation".into(), "local".into()));
    }
}
