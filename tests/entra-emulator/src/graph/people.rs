//! The directory Microsoft Graph serves: a tenant's configured users, then `generated_users` people derived from a
//! seed, then people added at run time — one index space, so a listing pages by index and a `$skiptoken` is just
//! the index to resume at. Generated people are computed from (seed, index) whenever they are read: 100,000 of
//! them cost no memory, and the same seed gives the same directory on every run. Run-time changes (rename,
//! disable, remove, add) are an overlay of edits, which is what a sync test needs.
//!
//! Groups are a fixed tree, the same in every tenant, so nested membership is always there to test:
//! 全社員 (All staff) ⊃ 営業部, 開発部, 総務部, 経理部, Managers; 営業部 ⊃ 営業部 東京, 営業部 大阪;
//! Project Phoenix ⊃ 開発部 plus every 7th person directly. Every person is a direct member of one leaf department;
//! every 20th person is in Managers and also directly in 全社員 (so transitive listings must de-duplicate).

use crate::config::UserConfig;
use crate::directory::guid_from;
use std::collections::HashMap;

/// One person as Graph shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub display_name: String,
    pub given_name: String,
    pub surname: String,
    pub user_principal_name: String,
    pub mail: Option<String>,
    pub account_enabled: bool,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub preferred_language: String,
}

/// A run-time change to one person (control API / library handle).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PersonEdit {
    #[serde(default, rename = "displayName")]
    pub display_name: Option<String>,
    /// `Some(None)`: the mailbox is removed (`mail` becomes null).
    #[serde(default, with = "double_option", rename = "mail")]
    pub mail: Option<Option<String>>,
    #[serde(default, rename = "accountEnabled")]
    pub account_enabled: Option<bool>,
}

/// A person added at run time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewPerson {
    #[serde(rename = "userPrincipalName")]
    pub user_principal_name: String,
    #[serde(rename = "displayName")]
    pub display_name: String,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default = "yes", rename = "accountEnabled")]
    pub account_enabled: bool,
    /// Group ids it is a direct member of (default: none).
    #[serde(default)]
    pub groups: Vec<String>,
}

fn yes() -> bool {
    true
}

mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<Option<String>>, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// A group as Graph shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub mail_nickname: String,
}

/// The fixed group tree: (display name, mail nickname, nested group numbers).
const GROUPS: [(&str, &str, &[usize]); 10] = [
    ("全社員 (All staff)", "all-staff", &[1, 2, 3, 4, 8]),
    ("営業部 (Sales)", "sales", &[5, 6]),
    ("開発部 (Engineering)", "engineering", &[]),
    ("総務部 (General Affairs)", "general-affairs", &[]),
    ("経理部 (Finance)", "finance", &[]),
    ("営業部 東京 (Sales Tokyo)", "sales-tokyo", &[]),
    ("営業部 大阪 (Sales Osaka)", "sales-osaka", &[]),
    ("Project Phoenix", "project-phoenix", &[2]),
    ("Managers", "managers", &[]),
    ("退職者 (Leavers)", "leavers", &[]),
];
/// Leaf departments a person belongs to directly (group numbers).
const LEAVES: [usize; 5] = [2, 3, 4, 5, 6];

const FAMILY_JA: [(&str, &str); 16] = [
    ("山田", "yamada"),
    ("佐藤", "sato"),
    ("鈴木", "suzuki"),
    ("高橋", "takahashi"),
    ("田中", "tanaka"),
    ("伊藤", "ito"),
    ("渡辺", "watanabe"),
    ("中村", "nakamura"),
    ("小林", "kobayashi"),
    ("加藤", "kato"),
    ("吉田", "yoshida"),
    ("山本", "yamamoto"),
    ("松本", "matsumoto"),
    ("井上", "inoue"),
    ("木村", "kimura"),
    ("齋藤", "saito"),
];
const GIVEN_JA: [(&str, &str); 16] = [
    ("太郎", "taro"),
    ("花子", "hanako"),
    ("次郎", "jiro"),
    ("由紀", "yuki"),
    ("翔太", "shota"),
    ("美咲", "misaki"),
    ("健一", "kenichi"),
    ("陽菜", "hina"),
    ("大輔", "daisuke"),
    ("さくら", "sakura"),
    ("拓也", "takuya"),
    ("結衣", "yui"),
    ("誠", "makoto"),
    ("真由美", "mayumi"),
    ("蓮", "ren"),
    ("愛子", "aiko"),
];
const FAMILY_EN: [&str; 12] = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Clark", "Lewis", "Walker", "Young",
];
const GIVEN_EN: [&str; 12] =
    ["Emily", "James", "Olivia", "Noah", "Sophia", "Liam", "Mia", "Lucas", "Grace", "Henry", "Chloe", "Daniel"];
const TITLES: [&str; 6] = ["主任", "係長", "課長", "Engineer", "Analyst", "Specialist"];

/// SplitMix64: a well-mixed 64-bit value per (seed, index).
fn mix(seed: u64, i: u64) -> u64 {
    let mut z = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x632B_E59B_D9B5_E5A5);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One tenant's directory as Graph serves it.
#[derive(Debug, Clone)]
pub struct TenantDirectory {
    tenant_id: String,
    domain: String,
    seed: u64,
    configured: Vec<Person>,
    generated: u32,
    added: Vec<(Person, Vec<usize>)>,
    edits: HashMap<u32, PersonEdit>,
    removed: std::collections::HashSet<u32>,
    groups: Vec<Group>,
}

impl TenantDirectory {
    pub fn new(tenant_id: &str, domains: &[String], users: &[UserConfig], generated: u32, seed: u64) -> Self {
        let domain = domains
            .iter()
            .find(|d| !d.ends_with(".onmicrosoft.com"))
            .or(domains.first())
            .cloned()
            .unwrap_or_else(|| "example.invalid".into());
        let configured = users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let (surname, given) = u.display_name.split_once(' ').unwrap_or((u.display_name.as_str(), ""));
                Person {
                    id: u.oid.clone().unwrap_or_else(|| guid_from(&format!("oid:{}", u.upn.to_lowercase()))),
                    display_name: u.display_name.clone(),
                    given_name: given.to_string(),
                    surname: surname.to_string(),
                    user_principal_name: u.upn.clone(),
                    mail: u.mail.clone(),
                    account_enabled: true,
                    job_title: None,
                    department: Some(GROUPS[LEAVES[i % LEAVES.len()]].0.to_string()),
                    preferred_language: "ja-JP".into(),
                }
            })
            .collect();
        let groups = GROUPS
            .iter()
            .enumerate()
            .map(|(g, (name, nick, _))| Group {
                id: guid_from(&format!("group:{tenant_id}:{g}")),
                display_name: name.to_string(),
                description: format!("{name} — generated by entra-emulator"),
                mail_nickname: nick.to_string(),
            })
            .collect();
        TenantDirectory {
            tenant_id: tenant_id.into(),
            domain,
            seed,
            configured,
            generated,
            added: vec![],
            edits: HashMap::new(),
            removed: Default::default(),
            groups,
        }
    }

    /// Size of the index space (removed people keep their index and are skipped).
    pub fn len(&self) -> u32 {
        self.configured.len() as u32 + self.generated + self.added.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The person at `index`, edits applied; None when removed or out of range.
    pub fn person(&self, index: u32) -> Option<Person> {
        if self.removed.contains(&index) {
            return None;
        }
        let k = self.configured.len() as u32;
        let mut p = if index < k {
            self.configured[index as usize].clone()
        } else if index < k + self.generated {
            self.generate(index)
        } else {
            self.added.get((index - k - self.generated) as usize)?.0.clone()
        };
        if let Some(e) = self.edits.get(&index) {
            if let Some(n) = &e.display_name {
                p.display_name = n.clone();
            }
            if let Some(m) = &e.mail {
                p.mail = m.clone();
            }
            if let Some(a) = e.account_enabled {
                p.account_enabled = a;
            }
        }
        Some(p)
    }

    /// Cheap flags of a person without building strings (filters on them scan 100,000 people quickly).
    pub fn flags(&self, index: u32) -> Option<(bool, bool)> {
        let k = self.configured.len() as u32;
        if self.removed.contains(&index) || index >= self.len() {
            return None;
        }
        if (k..k + self.generated).contains(&index) && !self.edits.contains_key(&index) {
            let h = mix(self.seed, index as u64);
            return Some((generated_enabled(h), generated_has_mail(h)));
        }
        self.person(index).map(|p| (p.account_enabled, p.mail.is_some()))
    }

    fn generate(&self, index: u32) -> Person {
        let h = mix(self.seed, index as u64);
        let n = index;
        let japanese = h % 10 < 7;
        let (display_name, given, family, login, lang) = if japanese {
            let (fk, fr) = FAMILY_JA[(h >> 8) as usize % FAMILY_JA.len()];
            let (gk, gr) = GIVEN_JA[(h >> 16) as usize % GIVEN_JA.len()];
            (format!("{fk} {gk}"), gk.to_string(), fk.to_string(), format!("{gr}.{fr}{n}"), "ja-JP")
        } else {
            let f = FAMILY_EN[(h >> 8) as usize % FAMILY_EN.len()];
            let g = GIVEN_EN[(h >> 16) as usize % GIVEN_EN.len()];
            (format!("{g} {f}"), g.to_string(), f.to_string(), format!("{}.{}{n}", g, f).to_lowercase(), "en-US")
        };
        let upn = format!("{login}@{}", self.domain);
        Person {
            id: self.generated_id(index, h),
            display_name,
            given_name: given,
            surname: family,
            mail: generated_has_mail(h).then(|| upn.clone()),
            user_principal_name: upn,
            account_enabled: generated_enabled(h),
            job_title: Some(TITLES[(h >> 24) as usize % TITLES.len()].to_string()),
            department: Some(GROUPS[self.leaf_of(index)].0.to_string()),
            preferred_language: lang.into(),
        }
    }

    /// Generated ids carry their index in the last group, so a look-up by id needs no table.
    fn generated_id(&self, index: u32, h: u64) -> String {
        let t = guid_from(&format!("{}:{}", self.tenant_id, self.seed));
        format!(
            "{}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            &t[..8],
            (h >> 48) & 0xffff,
            (h >> 36) & 0xfff,
            (h >> 24) & 0xfff,
            index
        )
    }

    /// The index of the person with this object id (or UPN), if present.
    pub fn find(&self, id_or_upn: &str) -> Option<u32> {
        let k = self.configured.len() as u32;
        if let Some(last) = id_or_upn.rsplit('-').next().filter(|l| l.len() == 12) {
            if let Ok(i) = u32::from_str_radix(last, 16) {
                if (k..k + self.generated).contains(&i) && self.person(i).is_some_and(|p| p.id == id_or_upn) {
                    return Some(i);
                }
            }
        }
        let hit =
            |p: &Person| p.id.eq_ignore_ascii_case(id_or_upn) || p.user_principal_name.eq_ignore_ascii_case(id_or_upn);
        if let Some(i) = self.configured.iter().position(hit) {
            return Some(i as u32).filter(|i| !self.removed.contains(i));
        }
        self.added
            .iter()
            .position(|(p, _)| hit(p))
            .map(|i| k + self.generated + i as u32)
            .filter(|i| !self.removed.contains(i))
    }

    pub fn edit(&mut self, index: u32, edit: PersonEdit) {
        let e = self.edits.entry(index).or_default();
        if edit.display_name.is_some() {
            e.display_name = edit.display_name;
        }
        if edit.mail.is_some() {
            e.mail = edit.mail;
        }
        if edit.account_enabled.is_some() {
            e.account_enabled = edit.account_enabled;
        }
    }

    pub fn remove(&mut self, index: u32) {
        self.removed.insert(index);
    }

    /// Adds a person; returns the new object id.
    pub fn add(&mut self, p: NewPerson) -> Result<String, String> {
        if self.find(&p.user_principal_name).is_some() {
            return Err(format!("userPrincipalName {} is already in use", p.user_principal_name));
        }
        let mut groups = vec![];
        for g in &p.groups {
            groups.push(self.group_index(g).ok_or_else(|| format!("no such group: {g}"))?);
        }
        let id = guid_from(&format!("added:{}:{}", self.tenant_id, p.user_principal_name.to_lowercase()));
        let (surname, given) = p.display_name.split_once(' ').unwrap_or((p.display_name.as_str(), ""));
        let person = Person {
            id: id.clone(),
            display_name: p.display_name.clone(),
            given_name: given.into(),
            surname: surname.into(),
            user_principal_name: p.user_principal_name,
            mail: p.mail,
            account_enabled: p.account_enabled,
            job_title: None,
            department: None,
            preferred_language: "ja-JP".into(),
        };
        self.added.push((person, groups));
        Ok(id)
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Group number of a group id (or display name).
    pub fn group_index(&self, id: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.id.eq_ignore_ascii_case(id) || g.display_name == id)
    }

    fn leaf_of(&self, index: u32) -> usize {
        LEAVES[(mix(self.seed ^ 0x5eed, index as u64) % LEAVES.len() as u64) as usize]
    }

    /// Direct membership of a person in group `g`.
    fn direct(&self, g: usize, index: u32) -> bool {
        let k = self.configured.len() as u32;
        if index >= k + self.generated {
            return self.added.get((index - k - self.generated) as usize).is_some_and(|(_, gs)| gs.contains(&g));
        }
        match g {
            0 | 8 => index.is_multiple_of(20),
            7 => index.is_multiple_of(7),
            9 => false,
            _ => self.leaf_of(index) == g,
        }
    }

    /// Membership through any nesting depth.
    pub fn transitive_member(&self, g: usize, index: u32) -> bool {
        self.direct(g, index) || GROUPS[g].2.iter().any(|&c| self.transitive_member(c, index))
    }
}

/// About 5% of generated people are disabled.
fn generated_enabled(h: u64) -> bool {
    !(h >> 32).is_multiple_of(20)
}

/// About 4% of generated people have no mailbox.
fn generated_has_mail(h: u64) -> bool {
    !(h >> 40).is_multiple_of(25)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(n: u32, seed: u64) -> TenantDirectory {
        TenantDirectory::new("t", &["t.onmicrosoft.com".into(), "t.example".into()], &[], n, seed)
    }

    #[test]
    fn deterministic_unique_and_varied() {
        let a = dir(2000, 7);
        let b = dir(2000, 7);
        let c = dir(2000, 8);
        assert_eq!(a.person(123), b.person(123));
        assert_ne!(a.person(123).unwrap().id, c.person(123).unwrap().id);
        let people: Vec<Person> = (0..2000).filter_map(|i| a.person(i)).collect();
        let upns: std::collections::HashSet<_> = people.iter().map(|p| p.user_principal_name.clone()).collect();
        assert_eq!(upns.len(), 2000);
        assert!(people.iter().all(|p| p.user_principal_name.ends_with("@t.example")));
        let disabled = people.iter().filter(|p| !p.account_enabled).count();
        let no_mail = people.iter().filter(|p| p.mail.is_none()).count();
        let japanese = people.iter().filter(|p| !p.display_name.is_ascii()).count();
        assert!((40..200).contains(&disabled), "{disabled}");
        assert!((30..160).contains(&no_mail), "{no_mail}");
        assert!((1200..1600).contains(&japanese), "{japanese}");
        for i in [0, 999, 1999] {
            let p = a.person(i).unwrap();
            assert_eq!(a.find(&p.id), Some(i));
            assert_eq!(a.flags(i), Some((p.account_enabled, p.mail.is_some())));
        }
    }

    #[test]
    fn nested_groups() {
        let d = dir(500, 1);
        for i in 0..500 {
            let in_sales = d.transitive_member(1, i);
            assert_eq!(in_sales, d.transitive_member(5, i) || d.transitive_member(6, i));
            assert!(d.transitive_member(0, i), "everyone is in All staff");
        }
        assert!(!d.transitive_member(9, 3));
    }
}
