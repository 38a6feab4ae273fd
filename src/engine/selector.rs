//! The string form of a label selector (`env=prod,tier!=web,gpu`), used to select clusters.

use super::model::Labels;

/// One requirement of a string selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed string label selector, as in `kubectl get -l`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Parses `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, comma separated.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text)? {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(Selector { requirements })
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("unbalanced ')' at offset {i}"));
                }
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".to_string());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let key_ok =
        |k: &str| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    let checked = |k: &str| -> Result<String, String> {
        if key_ok(k) { Ok(k.to_string()) } else { Err(format!("invalid label key {k:?} in {part:?}")) }
    };
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(checked(key.trim())?));
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(checked(k.trim())?, v.trim().to_string()));
    }
    if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::Equals(checked(k.trim())?, v.trim().to_string()));
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let rest = words[1].trim();
        let (op, list) = rest.split_once('(').ok_or_else(|| format!("expected '(' in set requirement {part:?}"))?;
        let list = list.strip_suffix(')').ok_or_else(|| format!("expected ')' closing {part:?}"))?;
        let values: Vec<String> = list.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
        return match op.trim() {
            "in" => Ok(Requirement::In(checked(words[0])?, values)),
            "notin" => Ok(Requirement::NotIn(checked(words[0])?, values)),
            other => Err(format!("unknown operator {other:?} in {part:?}; use in or notin")),
        };
    }
    Ok(Requirement::Exists(checked(part)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn string_selector_forms() {
        let s = Selector::parse("env=prod, region!=us,gpu,!legacy,zone in (a, b),tier notin (web)").unwrap();
        let yes = labels(&[("env", "prod"), ("region", "eu"), ("gpu", "1"), ("zone", "a")]);
        assert!(s.matches(&yes));
        let mut no = yes.clone();
        no.insert("legacy".into(), "true".into());
        assert!(!s.matches(&no));
        let mut no = yes.clone();
        no.insert("zone".into(), "c".into());
        assert!(!s.matches(&no));
        assert!(Selector::parse("").unwrap().matches(&Labels::new()));
        assert!(Selector::parse("zone in (a").is_err());
        assert!(Selector::parse("bad key=1").is_err());
    }
}
