//! Versioned schema migrations. Append new `M::up` entries; never edit a released one.

use std::sync::LazyLock;

use rusqlite_migration::{Migrations, M};

pub static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![
        M::up(include_str!("migrations/0001_init.sql")),
        M::up(include_str!("migrations/0002_mail_check.sql")),
        M::up(include_str!("migrations/0003_org_name.sql")),
        M::up(include_str!("migrations/0004_keychain_ledger.sql")),
    ])
});

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::MIGRATIONS.validate().unwrap();
    }
}
