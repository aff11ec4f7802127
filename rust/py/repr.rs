//! Reprs that read as Python: `True`/`False`/`None`, Python string and float literals. A class
//! that can be rebuilt from its repr prints its constructor call; any other prints
//! `<Name field=value ...>` with the same literals.

pub(crate) fn bool_literal(value: bool) -> &'static str {
    if value {
        "True"
    } else {
        "False"
    }
}

/// A float as Python reads it back: `10.0`, not Rust's `10`; NaN and infinities as
/// `float('nan')` / `float('inf')`.
pub(crate) fn float_literal(value: f64) -> String {
    if value.is_nan() {
        "float('nan')".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 {
            "float('inf')".to_owned()
        } else {
            "-float('inf')".to_owned()
        }
    } else {
        format!("{value:?}")
    }
}

/// A `str` literal in Python's own quoting: single quotes unless the text holds one and no
/// double quote; backslashes, the quote and control characters escaped.
pub(crate) fn str_literal(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

pub(crate) fn str_list_literal<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<String> = items.iter().map(|s| str_literal(s.as_ref())).collect();
    format!("[{}]", parts.join(", "))
}

/// `None` or the value as `literal` writes it.
pub(crate) fn optional<T>(value: Option<T>, literal: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "None".to_owned(), literal)
}
