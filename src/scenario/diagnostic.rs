//! Problems found in a scenario file, each with the JSON path of the value at
//! fault, its line and column in the file, and what was expected.
//!
//! serde_json's `Value` forgets positions, so [`locate`] finds them again by
//! scanning the source along the path: a small, allocation-light JSON walker
//! that only has to be right for text that already parsed as JSON.

use std::fmt;

/// One step of a JSON path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// A path into a JSON document, such as `services.orders.calls[0].service`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JsonPath(pub Vec<Segment>);

impl JsonPath {
    /// The document root.
    pub fn root() -> Self {
        JsonPath(Vec::new())
    }
    /// This path extended by an object member.
    pub fn key(&self, key: &str) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Key(key.to_string()));
        path
    }
    /// This path extended by an array index.
    pub fn index(&self, index: usize) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) => {
                    let plain = !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    match (i, plain) {
                        (0, true) => write!(f, "{key}")?,
                        (_, true) => write!(f, ".{key}")?,
                        (_, false) => write!(f, "[{key:?}]")?,
                    }
                }
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// One problem in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where in the document.
    pub path: JsonPath,
    /// 1-based line and column of the offending value, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Every problem found in one scenario file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// The file, as the user named it.
    pub file: String,
    /// The problems, in document order where positions are known.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.diagnostics.len();
        writeln!(
            f,
            "{}: {n} problem{} found",
            self.file,
            if n == 1 { "" } else { "s" }
        )?;
        for d in &self.diagnostics {
            match d.position {
                Some((line, column)) => write!(f, "  {}:{line}:{column}: ", self.file)?,
                None => write!(f, "  {}: ", self.file)?,
            }
            writeln!(f, "{}: {}", d.path, d.message)?;
        }
        Ok(())
    }
}

/// The 1-based line and column where the value at `path` starts in `source`
/// (for a member, where its key starts), or `None` if it is not there. A key
/// repeated in one object is found at its last occurrence, the one
/// serde_json keeps.
pub fn locate(source: &str, path: &JsonPath) -> Option<(usize, usize)> {
    let bytes = source.as_bytes();
    let mut walker = Walker { bytes, at: 0 };
    walker.ws();
    let offset = walker.find(&path.0)?;
    Some(line_column(source, offset))
}

/// Like [`locate`], but for a value that is not in the text (a default), the
/// position of its nearest ancestor that is, so that every problem in a
/// document that parsed has a line and a column.
pub fn locate_nearest(source: &str, path: &JsonPath) -> Option<(usize, usize)> {
    (0..=path.0.len())
        .rev()
        .find_map(|n| locate(source, &JsonPath(path.0[..n].to_vec())))
}

/// Every repetition of a key within one object, as the path of the member
/// and the byte offset where the repeated key starts. serde_json keeps the
/// last value and silently drops the others, so a repeated key (two services
/// of the same name, say) would otherwise go unnoticed. `source` must be
/// JSON that serde_json accepted (so nesting is at most 128 deep).
pub fn duplicate_keys(source: &str) -> Vec<(JsonPath, usize)> {
    let mut walker = Walker {
        bytes: source.as_bytes(),
        at: 0,
    };
    let mut path = Vec::new();
    let mut out = Vec::new();
    walker.ws();
    let _ = walker.duplicates(&mut path, &mut out);
    out
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Walker<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// With `at` on a value: the offset of the value at `path` below it.
    fn find(&mut self, path: &[Segment]) -> Option<usize> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self.at);
        };
        match (first, self.peek()?) {
            (Segment::Key(want), b'{') => {
                self.at += 1;
                // serde_json keeps the last of repeated keys: so do we.
                let mut found = None;
                loop {
                    self.ws();
                    if self.peek()? == b'}' {
                        break;
                    }
                    let key_at = self.at;
                    let key = self.string()?;
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.at += 1;
                    self.ws();
                    if key == *want {
                        found = Some((key_at, self.at));
                    }
                    self.skip_value()?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b'}' => break,
                        _ => return None,
                    }
                }
                let (key_at, value_at) = found?;
                if rest.is_empty() {
                    Some(key_at)
                } else {
                    self.at = value_at;
                    self.find(rest)
                }
            }
            (Segment::Index(want), b'[') => {
                self.at += 1;
                let mut index = 0;
                loop {
                    self.ws();
                    if self.peek()? == b']' {
                        return None;
                    }
                    if index == *want {
                        return self.find(rest);
                    }
                    self.skip_value()?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.at += 1,
                        _ => return None,
                    }
                    index += 1;
                }
            }
            _ => None,
        }
    }

    /// With `at` on a value: skips it, recording repeated keys in every
    /// object inside it.
    fn duplicates(
        &mut self,
        path: &mut Vec<Segment>,
        out: &mut Vec<(JsonPath, usize)>,
    ) -> Option<()> {
        let (close, object) = match self.peek()? {
            b'{' => (b'}', true),
            b'[' => (b']', false),
            _ => return self.skip_value(),
        };
        self.at += 1;
        let mut seen = std::collections::BTreeSet::new();
        let mut index = 0;
        loop {
            self.ws();
            if self.peek()? == close {
                self.at += 1;
                return Some(());
            }
            if object {
                let key_at = self.at;
                let key = self.string()?;
                self.ws();
                if self.peek()? != b':' {
                    return None;
                }
                self.at += 1;
                self.ws();
                path.push(Segment::Key(key.clone()));
                if !seen.insert(key) {
                    out.push((JsonPath(path.clone()), key_at));
                }
            } else {
                path.push(Segment::Index(index));
                index += 1;
            }
            let inner = self.duplicates(path, out);
            path.pop();
            inner?;
            self.ws();
            match self.peek()? {
                b',' => self.at += 1,
                c if c == close => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Reads a string, unescaping only what a key comparison needs.
    fn string(&mut self) -> Option<String> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at;
        self.skip_string()?;
        serde_json::from_slice(&self.bytes[start..self.at]).ok()
    }

    fn skip_string(&mut self) -> Option<()> {
        self.at += 1;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                _ => self.at += 1,
            }
        }
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.at += 1;
                }
                Some(())
            }
        }
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be what
/// the user meant.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
  "name": "x",
  "services": {
    "orders": {"calls": [{"service": "a"}, {"service": "b", "odd": [1, {"x": "]"}]}]},
    "we\"ird": 3
  }
}"#;

    fn path(segments: &[Segment]) -> JsonPath {
        JsonPath(segments.to_vec())
    }

    fn key(k: &str) -> Segment {
        Segment::Key(k.to_string())
    }

    #[test]
    fn locates_members_and_elements() {
        assert_eq!(locate(DOC, &JsonPath::root()), Some((1, 1)));
        assert_eq!(locate(DOC, &path(&[key("name")])), Some((2, 3)));
        let p = path(&[
            key("services"),
            key("orders"),
            key("calls"),
            Segment::Index(1),
            key("service"),
        ]);
        assert_eq!(locate(DOC, &p), Some((4, 45)));
        assert_eq!(
            locate(DOC, &path(&[key("services"), key("we\"ird")])),
            Some((5, 5))
        );
        assert_eq!(locate(DOC, &path(&[key("missing")])), None);
        assert_eq!(
            locate(
                DOC,
                &path(&[
                    key("services"),
                    key("orders"),
                    key("calls"),
                    Segment::Index(9)
                ])
            ),
            None
        );
    }

    #[test]
    fn repeated_keys_are_found_where_serde_json_reads_them() {
        let doc = "{\"a\": {\"x\": 1},\n \"b\": [{\"y\": 1, \"y\": 2}],\n \"a\": {\"x\": 3}}";
        // serde_json keeps the last `a`: so does `locate`.
        assert_eq!(locate(doc, &path(&[key("a"), key("x")])), Some((3, 8)));
        assert_eq!(locate(doc, &path(&[key("a")])), Some((3, 2)));
        let found: Vec<(String, (usize, usize))> = duplicate_keys(doc)
            .into_iter()
            .map(|(p, offset)| (p.to_string(), line_column(doc, offset)))
            .collect();
        assert_eq!(
            found,
            vec![("b[0].y".to_string(), (2, 17)), ("a".to_string(), (3, 2)),]
        );
        assert!(duplicate_keys(DOC).is_empty());
    }

    #[test]
    fn defaults_are_located_at_their_nearest_ancestor() {
        let p = path(&[key("services"), key("orders"), key("queue_capacity")]);
        assert_eq!(locate(DOC, &p), None);
        assert_eq!(locate_nearest(DOC, &p), Some((4, 5)));
        assert_eq!(locate_nearest(DOC, &path(&[key("window")])), Some((1, 1)));
    }

    #[test]
    fn prints_paths_readably() {
        let p = JsonPath::root()
            .key("services")
            .key("orders")
            .key("calls")
            .index(0)
            .key("service");
        assert_eq!(p.to_string(), "services.orders.calls[0].service");
        assert_eq!(
            JsonPath::root().key("services").key("a b").to_string(),
            "services[\"a b\"]"
        );
    }

    #[test]
    fn suggests_close_names_only() {
        let fields = ["instances", "concurrency", "queue_capacity"];
        assert_eq!(did_you_mean("concurency", fields), Some("concurrency"));
        assert_eq!(did_you_mean("zzz", fields), None);
    }
}
