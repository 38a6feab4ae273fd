//! The string form of a label selector (`env=prod,tier in (a,b),!gpu`), used to select clusters: upstream's
//! `labels.Parse` (`k8s.io/apimachinery/pkg/labels/selector.go`), producing a kube-core [`Selector`] that
//! matches through [`kube::core::SelectorExt`].
//!
//! Lexer and parser follow upstream's step by step, so the same strings are accepted, with the same empty
//! values, value sets and whitespace rules. One departure: `>` and `<` (Gt/Lt) are rejected, because a kube-core
//! selector has no such expressions.

use kube::core::{Expression, Selector};

use crate::apiserver::names::{is_qualified_name, is_valid_label_value};

/// Upstream's lexer tokens (no ErrorToken: every special symbol is a token by itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

/// `isSpecialSymbol`, with the token the symbol spells by itself.
fn special_symbol(ch: u8) -> Option<Token> {
    Some(match ch {
        b')' => Token::ClosedPar,
        b',' => Token::Comma,
        b'!' => Token::DoesNotExist,
        b'=' => Token::Equals,
        b'>' => Token::GreaterThan,
        b'<' => Token::LessThan,
        b'(' => Token::OpenPar,
        _ => return None,
    })
}

/// `string2token`: the spelled tokens.
fn spelled_token(literal: &str) -> Option<Token> {
    match literal {
        "==" => Some(Token::DoubleEquals),
        "!=" => Some(Token::NotEquals),
        "in" => Some(Token::In),
        "notin" => Some(Token::NotIn),
        _ => match literal.as_bytes() {
            [ch] => special_symbol(*ch),
            _ => None,
        },
    }
}

/// `isWhitespace`: only these four; any other byte belongs to an identifier.
fn is_whitespace(ch: u8) -> bool {
    matches!(ch, b' ' | b'\t' | b'\r' | b'\n')
}

/// upstream `Lexer`: reads bytes, and a NUL byte reads like the end of the string.
struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn read(&mut self) -> u8 {
        match self.s.as_bytes().get(self.pos) {
            Some(&ch) => {
                self.pos += 1;
                ch
            }
            None => 0,
        }
    }

    fn unread(&mut self) {
        self.pos -= 1;
    }

    /// `Lex`. Tokens end at ASCII bytes, so every literal is a slice of the input.
    fn lex(&mut self) -> (Token, &'a str) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Token::EndOfString, "");
        }
        match special_symbol(ch) {
            Some(token) => self.scan_special_symbol(self.pos - 1, token),
            None => {
                self.unread();
                self.scan_id_or_keyword()
            }
        }
    }

    /// `scanIDOrKeyword`: up to the next special symbol, whitespace or NUL; `in` and `notin` are keywords.
    fn scan_id_or_keyword(&mut self) -> (Token, &'a str) {
        let start = self.pos;
        let mut end = start;
        loop {
            match self.read() {
                0 => break,
                ch if special_symbol(ch).is_some() || is_whitespace(ch) => {
                    self.unread();
                    break;
                }
                _ => end = self.pos,
            }
        }
        let literal = &self.s[start..end];
        (spelled_token(literal).unwrap_or(Token::Identifier), literal)
    }

    /// `scanSpecialSymbol`: the symbol at `start` grows while the longer run still spells a token (`!=`, `==`).
    fn scan_special_symbol(&mut self, start: usize, mut token: Token) -> (Token, &'a str) {
        let mut end = self.pos;
        loop {
            match self.read() {
                0 => break,
                ch if special_symbol(ch).is_some() => match spelled_token(&self.s[start..self.pos]) {
                    Some(longer) => (token, end) = (longer, self.pos),
                    None => {
                        self.unread();
                        break;
                    }
                },
                _ => {
                    self.unread();
                    break;
                }
            }
        }
        (token, &self.s[start..end])
    }
}

/// upstream `ParserContext`: `in` and `notin` are operators after a key, identifiers anywhere else.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

/// The binary operators this parser accepts (upstream's `binaryOperators` without `gt` and `lt`; `==` is `=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    In,
    NotIn,
    Equals,
    NotEquals,
}

/// The operators a key alone implies: `k` and `!k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unary {
    Exists,
    DoesNotExist,
}

/// Spelled as upstream's error messages list them.
const BINARY_OPERATORS: &str = "in, notin, =, ==, !=";

struct Parser<'a> {
    items: Vec<(Token, &'a str)>,
    position: usize,
}

impl<'a> Parser<'a> {
    /// `scan`: every token up to and including the end of the string.
    fn new(text: &'a str) -> Self {
        let mut lexer = Lexer { s: text, pos: 0 };
        let mut items = Vec::new();
        loop {
            let item = lexer.lex();
            items.push(item);
            if item.0 == Token::EndOfString {
                return Parser { items, position: 0 };
            }
        }
    }

    fn lookahead(&self, context: Context) -> (Token, &'a str) {
        let (token, literal) = self.items.get(self.position).copied().unwrap_or((Token::EndOfString, ""));
        match token {
            Token::In | Token::NotIn if context == Context::Values => (Token::Identifier, literal),
            _ => (token, literal),
        }
    }

    fn consume(&mut self, context: Context) -> (Token, &'a str) {
        let item = self.lookahead(context);
        self.position += 1;
        item
    }

    /// `parse`: requirements separated by commas.
    fn parse(&mut self) -> Result<Vec<(String, Expression)>, String> {
        let mut requirements = Vec::new();
        loop {
            let (token, literal) = self.lookahead(Context::Values);
            match token {
                Token::Identifier | Token::DoesNotExist => {
                    let requirement =
                        self.parse_requirement().map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(requirement);
                    let (token, literal) = self.consume(Context::Values);
                    match token {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (next, literal) = self.lookahead(Context::Values);
                            if next != Token::Identifier && next != Token::DoesNotExist {
                                return Err(format!("found '{literal}', expected: identifier after ','"));
                            }
                        }
                        _ => return Err(format!("found '{literal}', expected: ',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => return Err(format!("found '{literal}', expected: !, identifier, or 'end of string'")),
            }
        }
    }

    /// `parseRequirement`, keyed for sorting.
    fn parse_requirement(&mut self) -> Result<(String, Expression), String> {
        let (key, unary) = self.parse_key_and_infer_operator()?;
        let key = key.to_owned();
        let expression = match unary {
            Some(Unary::Exists) => Expression::Exists(key.clone()),
            Some(Unary::DoesNotExist) => Expression::DoesNotExist(key.clone()),
            None => match self.parse_operator()? {
                operator @ (Operator::In | Operator::NotIn) => {
                    let values = self.parse_values()?;
                    check_label_values(&key, &values)?;
                    let values = values.into_iter().collect();
                    if operator == Operator::In {
                        Expression::In(key.clone(), values)
                    } else {
                        Expression::NotIn(key.clone(), values)
                    }
                }
                operator => {
                    let value = self.parse_exact_value()?;
                    check_label_values(&key, std::slice::from_ref(&value))?;
                    if operator == Operator::NotEquals {
                        Expression::NotEqual(key.clone(), value)
                    } else {
                        Expression::Equal(key.clone(), value)
                    }
                }
            },
        };
        Ok((key, expression))
    }

    /// `parseKeyAndInferOperator`: the key, and Exists or DoesNotExist when no binary operator follows (after
    /// `!` the key stays DoesNotExist even when one does, and the caller then fails on it).
    fn parse_key_and_infer_operator(&mut self) -> Result<(&'a str, Option<Unary>), String> {
        let mut unary = None;
        let (mut token, mut literal) = self.consume(Context::Values);
        if token == Token::DoesNotExist {
            unary = Some(Unary::DoesNotExist);
            (token, literal) = self.consume(Context::Values);
        }
        if token != Token::Identifier {
            return Err(format!("found '{literal}', expected: identifier"));
        }
        let errors = is_qualified_name(literal);
        if !errors.is_empty() {
            return Err(format!("invalid label key {literal:?}: {}", errors.join("; ")));
        }
        if unary.is_none() && matches!(self.lookahead(Context::Values).0, Token::EndOfString | Token::Comma) {
            unary = Some(Unary::Exists);
        }
        Ok((literal, unary))
    }

    /// `parseOperator`.
    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (token, literal) = self.consume(Context::KeyAndOperator);
        Ok(match token {
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Equals | Token::DoubleEquals => Operator::Equals,
            Token::NotEquals => Operator::NotEquals,
            _ => return Err(format!("found '{literal}', expected: {BINARY_OPERATORS}")),
        })
    }

    /// `parseValues`: `(a,b)`; `()` is the one empty value.
    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (token, literal) = self.consume(Context::Values);
        if token != Token::OpenPar {
            return Err(format!("found '{literal}' expected: '('"));
        }
        let (token, literal) = self.lookahead(Context::Values);
        match token {
            Token::Identifier | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                // The list ends only before ')', which is consumed here.
                self.consume(Context::Values);
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{literal}', expected: ',', ')' or identifier")),
        }
    }

    /// `parseIdentifiersList`: comma-separated, possibly empty, values; a missing value is "".
    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut values = Vec::new();
        loop {
            let (token, literal) = self.consume(Context::Values);
            match token {
                Token::Identifier => {
                    values.push(literal.to_owned());
                    let (next, literal) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => return Err(format!("found '{literal}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    match self.lookahead(Context::Values).0 {
                        Token::ClosedPar => {
                            values.push(String::new());
                            return Ok(values);
                        }
                        Token::Comma => {
                            self.consume(Context::Values);
                            values.push(String::new());
                        }
                        _ => {}
                    }
                }
                _ => return Err(format!("found '{literal}', expected: ',', or identifier")),
            }
        }
    }

    /// `parseExactValue`: the value after `=`, `==` or `!=`; nothing before ',' or the end is "".
    fn parse_exact_value(&mut self) -> Result<String, String> {
        if matches!(self.lookahead(Context::Values).0, Token::EndOfString | Token::Comma) {
            return Ok(String::new());
        }
        match self.consume(Context::Values) {
            (Token::Identifier, literal) => Ok(literal.to_owned()),
            (_, literal) => Err(format!("found '{literal}', expected: identifier")),
        }
    }
}

/// NewRequirement's value check: every value must be a valid label value.
fn check_label_values(key: &str, values: &[String]) -> Result<(), String> {
    let invalid: Vec<String> = values
        .iter()
        .filter_map(|value| {
            let errors = is_valid_label_value(value);
            (!errors.is_empty())
                .then(|| format!("invalid label value {value:?} for key {key:?}: {}", errors.join("; ")))
        })
        .collect();
    if invalid.is_empty() { Ok(()) } else { Err(invalid.join("; ")) }
}

/// upstream `labels.Parse`: requirements sorted by key (stably), values deduplicated, duplicate requirements
/// kept (`x=a,x=b` selects nothing). The error names the offending token, key or value.
pub fn parse_label_selector(text: &str) -> Result<Selector, String> {
    let mut requirements = Parser::new(text).parse()?;
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(requirements.into_iter().map(|(_, expression)| expression).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kube::core::SelectorExt;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn parsed(text: &str) -> Selector {
        parse_label_selector(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn values(vs: &[&str]) -> std::collections::BTreeSet<String> {
        vs.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn string_selector_forms() {
        let s = parsed("env=prod, region!=us,gpu,!legacy,zone in (a, b),tier notin (web)");
        let yes = labels(&[("env", "prod"), ("region", "eu"), ("gpu", "1"), ("zone", "a")]);
        assert!(s.matches(&yes));
        let mut no = yes.clone();
        no.insert("legacy".into(), "true".into());
        assert!(!s.matches(&no));
        let mut no = yes.clone();
        no.insert("zone".into(), "c".into());
        assert!(!s.matches(&no));
        assert!(parsed("").matches(&BTreeMap::new()));
        assert!(parse_label_selector("zone in (a").is_err());
        assert!(parse_label_selector("bad key=1").is_err());
    }

    /// Upstream TestLexer and TestLexerSequence.
    #[test]
    fn upstream_lexer() {
        use Token::*;
        let single = [
            ("", EndOfString),
            (",", Comma),
            ("notin", NotIn),
            ("in", In),
            ("=", Equals),
            ("==", DoubleEquals),
            (">", GreaterThan),
            ("<", LessThan),
            ("!", DoesNotExist),
            ("!=", NotEquals),
            ("(", OpenPar),
            (")", ClosedPar),
            ("~", Identifier),
            ("||", Identifier),
        ];
        for (text, want) in single {
            assert_eq!(Lexer { s: text, pos: 0 }.lex(), (want, text), "{text:?}");
        }
        let sequences: [(&str, &[Token]); 10] = [
            ("key in ( value )", &[Identifier, In, OpenPar, Identifier, ClosedPar]),
            ("key notin ( value )", &[Identifier, NotIn, OpenPar, Identifier, ClosedPar]),
            ("key in ( value1, value2 )", &[Identifier, In, OpenPar, Identifier, Comma, Identifier, ClosedPar]),
            ("key", &[Identifier]),
            ("!key", &[DoesNotExist, Identifier]),
            ("()", &[OpenPar, ClosedPar]),
            ("x in (),y", &[Identifier, In, OpenPar, ClosedPar, Comma, Identifier]),
            ("== != (), = notin", &[DoubleEquals, NotEquals, OpenPar, ClosedPar, Comma, Equals, NotIn]),
            ("key>2", &[Identifier, GreaterThan, Identifier]),
            ("key<1", &[Identifier, LessThan, Identifier]),
        ];
        for (text, want) in sequences {
            let scanned = Parser::new(text).items;
            let tokens: Vec<Token> = scanned.iter().map(|(token, _)| *token).collect();
            assert_eq!(tokens.split_last(), Some((&EndOfString, want)), "{text:?}");
        }
    }

    /// Upstream TestSelectorParse: a good string survives a round trip (spaces aside), a bad one fails.
    #[test]
    fn upstream_selector_parse() {
        for text in ["x=a,y=b,z=c", "", "x!=a,y=b", "x=", "x= ", "x=,z= ", "x= ,z= ", "!x"] {
            assert_eq!(parsed(text).to_string(), text.replace(' ', ""), "{text:?}");
        }
        for text in ["x=a||y=b", "x==a==b", "!x=a", "x<a"] {
            assert!(parse_label_selector(text).is_err(), "{text:?}");
        }
        // Upstream accepts these too; a kube-core selector has no Gt/Lt.
        for text in ["x>1", "x>1,z<5", "x<7"] {
            assert_eq!(
                parse_label_selector(text).unwrap_err(),
                format!("unable to parse requirement: found '{}', expected: in, notin, =, ==, !=", &text[1..2]),
            );
        }
    }

    /// Upstream TestDeterministicParse.
    #[test]
    fn upstream_deterministic_parse() {
        assert_eq!(parsed("x=a,a=x").to_string(), parsed("a=x,x=a").to_string());
        assert_eq!(parsed("x=a,a=x").to_string(), "a=x,x=a");
    }

    /// Upstream TestSelectorMatches (Gt/Lt cases aside).
    #[test]
    fn upstream_selector_matches() {
        type Pairs = &'static [(&'static str, &'static str)];
        let rows: [(&str, Pairs, bool); 19] = [
            ("", &[("x", "y")], true),
            ("x=y", &[("x", "y")], true),
            ("x=y,z=w", &[("x", "y"), ("z", "w")], true),
            ("x!=y,z!=w", &[("x", "z"), ("z", "a")], true),
            ("notin=in", &[("notin", "in")], true),
            ("x", &[("x", "z")], true),
            ("!x", &[("y", "z")], true),
            ("x=z", &[], false),
            ("x=y", &[("x", "z")], false),
            ("x=y,z=w", &[("x", "w"), ("z", "w")], false),
            ("x!=y,z!=w", &[("x", "z"), ("z", "w")], false),
            ("x", &[("y", "z")], false),
            ("!x", &[("x", "z")], false),
            ("foo=bar", &[("foo", "bar"), ("baz", "blah")], true),
            ("baz=blah", &[("foo", "bar"), ("baz", "blah")], true),
            ("foo=bar,baz=blah", &[("foo", "bar"), ("baz", "blah")], true),
            ("foo=blah", &[("foo", "bar"), ("baz", "blah")], false),
            ("baz=bar", &[("foo", "bar"), ("baz", "blah")], false),
            ("foo=bar,foobar=bar,baz=blah", &[("foo", "bar"), ("baz", "blah")], false),
        ];
        for (text, set, want) in rows {
            assert_eq!(parsed(text).matches(&labels(set)), want, "{text:?} on {set:?}");
        }
    }

    /// Upstream TestSetSelectorParser: the parsed requirements, sorted by key; `None` for a parse error.
    #[test]
    fn upstream_set_selector_parser() {
        use Expression::*;
        let k = |s: &str| s.to_owned();
        let rows: Vec<(&str, Option<Vec<Expression>>)> = vec![
            ("", Some(vec![])),
            ("\rx", Some(vec![Exists(k("x"))])),
            ("this-is-a-dns.domain.com/key-with-dash", Some(vec![Exists(k("this-is-a-dns.domain.com/key-with-dash"))])),
            (
                "this-is-another-dns.domain.com/key-with-dash in (so,what)",
                Some(vec![In(k("this-is-another-dns.domain.com/key-with-dash"), values(&["so", "what"]))]),
            ),
            (
                "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
                Some(vec![NotIn(k("0.1.2.domain/99"), values(&["10.10.100.1", "tick.tack.clock"]))]),
            ),
            ("foo  in\t (abc)", Some(vec![In(k("foo"), values(&["abc"]))])),
            ("x notin\n (abc)", Some(vec![NotIn(k("x"), values(&["abc"]))])),
            ("x  notin\t\t\t(abc,def)", Some(vec![NotIn(k("x"), values(&["abc", "def"]))])),
            ("x in (abc,def)", Some(vec![In(k("x"), values(&["abc", "def"]))])),
            ("x in (abc,)", Some(vec![In(k("x"), values(&["abc", ""]))])),
            ("x in ()", Some(vec![In(k("x"), values(&[""]))])),
            (
                "x notin (abc,,def),bar,z in (),w",
                Some(vec![
                    Exists(k("bar")),
                    Exists(k("w")),
                    NotIn(k("x"), values(&["abc", "", "def"])),
                    In(k("z"), values(&[""])),
                ]),
            ),
            ("x,y in (a)", Some(vec![Exists(k("x")), In(k("y"), values(&["a"]))])),
            ("x=a", Some(vec![Equal(k("x"), k("a"))])),
            ("x=a,y!=b", Some(vec![Equal(k("x"), k("a")), NotEqual(k("y"), k("b"))])),
            (
                "x=a,y!=b,z in (h,i,j)",
                Some(vec![Equal(k("x"), k("a")), NotEqual(k("y"), k("b")), In(k("z"), values(&["h", "i", "j"]))]),
            ),
            ("x=a||y=b", None),
            ("x,,y", None),
            (",x,y", None),
            ("x nott in (y)", None),
            ("x notin ( )", Some(vec![NotIn(k("x"), values(&[""]))])),
            ("x notin (, a)", Some(vec![NotIn(k("x"), values(&["", "a"]))])),
            ("a in (xyz),", None),
            ("a in (xyz)b notin ()", None),
            ("a ", Some(vec![Exists(k("a"))])),
            ("a in (x,y,notin, z,in)", Some(vec![In(k("a"), values(&["in", "notin", "x", "y", "z"]))])),
            ("a in (xyz abc)", None),
            ("a notin(", None),
            ("a (", None),
            ("(", None),
        ];
        for (text, want) in rows {
            let got = parse_label_selector(text).ok();
            assert_eq!(got, want.map(|expressions| expressions.into_iter().collect::<Selector>()), "{text:?}");
        }
    }

    #[test]
    fn equality_spellings_empty_values_and_duplicates() {
        assert_eq!(parsed("x==a"), parsed("x=a"));
        assert_eq!(parsed("x=a").to_string(), "x=a");
        assert!(parsed("x=").matches(&labels(&[("x", "")])));
        assert!(!parsed("x=").matches(&labels(&[])));
        assert!(parsed("x in (,a)").matches(&labels(&[("x", "")])));
        // Values are a set; requirements are not merged, so two values for one key select nothing.
        assert_eq!(parsed("x in (b,a,b)").to_string(), "x in (a,b)");
        let both = parsed("x=a,x=b");
        assert_eq!(both.to_string(), "x=a,x=b");
        assert!(!both.matches(&labels(&[("x", "a")])));
        assert!(!both.matches(&labels(&[("x", "b")])));
    }

    #[test]
    fn whitespace_is_space_tab_cr_and_lf_only() {
        assert_eq!(parsed(" \t\r\nx\t=\ta ,\n y ").to_string(), "x=a,y");
        // Any other space is part of an identifier, so the key is invalid.
        let err = parse_label_selector("x\u{a0}=a").unwrap_err();
        assert!(err.starts_with("unable to parse requirement: invalid label key \"x\\u{a0}\": "), "{err}");
        // A NUL byte ends a token, and where a token would start it ends the selector, as upstream's lexer reads it.
        assert_eq!(parsed("x=a \0 garbage").to_string(), "x=a");
        assert_eq!(parsed("x=\0a").to_string(), "x=a");
    }

    #[test]
    fn errors_name_the_offending_part() {
        let err = |text: &str| parse_label_selector(text).unwrap_err();
        assert_eq!(err("a in (xyz abc)"), "unable to parse requirement: found 'abc', expected: ',' or ')'");
        assert_eq!(err("x=a b"), "found 'b', expected: ',' or 'end of string'");
        assert_eq!(err("x,"), "found '', expected: identifier after ','");
        assert_eq!(err(",x"), "found ',', expected: !, identifier, or 'end of string'");
        assert_eq!(err("x in a"), "unable to parse requirement: found 'a' expected: '('");
        assert_eq!(err("x in (=)"), "unable to parse requirement: found '=', expected: ',', ')' or identifier");
        assert_eq!(err("x in (a,=)"), "unable to parse requirement: found '=', expected: ',', or identifier");
        assert_eq!(err("x=("), "unable to parse requirement: found '(', expected: identifier");
        assert_eq!(err("!"), "unable to parse requirement: found '', expected: identifier");
        let key = err("-bad=v");
        assert!(key.starts_with("unable to parse requirement: invalid label key \"-bad\": name part "), "{key}");
        let long_key = "a".repeat(254);
        assert!(err(&long_key).contains(&format!("invalid label key {long_key:?}")));
        let value = err("x in (a,-b)");
        assert!(
            value.starts_with("unable to parse requirement: invalid label value \"-b\" for key \"x\": "),
            "{value}"
        );
        let long_value = "v".repeat(64);
        assert!(err(&format!("x={long_value}")).contains("must be no more than 63"));
    }
}
