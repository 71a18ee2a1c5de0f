//! Graph's OData query options as Microsoft documents them for directory objects: `$select`, `$top` (1..999,
//! default 100), `$filter`, `$search`, `$count`, `$skiptoken`, and which of them are "advanced queries" that need
//! the `ConsistencyLevel: eventual` header (and, except for `$search`, `$count=true`).
//!
//! The `$filter` grammar is the subset the app uses, joined by `and`: `accountEnabled eq|ne true|false`,
//! `mail eq|ne null`, `userPrincipalName|mail|displayName eq '…'`, `startswith(displayName|userPrincipalName,'…')`.
//! `ne`, `not` and comparisons with `null` are advanced (Microsoft's "Advanced query capabilities on Microsoft
//! Entra ID objects"); the rest works without the header.

use super::errors::GraphError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// One `$filter` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause {
    AccountEnabled { eq: bool, value: bool },
    MailNull { eq: bool },
    Equals { property: String, value: String },
    StartsWith { property: String, value: String },
}

impl Clause {
    fn advanced(&self) -> bool {
        match self {
            Clause::AccountEnabled { eq, .. } => !eq,
            Clause::MailNull { .. } => true,
            _ => false,
        }
    }
}

/// A parsed request.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub select: Option<Vec<String>>,
    pub top: u32,
    pub filter: Vec<Clause>,
    /// `$search="displayName:term"`: (property, term).
    pub search: Option<(String, String)>,
    pub count: bool,
    pub skiptoken: Option<String>,
    /// The raw options except `$skiptoken`, in request order (what the `nextLink` repeats).
    pub raw: Vec<(String, String)>,
}

/// Where a listing resumes and which page that is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub page: u32,
    pub next_index: u32,
}

pub const DEFAULT_TOP: u32 = 100;
pub const MAX_TOP: u32 = 999;

impl Query {
    /// Parses the query string; `selectable` are the properties of the resource type (`microsoft.graph.user`…).
    pub fn parse(raw_query: &str, type_name: &str, selectable: &[&str]) -> Result<Query, GraphError> {
        let mut q = Query { top: DEFAULT_TOP, ..Default::default() };
        for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
            let (k, v) = (k.to_string(), v.to_string());
            match k.as_str() {
                "$select" => {
                    let mut props = vec![];
                    for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        let Some(known) = selectable.iter().find(|s| s.eq_ignore_ascii_case(p)) else {
                            return Err(GraphError::bad_request(&format!(
                                "Could not find a property named '{p}' on type '{type_name}'."
                            )));
                        };
                        props.push(known.to_string());
                    }
                    q.select = Some(props);
                }
                "$top" => {
                    q.top = v.parse::<u32>().ok().filter(|n| (1..=MAX_TOP).contains(n)).ok_or_else(|| {
                        GraphError::bad_request(&format!(
                            "Invalid page size specified: '{v}'. Must be between 1 and {MAX_TOP} inclusive."
                        ))
                    })?;
                }
                "$filter" => q.filter = parse_filter(&v, type_name)?,
                "$search" => q.search = Some(parse_search(&v)?),
                "$count" => {
                    q.count = match v.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(GraphError::bad_request(&format!("Invalid value '{v}' for $count."))),
                    }
                }
                "$skiptoken" => {
                    q.skiptoken = Some(v);
                    continue;
                }
                other if other.starts_with('$') => {
                    return Err(GraphError::bad_request(&format!(
                        "Query option '{other}' is not supported by this emulator."
                    )));
                }
                _ => {}
            }
            q.raw.push((k, v));
        }
        Ok(q)
    }

    /// Microsoft's rules for advanced queries: `$search` needs the header; `$count` and advanced `$filter`
    /// clauses need the header and `$count=true`.
    pub fn check_consistency(&self, eventual: bool) -> Result<(), GraphError> {
        if self.search.is_some() && !eventual {
            return Err(GraphError::unsupported_query(
                "Request with $search query parameter only works through MSGraph with a special request header: \
                 'ConsistencyLevel: eventual'",
            ));
        }
        if self.count && !eventual {
            return Err(GraphError::bad_request("$count is not currently supported."));
        }
        if let Some(c) = self.filter.iter().find(|c| c.advanced()) {
            if !(eventual && self.count) {
                let property = match c {
                    Clause::AccountEnabled { .. } => "accountEnabled",
                    _ => "mail",
                };
                return Err(GraphError::unsupported_query(&format!(
                    "Unsupported or invalid query filter clause specified for property '{property}' of resource 'User'."
                )));
            }
        }
        Ok(())
    }

    /// The cursor of this request: page 1 at index 0, or what the `$skiptoken` says (bound to the same query).
    pub fn cursor(&self, scope: &str) -> Result<Cursor, GraphError> {
        let Some(token) = &self.skiptoken else { return Ok(Cursor { page: 1, next_index: 0 }) };
        let bad = || GraphError::bad_request("The skip token is invalid or does not belong to this query.");
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
        if bytes.len() != 2 + 4 + 4 + 8 || bytes[..2] != *b"X1" {
            return Err(bad());
        }
        let page = u32::from_be_bytes(bytes[2..6].try_into().map_err(|_| bad())?);
        let next_index = u32::from_be_bytes(bytes[6..10].try_into().map_err(|_| bad())?);
        if bytes[10..] != self.fingerprint(scope) {
            return Err(bad());
        }
        Ok(Cursor { page, next_index })
    }

    /// An opaque `$skiptoken` for the next page.
    pub fn skiptoken(&self, scope: &str, next: Cursor) -> String {
        let mut b = b"X1".to_vec();
        b.extend_from_slice(&next.page.to_be_bytes());
        b.extend_from_slice(&next.next_index.to_be_bytes());
        b.extend_from_slice(&self.fingerprint(scope));
        URL_SAFE_NO_PAD.encode(b)
    }

    /// The `@odata.nextLink` for `path` (absolute URL without query) resuming at `next`.
    pub fn next_link(&self, path: &str, scope: &str, next: Cursor) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.raw {
            ser.append_pair(k, v);
        }
        ser.append_pair("$skiptoken", &self.skiptoken(scope, next));
        format!("{path}?{}", ser.finish())
    }

    fn fingerprint(&self, scope: &str) -> [u8; 8] {
        let mut h = Sha256::new();
        h.update(scope.as_bytes());
        for (k, v) in &self.raw {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
        let d = h.finalize();
        let mut out = [0u8; 8];
        out.copy_from_slice(&d[..8]);
        out
    }
}

fn parse_search(v: &str) -> Result<(String, String), GraphError> {
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| GraphError::bad_request("Syntax error: the $search value must be enclosed in double quotes."))?;
    let (prop, term) = inner
        .split_once(':')
        .ok_or_else(|| GraphError::bad_request("Syntax error: $search expects \"property:term\"."))?;
    if !["displayName", "mail", "userPrincipalName", "mailNickname"].iter().any(|p| p.eq_ignore_ascii_case(prop)) {
        return Err(GraphError::bad_request(&format!("Property '{prop}' does not support $search.")));
    }
    Ok((prop.to_string(), term.to_string()))
}

fn parse_filter(v: &str, type_name: &str) -> Result<Vec<Clause>, GraphError> {
    let invalid = || GraphError::bad_request(&format!("Invalid filter clause: {v}"));
    let mut out = vec![];
    for part in split_and(v) {
        let part = part.trim();
        if let Some(args) = part.strip_prefix("startswith(").and_then(|s| s.strip_suffix(')')) {
            let (prop, lit) = args.split_once(',').ok_or_else(invalid)?;
            out.push(Clause::StartsWith {
                property: prop.trim().to_string(),
                value: literal(lit).ok_or_else(invalid)?,
            });
            continue;
        }
        let mut words = part.splitn(3, ' ');
        let (Some(prop), Some(op), Some(value)) = (words.next(), words.next(), words.next()) else {
            return Err(invalid());
        };
        let eq = match op {
            "eq" => true,
            "ne" => false,
            _ => return Err(invalid()),
        };
        let clause = match (prop, value.trim()) {
            ("accountEnabled", "true") => Clause::AccountEnabled { eq, value: true },
            ("accountEnabled", "false") => Clause::AccountEnabled { eq, value: false },
            ("mail", "null") => Clause::MailNull { eq },
            (p @ ("userPrincipalName" | "mail" | "displayName" | "id"), lit) if eq => {
                Clause::Equals { property: p.to_string(), value: literal(lit).ok_or_else(invalid)? }
            }
            (p, _) => {
                let resource = type_name.rsplit('.').next().unwrap_or(type_name);
                let resource = resource[..1].to_uppercase() + &resource[1..];
                return Err(GraphError::unsupported_query(&format!(
                    "Unsupported or invalid query filter clause specified for property '{p}' of resource '{resource}'."
                )));
            }
        };
        out.push(clause);
    }
    Ok(out)
}

/// Splits on ` and ` outside quoted literals.
fn split_and(v: &str) -> Vec<String> {
    let mut parts = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    let mut rest = v;
    while let Some(c) = rest.chars().next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if !quoted && rest.starts_with(" and ") {
            parts.push(std::mem::take(&mut cur));
            rest = &rest[5..];
            continue;
        }
        cur.push(c);
        rest = &rest[c.len_utf8()..];
    }
    parts.push(cur);
    parts
}

/// `'text'` with OData's doubled quote escape.
fn literal(s: &str) -> Option<String> {
    let s = s.trim();
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    const P: &[&str] = &["id", "displayName", "mail", "accountEnabled", "userPrincipalName"];

    #[test]
    fn filters_and_advanced_rules() {
        let q =
            Query::parse("%24filter=accountEnabled+eq+true+and+mail+ne+null&%24count=true", "microsoft.graph.user", P)
                .unwrap();
        assert_eq!(q.filter, vec![Clause::AccountEnabled { eq: true, value: true }, Clause::MailNull { eq: false }]);
        assert!(q.check_consistency(true).is_ok());
        assert_eq!(q.check_consistency(false).unwrap_err().code, "Request_BadRequest");
        let q = Query::parse("$filter=mail ne null", "microsoft.graph.user", P).unwrap();
        assert_eq!(q.check_consistency(true).unwrap_err().code, "Request_UnsupportedQuery");
        let q = Query::parse("$filter=accountEnabled eq false", "microsoft.graph.user", P).unwrap();
        assert!(q.check_consistency(false).is_ok());
        let q = Query::parse("$filter=displayName eq 'O''Brien and co'", "microsoft.graph.group", P).unwrap();
        assert_eq!(q.filter, vec![Clause::Equals { property: "displayName".into(), value: "O'Brien and co".into() }]);
        assert!(Query::parse("$top=1000", "microsoft.graph.user", P).is_err());
        assert!(Query::parse("$top=0", "microsoft.graph.user", P).is_err());
        assert!(Query::parse("$select=id,nope", "microsoft.graph.user", P).is_err());
    }

    #[test]
    fn skiptoken_is_bound_to_its_query() {
        let q = Query::parse("$top=5&$select=id", "microsoft.graph.user", P).unwrap();
        let next = Cursor { page: 2, next_index: 77 };
        let link = q.next_link("http://h/v1.0/users", "t:users", next);
        let again = Query::parse(link.split_once('?').unwrap().1, "microsoft.graph.user", P).unwrap();
        assert_eq!(again.cursor("t:users").unwrap(), next);
        assert!(again.cursor("t:groups").is_err());
        let other = Query::parse(
            &format!("$top=6&$select=id&$skiptoken={}", again.skiptoken.clone().unwrap()),
            "microsoft.graph.user",
            P,
        )
        .unwrap();
        assert!(other.cursor("t:users").is_err());
    }
}
