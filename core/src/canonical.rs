//! Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) from raw JSON text.
//!
//! The input is the JSON *text* — never a value some other parser already turned into
//! doubles — so nothing is lost or rounded before canonicalization sees it. The output is the
//! unique JCS form: no whitespace, object members sorted by the UTF-16 code units of their
//! names, strings with the minimal JCS escapes, numbers in the ECMAScript
//! `Number.prototype.toString` form.
//!
//! The parser is strict I-JSON (RFC 7493): it rejects, each with its own error code,
//! duplicate member names ([`Error::DuplicateKey`]), unpaired surrogate escapes
//! ([`Error::LoneSurrogate`]), numbers that overflow a double ([`Error::NonFiniteNumber`]) and
//! integer literals outside ±(2^53−1) ([`Error::IntegerOutOfRange`]) — the integers a
//! JavaScript or Python peer could not read back exactly. Nesting is limited to
//! [`MAX_DEPTH`] levels so hostile input cannot exhaust the stack.
//!
//! [`parse`] is the same parser for a caller that wants the value: every crate of the
//! workspace (the bindings, the server, the audit and firewall readers) reads untrusted JSON
//! through it, so all of them accept and refuse exactly the same texts with the same codes.
//!
//! ```
//! let jcs = handrail_core::canonical::canonicalize(br#"{"b": 1.50, "a": [true, null]}"#).unwrap();
//! assert_eq!(jcs, r#"{"a":[true,null],"b":1.5}"#);
//! ```

use std::borrow::Cow;
use std::cmp::Ordering;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// Deepest nesting of arrays and objects the parser accepts.
pub const MAX_DEPTH: usize = 128;

/// Largest integer magnitude that survives a round trip through an IEEE 754 double.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Canonicalizes JSON text (UTF-8 bytes or `&str`) into its RFC 8785 form.
pub fn canonicalize(input: impl AsRef<[u8]>) -> Result<String> {
    let mut out = Vec::with_capacity(input.as_ref().len());
    canonicalize_into(input.as_ref(), &mut out)?;
    // The writer only emits valid UTF-8: ASCII syntax plus slices of validated strings.
    Ok(String::from_utf8(out).expect("canonical output is UTF-8"))
}

/// Canonicalizes `input`, appending the result to `out` (lets hot paths reuse a buffer).
///
/// On error, `out` may hold a partial result; callers that reuse it should clear it.
pub fn canonicalize_into(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    check(input, out, usize::MAX)
}

/// Canonicalizes `input` into `out`, counting its values against `max_values`.
fn check(input: &[u8], out: &mut Vec<u8>, max_values: usize) -> Result<()> {
    // One validation of the whole text (SIMD in std) instead of one per string: every slice
    // between ASCII delimiters of valid UTF-8 is valid UTF-8 too.
    std::str::from_utf8(input)
        .map_err(|e| Error::JsonSyntax { offset: e.valid_up_to(), reason: "invalid UTF-8" })?;
    let mut parser =
        Parser { input, pos: 0, scratch: Vec::new(), members: Vec::new(), values_left: max_values };
    parser.skip_ws();
    parser.value(0, out).map_err(|e| match e {
        Error::TooManyValues { .. } => Error::TooManyValues { limit: max_values },
        e => e,
    })?;
    parser.skip_ws();
    if parser.pos != input.len() {
        return Err(parser.syntax("trailing characters after the JSON value"));
    }
    Ok(())
}

/// Parses strict JSON text into a value: the text [`canonicalize`] accepts, refused with
/// its error codes otherwise.
///
/// ```
/// use handrail_core::canonical::parse;
///
/// assert_eq!(parse(br#"{"a": [1, 2.5]}"#).unwrap()["a"][1], 2.5);
/// assert_eq!(parse(br#"{"a": 1, "a": 2}"#).unwrap_err().code(), "duplicate_key");
/// ```
pub fn parse(input: impl AsRef<[u8]>) -> Result<Value> {
    let input = input.as_ref();
    parse_with(input, &mut Vec::with_capacity(input.len()))
}

/// [`parse`], refusing a text of more than `max_values` values (`too_many_values`) before
/// any value is built: what a server reads from untrusted clients, where a megabyte of
/// `[0,0,…]` would otherwise cost tens of megabytes to hold.
///
/// ```
/// use handrail_core::canonical::parse_bounded;
///
/// assert!(parse_bounded(br#"{"a": [1, 2]}"#, 4).is_ok()); // the object, the array, 1, 2
/// assert_eq!(parse_bounded(br#"{"a": [1, 2, 3]}"#, 4).unwrap_err().code(), "too_many_values");
/// ```
pub fn parse_bounded(input: impl AsRef<[u8]>, max_values: usize) -> Result<Value> {
    let input = input.as_ref();
    let mut scratch = Vec::with_capacity(input.len());
    check(input, &mut scratch, max_values)?;
    build(input)
}

/// [`parse`], with `scratch` (cleared first) as the room the check needs: a hot path that
/// reads JSON text after text keeps one buffer instead of allocating one each time.
pub fn parse_with(input: &[u8], scratch: &mut Vec<u8>) -> Result<Value> {
    scratch.clear();
    canonicalize_into(input, scratch)?;
    build(input)
}

/// Builds the value of a text [`canonicalize_into`] accepted.
fn build(input: &[u8]) -> Result<Value> {
    // The text is valid strict JSON by now, at most MAX_DEPTH deep: serde_json only builds
    // the value. Its own nesting limit (one level short of ours) is lifted so that the
    // depth rule is this module's alone; the check above already bounds the recursion.
    let mut de = serde_json::Deserializer::from_slice(input);
    de.disable_recursion_limit();
    // Values keep the text's own numbers (`1.0` stays a float), not their canonical form.
    // Not reached for a text the check accepted; an error, not a panic, all the same.
    Value::deserialize(&mut de).map_err(|_| Error::JsonSyntax { offset: 0, reason: "unreadable JSON value" })
}

/// Serializes any `serde` value and canonicalizes it.
///
/// Convenient for the core's own models; the number rules apply as for raw text (floats
/// from Rust are written in their shortest round-trip form first, so nothing is lost).
pub fn to_canonical<T: serde::Serialize + ?Sized>(value: &T) -> Result<String> {
    let text = serde_json::to_vec(value)
        .map_err(|_| Error::JsonSyntax { offset: 0, reason: "value cannot be serialized to JSON" })?;
    canonicalize(text)
}

/// One object member while its object is being written: its name (raw UTF-8, unescaped),
/// the input offset of the name (for error reports) and where `"name":value` sits in the
/// output.
struct Member<'a> {
    name: Cow<'a, [u8]>,
    /// ASCII names (nearly all) compare as bytes; known once, not per comparison.
    ascii: bool,
    /// The first eight bytes, big-endian, zero-padded: decides most comparisons of ASCII
    /// names without a call to memcmp.
    prefix: u64,
    offset: usize,
    start: usize,
    end: usize,
}

/// A single-pass canonicalizer: values are written to the output as they are parsed, and an
/// object whose members arrived out of order is reordered in place once it is complete. No
/// tree is built; nothing is copied when the input is already in canonical order.
struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    /// Reused copy area for reordering members.
    scratch: Vec<u8>,
    /// Member stack shared by all open objects (each object uses the tail it pushed).
    members: Vec<Member<'a>>,
    /// How many more values the caller accepts (see [`parse_bounded`]).
    values_left: usize,
}

impl<'a> Parser<'a> {
    fn syntax(&self, reason: &'static str) -> Error {
        Error::JsonSyntax { offset: self.pos, reason }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn literal(&mut self, literal: &'static [u8], out: &mut Vec<u8>) -> Result<()> {
        if self.input[self.pos..].starts_with(literal) {
            self.pos += literal.len();
            out.extend_from_slice(literal);
            Ok(())
        } else {
            Err(self.syntax("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize, out: &mut Vec<u8>) -> Result<()> {
        self.values_left = self.values_left.checked_sub(1).ok_or(Error::TooManyValues { limit: 0 })?;
        match self.peek() {
            None => Err(self.syntax("unexpected end of input")),
            Some(b'n') => self.literal(b"null", out),
            Some(b't') => self.literal(b"true", out),
            Some(b'f') => self.literal(b"false", out),
            Some(b'"') => {
                match self.string()? {
                    // No escapes in the input: the raw bytes are already the canonical form.
                    Cow::Borrowed(raw) => {
                        out.push(b'"');
                        out.extend_from_slice(raw);
                        out.push(b'"');
                    }
                    Cow::Owned(text) => write_string_bytes(&text, out),
                }
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => self.number(out),
            Some(b'[') => self.array(depth + 1, out),
            Some(b'{') => self.object(depth + 1, out),
            Some(_) => Err(self.syntax("unexpected character")),
        }
    }

    fn array(&mut self, depth: usize, out: &mut Vec<u8>) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep { limit: MAX_DEPTH });
        }
        self.pos += 1; // '['
        out.push(b'[');
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            out.push(b']');
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.value(depth, out)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    out.push(b',');
                }
                Some(b']') => {
                    self.pos += 1;
                    out.push(b']');
                    return Ok(());
                }
                _ => return Err(self.syntax("expected ',' or ']' in array")),
            }
        }
    }

    fn object(&mut self, depth: usize, out: &mut Vec<u8>) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep { limit: MAX_DEPTH });
        }
        self.pos += 1; // '{'
        out.push(b'{');
        let region = out.len();
        let first = self.members.len();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            out.push(b'}');
            return Ok(());
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a string member name"));
            }
            let offset = self.pos;
            let name = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.syntax("expected ':' after member name"));
            }
            self.pos += 1;
            self.skip_ws();
            if self.members.len() > first {
                out.push(b',');
            }
            let start = out.len();
            match &name {
                // No escape in the input: the raw bytes are already the canonical form.
                Cow::Borrowed(raw) => {
                    out.push(b'"');
                    out.extend_from_slice(raw);
                    out.extend_from_slice(b"\":");
                }
                Cow::Owned(text) => {
                    write_string_bytes(text, out);
                    out.push(b':');
                }
            }
            self.value(depth, out)?;
            let ascii = name.is_ascii();
            let mut head = [0u8; 8];
            let n = name.len().min(8);
            head[..n].copy_from_slice(&name[..n]);
            let prefix = u64::from_be_bytes(head);
            self.members.push(Member { name, ascii, prefix, offset, start, end: out.len() });
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.syntax("expected ',' or '}' in object")),
            }
        }
        let members = &mut self.members[first..];
        let in_order = members.windows(2).all(|m| name_cmp(&m[0], &m[1]) == Ordering::Less);
        if !in_order {
            // In place; names are unique in any valid object, so stability does not matter.
            members.sort_unstable_by(name_cmp);
            if let Some(pair) = members.windows(2).find(|m| m[0].name == m[1].name) {
                let second = if pair[0].offset > pair[1].offset { &pair[0] } else { &pair[1] };
                let key = String::from_utf8_lossy(&second.name).into_owned();
                return Err(Error::DuplicateKey { key, offset: second.offset });
            }
            // Rewrite the region from a copy, in sorted order.
            self.scratch.clear();
            self.scratch.extend_from_slice(&out[region..]);
            out.truncate(region);
            for (i, m) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&self.scratch[m.start - region..m.end - region]);
            }
        }
        self.members.truncate(first);
        out.push(b'}');
        Ok(())
    }

    /// Parses a string at its opening quote and returns its content, unescaped: borrowed
    /// from the input when it holds no escape.
    fn string(&mut self) -> Result<Cow<'a, [u8]>> {
        self.pos += 1; // opening quote
        let start = self.pos;
        // Fast scan: plain bytes up to the closing quote or the first escape.
        self.pos += plain_run(&self.input[self.pos..]);
        match self.peek() {
            Some(b'"') => {
                let raw = &self.input[start..self.pos];
                self.pos += 1;
                return Ok(Cow::Borrowed(raw));
            }
            Some(b'\\') => {}
            Some(_) => return Err(self.syntax("unescaped control character in string")),
            None => return Err(self.syntax("unterminated string")),
        }
        let mut buf: Vec<u8> = self.input[start..self.pos].to_vec();
        loop {
            match self.peek() {
                None => return Err(self.syntax("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(buf));
                }
                Some(b'\\') => {
                    let escape_at = self.pos;
                    self.pos += 1;
                    let c = self.peek().ok_or_else(|| self.syntax("unterminated escape"))?;
                    self.pos += 1;
                    let simple = match c {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(0x08),
                        b'f' => Some(0x0c),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'u' => None,
                        _ => return Err(self.syntax("invalid escape")),
                    };
                    if let Some(byte) = simple {
                        buf.push(byte);
                        continue;
                    }
                    let unit = self.hex4()?;
                    let ch = match unit {
                        0xd800..=0xdbff => {
                            // A high surrogate must be followed by an escaped low surrogate.
                            if self.input[self.pos..].starts_with(b"\\u") {
                                self.pos += 2;
                                let low = self.hex4()?;
                                if !(0xdc00..=0xdfff).contains(&low) {
                                    return Err(Error::LoneSurrogate { offset: escape_at });
                                }
                                let cp =
                                    0x10000 + ((u32::from(unit) - 0xd800) << 10) + (u32::from(low) - 0xdc00);
                                char::from_u32(cp).ok_or(Error::LoneSurrogate { offset: escape_at })?
                            } else {
                                return Err(Error::LoneSurrogate { offset: escape_at });
                            }
                        }
                        0xdc00..=0xdfff => return Err(Error::LoneSurrogate { offset: escape_at }),
                        _ => char::from_u32(u32::from(unit)).expect("non-surrogate BMP code point"),
                    };
                    let mut tmp = [0u8; 4];
                    buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                Some(0x00..=0x1f) => return Err(self.syntax("unescaped control character in string")),
                Some(b) => {
                    buf.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u16> {
        let digits =
            self.input.get(self.pos..self.pos + 4).ok_or_else(|| self.syntax("truncated \\u escape"))?;
        let mut value: u16 = 0;
        for &d in digits {
            let nibble = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.syntax("invalid hex digit in \\u escape")),
            };
            value = (value << 4) | u16::from(nibble);
        }
        self.pos += 4;
        Ok(value)
    }

    /// Parses a number literal per RFC 8259 and writes its ECMAScript canonical text.
    fn number(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
            }
            _ => return Err(self.syntax("invalid number")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax("expected digit after decimal point"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax("expected digit in exponent"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
        }
        // The literal is ASCII by construction.
        let literal = std::str::from_utf8(&self.input[start..self.pos]).expect("ASCII literal");
        if integer {
            let digits = literal.trim_start_matches('-');
            // More than 16 digits is always beyond 2^53-1 (a 16-digit number may not be).
            let magnitude = if digits.len() > 16 { None } else { digits.parse::<u64>().ok() };
            return match magnitude {
                Some(m) if m <= MAX_SAFE_INTEGER => {
                    // "-0" is written "0" in ECMAScript form.
                    if m != 0 && literal.starts_with('-') {
                        out.push(b'-');
                    }
                    out.extend_from_slice(itoa::Buffer::new().format(m).as_bytes());
                    Ok(())
                }
                _ => Err(Error::IntegerOutOfRange { offset: start }),
            };
        }
        if write_short_decimal(literal, out) {
            return Ok(());
        }
        let value: f64 =
            literal.parse().map_err(|_| Error::JsonSyntax { offset: start, reason: "invalid number" })?;
        write_float(value, out).map_err(|_| Error::NonFiniteNumber { offset: start })
    }
}

/// Writes a double as [`canonicalize`] writes a number literal that has a fraction or an
/// exponent: the ECMAScript form, `-0` as `0`, NaN and the infinities refused
/// ([`Error::NonFiniteNumber`], offset 0). No range rule applies to such a literal.
///
/// For hosts whose JSON text of a float always has a fraction or an exponent — Python's
/// `json.dumps` writes `2.0`, `1e+16`, `1.152921504606847e+18` — so their floats are never
/// integer literals; [`write_number`] is the rule for `JSON.stringify`, which writes
/// integral doubles below 1e21 as integer literals.
pub fn write_float(n: f64, out: &mut Vec<u8>) -> Result<()> {
    if !n.is_finite() {
        return Err(Error::NonFiniteNumber { offset: 0 });
    }
    if n == 0.0 {
        out.push(b'0');
    } else {
        out.extend_from_slice(ryu_js::Buffer::new().format_finite(n).as_bytes());
    }
    Ok(())
}

/// Writes an integer as [`canonicalize`] writes an integer literal, refusing one beyond
/// ±(2^53−1) ([`Error::IntegerOutOfRange`], offset 0) as it does.
pub fn write_integer(n: i64, out: &mut Vec<u8>) -> Result<()> {
    if n.unsigned_abs() > MAX_SAFE_INTEGER {
        return Err(Error::IntegerOutOfRange { offset: 0 });
    }
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    Ok(())
}

/// Fast path for the common decimal literal (`12.50`, `-0.25`): no exponent, at most 15
/// significant digits, not below 1e-6. Such a decimal round-trips through a double exactly
/// and no shorter decimal maps to the same double (two decimals of ≤ 15 digits are further
/// apart than a double's rounding interval), so its ECMAScript form is its own digits with
/// trailing fraction zeros dropped. Returns false, writing nothing, when it does not apply.
fn write_short_decimal(literal: &str, out: &mut Vec<u8>) -> bool {
    let (negative, body) = match literal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, literal),
    };
    let Some((int, frac)) = body.split_once('.') else { return false };
    if frac.contains(['e', 'E']) {
        return false;
    }
    let frac = frac.trim_end_matches('0');
    let int = int.trim_start_matches('0');
    let significant = if int.is_empty() {
        let leading = frac.len() - frac.trim_start_matches('0').len();
        // 0.000000x is written 1e-7 in ECMAScript form: leave it to the slow path.
        if leading >= 6 {
            return false;
        }
        frac.len() - leading
    } else {
        int.len() + frac.len()
    };
    if significant > 15 {
        return false;
    }
    if significant == 0 {
        out.push(b'0');
        return true;
    }
    if negative {
        out.push(b'-');
    }
    out.extend_from_slice(if int.is_empty() { b"0" } else { int.as_bytes() });
    if !frac.is_empty() {
        out.push(b'.');
        out.extend_from_slice(frac.as_bytes());
    }
    true
}

/// Orders member names by their UTF-16 code units, as RFC 8785 §3.2.3 requires.
///
/// UTF-8 byte order equals code point order, which differs from UTF-16 order only between
/// supplementary characters (surrogate pairs, 0xD800..) and U+E000..U+FFFF; ASCII-only
/// names, the common case, compare as bytes.
fn name_cmp(a: &Member<'_>, b: &Member<'_>) -> Ordering {
    if a.ascii && b.ascii {
        // Zero padding can only tie a name with a longer one; the full comparison settles it.
        return a.prefix.cmp(&b.prefix).then_with(|| a.name.cmp(&b.name));
    }
    utf16_cmp(&a.name, &b.name)
}

fn utf16_cmp(a: &[u8], b: &[u8]) -> Ordering {
    // Names are slices of the validated input or built from decoded escapes: valid UTF-8.
    let a = std::str::from_utf8(a).expect("member names are UTF-8");
    let b = std::str::from_utf8(b).expect("member names are UTF-8");
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Writes a string with the JCS escapes: `"`, `\`, and the C0 controls (short forms for
/// \b \t \n \f \r, lowercase `\u00xx` for the rest); everything else as UTF-8.
///
/// For bindings that walk their language's values instead of parsing text: a `&str` has no
/// lone surrogates, so the caller refuses those ([`Error::LoneSurrogate`]) before it gets here.
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    write_string_bytes(s.as_bytes(), out);
}

/// Writes a number (a double, as JavaScript and Python floats hold it) in its ECMAScript
/// `Number.prototype.toString` form, the form [`canonicalize`] writes.
///
/// The refusals are those the parser applies to the same number written as JSON text by
/// `JSON.stringify`: a non-finite value is [`Error::NonFiniteNumber`], and an integral value
/// whose ECMAScript form is an integer literal (below 1e21) beyond ±(2^53−1) is
/// [`Error::IntegerOutOfRange`] (`1e21` and larger are written with an exponent and
/// accepted). `-0` is written `0`. Error offsets are 0: there is no input text.
pub fn write_number(n: f64, out: &mut Vec<u8>) -> Result<()> {
    if !n.is_finite() {
        return Err(Error::NonFiniteNumber { offset: 0 });
    }
    if n.fract() == 0.0 && n.abs() < 1e21 {
        if n.abs() > MAX_SAFE_INTEGER as f64 {
            return Err(Error::IntegerOutOfRange { offset: 0 });
        }
        // Integral and within ±(2^53−1): the cast is exact, and -0 becomes 0.
        out.extend_from_slice(itoa::Buffer::new().format(n as i64).as_bytes());
        return Ok(());
    }
    out.extend_from_slice(ryu_js::Buffer::new().format_finite(n).as_bytes());
    Ok(())
}

/// Orders two object member names as RFC 8785 §3.2.3 requires: by their UTF-16 code units.
///
/// UTF-8 byte order is code point order, which differs from UTF-16 order only between a
/// supplementary character (a surrogate pair, 0xD800..) and one in U+E000..U+FFFF; so names
/// are compared as bytes, and only a first difference between two such characters is
/// settled in UTF-16.
pub fn cmp_keys(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let Some(i) = x.iter().zip(y).position(|(p, q)| p != q) else {
        return x.len().cmp(&y.len());
    };
    if x[i] < 0x80 && y[i] < 0x80 {
        return x[i].cmp(&y[i]);
    }
    // The common prefix is whole characters up to the start of the one that differs; a
    // difference inside it (equal lead bytes) keeps both in one class, where bytes decide.
    let start = (0..=i).rev().find(|&j| a.is_char_boundary(j)).unwrap_or(0);
    a[start..].encode_utf16().cmp(b[start..].encode_utf16())
}

/// [`write_string`] for text already known to be UTF-8.
fn write_string_bytes(text: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut rest = text;
    loop {
        let run = plain_run(rest);
        out.extend_from_slice(&rest[..run]);
        let Some(&b) = rest.get(run) else { break };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
        }
        rest = &rest[run + 1..];
    }
    out.push(b'"');
}

/// Length of the leading run of bytes that need no attention inside a JSON string: not
/// `"`, not `\`, not a C0 control. Scans eight bytes at a time (SWAR): for each byte lane,
/// `(x - 0x01) & !x & 0x80` is set when the lane was zero. A borrow can only flag lanes
/// *above* a real match, so the lowest flagged lane is exact.
fn plain_run(bytes: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        let quote = x ^ (LO * u64::from(b'"'));
        let backslash = x ^ (LO * u64::from(b'\\'));
        let mask = ((quote.wrapping_sub(LO) & !quote)
            | (backslash.wrapping_sub(LO) & !backslash)
            | (x.wrapping_sub(LO * 0x20) & !x))
            & HI;
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + bytes[i..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).unwrap_or(bytes.len() - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_strips() {
        assert_eq!(canonicalize(" { \"b\" : [ 1 , 2 ] , \"a\" : {} } ").unwrap(), r#"{"a":{},"b":[1,2]}"#);
    }

    #[test]
    fn numbers_take_ecmascript_form() {
        for (input, want) in [
            ("-0", "0"),
            ("-0.0", "0"),
            ("1.0", "1"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("0.000001", "0.000001"),
            ("1e-7", "1e-7"),
            ("9007199254740991", "9007199254740991"),
            ("-9007199254740991", "-9007199254740991"),
            ("9007199254740992.0", "9007199254740992"),
            ("-0.000", "0"),
            ("10.2500", "10.25"),
            ("0.0000010", "0.000001"),
            ("0.0000001", "1e-7"),
            ("123456789012345.6", "123456789012345.6"),
            ("1234567890123456.7", "1234567890123456.8"),
            ("-999999999999999.9", "-999999999999999.9"),
        ] {
            assert_eq!(canonicalize(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn float_and_integer_writers_give_the_parser_bytes() {
        // Python's json.dumps writes every float with a fraction or an exponent.
        for n in [0.0, -0.0, 1.5, 1e21, 1e-7, 1e16, 2f64.powi(60), 5e-324, -123456789012345.6] {
            let mut out = Vec::new();
            write_float(n, &mut out).unwrap();
            let text = format!("{n:e}");
            assert_eq!(String::from_utf8(out).unwrap(), canonicalize(&text).unwrap(), "{n}");
        }
        assert_eq!(write_float(f64::NAN, &mut Vec::new()).unwrap_err().code(), "non_finite_number");
        assert_eq!(write_float(f64::INFINITY, &mut Vec::new()).unwrap_err().code(), "non_finite_number");
        let mut out = Vec::new();
        write_integer(-9007199254740991, &mut out).unwrap();
        assert_eq!(out, b"-9007199254740991");
        assert_eq!(write_integer(1 << 53, &mut Vec::new()).unwrap_err().code(), "integer_out_of_range");
        assert_eq!(write_integer(i64::MIN, &mut Vec::new()).unwrap_err().code(), "integer_out_of_range");
    }

    #[test]
    fn distinct_errors() {
        assert_eq!(canonicalize(r#"{"a":1,"a":2}"#).unwrap_err().code(), "duplicate_key");
        assert_eq!(canonicalize(r#"{"a":1,"\u0061":2}"#).unwrap_err().code(), "duplicate_key");
        assert_eq!(canonicalize(r#""\ud800""#).unwrap_err().code(), "lone_surrogate");
        assert_eq!(canonicalize(r#""\udc00\ud800""#).unwrap_err().code(), "lone_surrogate");
        assert_eq!(canonicalize("1e400").unwrap_err().code(), "non_finite_number");
        assert_eq!(canonicalize("9007199254740992").unwrap_err().code(), "integer_out_of_range");
        assert_eq!(canonicalize("NaN").unwrap_err().code(), "json_syntax");
        assert_eq!(canonicalize("[1,]").unwrap_err().code(), "json_syntax");
        assert_eq!(canonicalize("01").unwrap_err().code(), "json_syntax");
        assert_eq!(canonicalize(b"\"\xff\"").unwrap_err().code(), "json_syntax");
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(canonicalize(deep).unwrap_err().code(), "too_deep");
    }

    #[test]
    fn parse_refuses_what_canonicalize_refuses() {
        for text in [r#"{"a":1,"a":2}"#, r#""\ud800""#, "1e400", "-9007199254740992", "[1,]", "{} {}"] {
            assert_eq!(parse(text).unwrap_err().code(), canonicalize(text).unwrap_err().code(), "{text}");
        }
        let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
        // The depth rule is MAX_DEPTH alone: serde_json's own limit is one level shorter.
        assert!(parse(deep(MAX_DEPTH)).is_ok());
        assert_eq!(parse(deep(MAX_DEPTH + 1)).unwrap_err().code(), "too_deep");
    }

    #[test]
    fn parse_keeps_the_texts_numbers() {
        let value = parse(r#"{"f": 1.0, "i": 9007199254740991, "s": "\u00e9"}"#).unwrap();
        assert!(value["f"].is_f64());
        assert_eq!(value["i"].as_u64(), Some(9007199254740991));
        assert_eq!(value["s"], "\u{e9}");
        let mut scratch = b"left over".to_vec();
        assert_eq!(parse_with(b"[true]", &mut scratch).unwrap(), serde_json::json!([true]));
    }

    #[test]
    fn write_number_matches_the_parser() {
        for (n, text) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1.5, "1.5"),
            (-1.0, "-1"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (9007199254740991.0, "9007199254740991"),
            (-9007199254740991.0, "-9007199254740991"),
            (0.1 + 0.2, "0.30000000000000004"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ] {
            let mut out = Vec::new();
            write_number(n, &mut out).unwrap();
            assert_eq!(out, text.as_bytes(), "{n}");
            assert_eq!(canonicalize(text).unwrap(), text, "{text} reads back the same");
        }
        let code = |n: f64| write_number(n, &mut Vec::new()).unwrap_err().code();
        assert_eq!(code(f64::NAN), "non_finite_number");
        assert_eq!(code(f64::INFINITY), "non_finite_number");
        assert_eq!(code(f64::NEG_INFINITY), "non_finite_number");
        assert_eq!(code(9007199254740992.0), "integer_out_of_range");
        assert_eq!(code(-1e20), "integer_out_of_range");
    }

    #[test]
    fn cmp_keys_is_utf16_order() {
        let names = [
            "",
            "a",
            "aa",
            "b",
            "\u{e9}",
            "\u{fb01}",
            "\u{1f600}",
            "a\u{fb01}",
            "a\u{1f600}",
            "\u{10000}",
            "\u{ffff}",
        ];
        for a in names {
            for b in names {
                assert_eq!(cmp_keys(a, b), a.encode_utf16().cmp(b.encode_utf16()), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn utf16_order_differs_from_code_point_order() {
        // U+1F600 (surrogates D83D DE00) sorts before U+FB01 in UTF-16 order.
        let jcs = canonicalize("{\"\u{fb01}\":1,\"\u{1f600}\":2}").unwrap();
        assert_eq!(jcs, "{\"\u{1f600}\":2,\"\u{fb01}\":1}");
    }
}
