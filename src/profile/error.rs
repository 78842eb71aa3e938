//! Profile errors: what is wrong, where (file, line, column, key) and a hint saying what is allowed.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// One problem found in a profile (or in a template it names).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileError {
    /// The file as the user named it, e.g. `profiles/prod.toml`.
    pub file: String,
    /// 1-based line and column, when the problem has a place in the file.
    pub position: Option<(usize, usize)>,
    /// The dotted key, e.g. `load_balancer.listeners[0].port`.
    pub key: Option<String>,
    pub message: String,
    pub hint: Option<String>,
    /// A stable code for the checks made against the account (`database.version-not-creatable`):
    /// scripts match on it, and the README lists them. Profile syntax errors have none.
    pub code: Option<&'static str>,
    pub(crate) snippet: Option<(Arc<str>, Range<usize>)>,
}

impl ProfileError {
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> Self {
        ProfileError {
            file: file.into(),
            position: None,
            key: None,
            message: message.into(),
            hint: None,
            code: None,
            snippet: None,
        }
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Point the error at a byte range of `text` (the file's content).
    pub fn at(mut self, text: &Arc<str>, span: Range<usize>) -> Self {
        self.position = Some(line_column(text, span.start));
        self.snippet = Some((text.clone(), span));
        self
    }

    /// `file:line:column` (or just the file).
    pub fn location(&self) -> String {
        match self.position {
            Some((line, column)) => format!("{}:{}:{}", self.file, line, column),
            None => self.file.clone(),
        }
    }
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location())?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProfileError {}

impl miette::Diagnostic for ProfileError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code.map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.hint
            .as_ref()
            .map(|h| Box::new(h.as_str()) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.snippet
            .as_ref()
            .map(|(text, _)| text as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let (_, span) = self.snippet.as_ref()?;
        let label = self.key.clone().unwrap_or_else(|| "here".into());
        Some(Box::new(std::iter::once(miette::LabeledSpan::new(
            Some(label),
            span.start,
            span.len().max(1),
        ))))
    }
}

/// Every problem found in one load, in file order.
#[derive(Debug, Clone)]
pub struct ProfileErrors(pub Vec<ProfileError>);

impl fmt::Display for ProfileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
            if let Some(code) = error.code {
                write!(f, " [{code}]")?;
            }
            if let Some(hint) = &error.hint {
                write!(f, "\n  hint: {hint}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ProfileErrors {}

impl ProfileError {
    /// The text of a warning made of it: located, with its code and hint, as an error reads.
    pub fn warning(self) -> String {
        ProfileErrors(vec![self]).to_string()
    }
}

impl From<ProfileError> for ProfileErrors {
    fn from(error: ProfileError) -> Self {
        ProfileErrors(vec![error])
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 11), (2, 6));
    }
}
