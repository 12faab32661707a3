//! JSON from JavaScript: text read into a reused buffer ([`with_text`], what the SDK uses),
//! and JS values walked natively, as `JSON.stringify` would see them ([`canonical`], behind
//! `toolCallKeyOf`; measured slower than `JSON.stringify` + the core's parser, see
//! BENCHMARKS.md).
//!
//! The walk writes a value's RFC 8785 form straight from the JS heap and holds no format
//! rule: strings are written by the core's `canonical::write_string`, numbers by
//! `canonical::write_number` (with its refusals: non-finite numbers, integers beyond
//! ±(2^53−1)), member order is `canonical::cmp_keys`. The result is the bytes the core
//! writes for `JSON.stringify(value)`, with these choices where JavaScript has more values
//! than JSON:
//!
//! - a member whose value is `undefined`, a function or a symbol is left out, as
//!   `JSON.stringify` does; such a value at the top or in an array is refused
//!   (`invalid_request`, where `JSON.stringify` would return `undefined` or write `null`),
//!   and so is a BigInt anywhere, and a hole in an array;
//! - an object that is not plain data — not an array or an object whose prototype is
//!   `Object.prototype` or `null`, or one with its own `toJSON` (a `Date`, a class instance,
//!   a boxed primitive) — is handed to `JSON.stringify` itself and its text read by the
//!   core's parser, so `toJSON` is honoured exactly as `JSON.stringify` does (it gets the
//!   key `""`);
//! - a lone surrogate in a string or a name is refused (`lone_surrogate`), as the core
//!   refuses the `\ud800` escape `JSON.stringify` writes for it;
//! - nesting deeper than `canonical::MAX_DEPTH` is refused (`too_deep`): that is also how a
//!   cycle ends.
//!
//! An exception thrown while reading (a getter, a proxy trap, a `toJSON`) propagates as is.

use std::ptr;

use handrail_core::canonical::{cmp_keys, write_number, write_string, MAX_DEPTH};
use handrail_core::Error as CoreError;
use napi::bindgen_prelude::{FromNapiValue, Unknown};
use napi::{sys, Env, JsValue};

use crate::error::thrown;

/// Where a value sits: what to do with one JSON has no form for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Top,
    Element,
    Member,
}

/// A value's kind, as far as JSON cares.
enum Kind {
    /// Left out of an object, refused elsewhere.
    Absent,
    Null,
    Bool(bool),
    Number(f64),
    String,
    Array,
    /// A plain object.
    Object,
    /// Anything `JSON.stringify` must see for itself.
    Other,
}

/// What every walk needs from the environment: `Object.prototype`, `Array.prototype`,
/// `Object.keys` and `JSON.stringify`, fetched on the first walk and kept as references in
/// the addon's instance data (a global looked up by name costs more than the walk of a
/// small object). They are the values the realm started with; a `toJSON` added to a
/// standard prototype later is still seen, by each walk.
struct Globals {
    refs: [sys::napi_ref; GLOBALS],
}

const OBJECT_PROTO: usize = 0;
const ARRAY_PROTO: usize = 1;
const OBJECT_KEYS: usize = 2;
const STRINGIFY: usize = 3;
const GLOBALS: usize = 4;

/// The state of one walk: the environment and what it fetched once.
struct Walker {
    env: sys::napi_env,
    /// `Object.prototype` and `Array.prototype`, each fetched when the first value that
    /// needs it is met (see `standard_proto`).
    object_proto: sys::napi_value,
    array_proto: sys::napi_value,
    object_fetched: bool,
    array_fetched: bool,
    /// The string `"toJSON"`.
    to_json: sys::napi_value,
    /// The [`Globals`] of this walk's environment, as handles, each fetched on first need.
    handles: [sys::napi_value; GLOBALS],
    /// Text of the string being read.
    text: Vec<u8>,
    /// Names of the objects being written, back to back, and their napi handles.
    names: Vec<u8>,
    members: Vec<(usize, usize, sys::napi_value)>,
    /// Member indices of the object being sorted.
    order: Vec<usize>,
}

/// The RFC 8785 form of `value`, appended to `out`.
pub fn canonical(env: &Env, value: Unknown<'_>, out: &mut Vec<u8>) -> napi::Result<()> {
    let mut w = Walker::new(env);
    let raw = value.raw();
    w.canonical(raw, 0, Slot::Top, out).map(|_| ())
}

impl Walker {
    fn new(env: &Env) -> Self {
        Walker {
            env: env.raw(),
            object_proto: ptr::null_mut(),
            array_proto: ptr::null_mut(),
            object_fetched: false,
            array_fetched: false,
            to_json: ptr::null_mut(),
            handles: [ptr::null_mut(); GLOBALS],
            text: Vec::new(),
            names: Vec::new(),
            members: Vec::new(),
            order: Vec::new(),
        }
    }

    /// Maps a napi status: a pending JS exception is taken and rethrown unchanged.
    fn check(&self, status: sys::napi_status) -> napi::Result<()> {
        if status == sys::Status::napi_ok {
            return Ok(());
        }
        let mut exception = ptr::null_mut();
        // SAFETY: valid env; the call only reads and clears the pending exception.
        let taken = unsafe { sys::napi_get_and_clear_last_exception(self.env, &mut exception) };
        if taken == sys::Status::napi_ok && !exception.is_null() {
            // SAFETY: `exception` is a live handle returned just now.
            if let Ok(value) = unsafe { Unknown::from_napi_value(self.env, exception) } {
                // `undefined` means nothing was pending.
                if !matches!(value.get_type(), Ok(napi::ValueType::Undefined)) {
                    return Err(napi::Error::from(value));
                }
            }
        }
        Err(napi::Error::new(napi::Status::from(status), "reading the value failed".to_owned()))
    }

    fn core_error(&self, err: &CoreError) -> napi::Error {
        thrown(&Env::from_raw(self.env), err)
    }

    fn refuse(&self, what: &str) -> napi::Error {
        self.core_error(&CoreError::InvalidRequest { reason: "not_json".into(), message: what.into() })
    }

    fn kind(&mut self, v: sys::napi_value) -> napi::Result<Kind> {
        let mut t = 0;
        // SAFETY: valid env and handle; `t` is written by the call.
        self.check(unsafe { sys::napi_typeof(self.env, v, &mut t) })?;
        Ok(match t {
            sys::ValueType::napi_undefined | sys::ValueType::napi_function | sys::ValueType::napi_symbol => {
                Kind::Absent
            }
            sys::ValueType::napi_null => Kind::Null,
            sys::ValueType::napi_boolean => {
                let mut b = false;
                // SAFETY: `v` is a boolean.
                self.check(unsafe { sys::napi_get_value_bool(self.env, v, &mut b) })?;
                Kind::Bool(b)
            }
            sys::ValueType::napi_number => {
                let mut n = 0.0;
                // SAFETY: `v` is a number.
                self.check(unsafe { sys::napi_get_value_double(self.env, v, &mut n) })?;
                Kind::Number(n)
            }
            sys::ValueType::napi_string => Kind::String,
            sys::ValueType::napi_bigint => return Err(self.refuse("a BigInt has no JSON form")),
            sys::ValueType::napi_object => self.object_kind(v)?,
            _ => Kind::Other,
        })
    }

    /// Array, plain object, or something for `JSON.stringify` (see the module docs).
    fn object_kind(&mut self, v: sys::napi_value) -> napi::Result<Kind> {
        let mut is_array = false;
        // SAFETY: valid env and handle.
        self.check(unsafe { sys::napi_is_array(self.env, v, &mut is_array) })?;
        let standard = self.standard_proto(is_array)?;
        if standard.is_null() {
            return Ok(Kind::Other);
        }
        let mut proto = ptr::null_mut();
        // SAFETY: `v` is an object.
        self.check(unsafe { sys::napi_get_prototype(self.env, v, &mut proto) })?;
        let mut same = false;
        // SAFETY: both are live handles.
        self.check(unsafe { sys::napi_strict_equals(self.env, proto, standard, &mut same) })?;
        if is_array {
            if !same {
                return Ok(Kind::Other);
            }
            let mut own = false;
            // SAFETY: `v` is an object, `to_json` a string (made by `standard_proto`).
            self.check(unsafe { sys::napi_has_own_property(self.env, v, self.to_json, &mut own) })?;
            return Ok(if own { Kind::Other } else { Kind::Array });
        }
        if !same {
            let mut t = 0;
            // SAFETY: `proto` is a live handle.
            self.check(unsafe { sys::napi_typeof(self.env, proto, &mut t) })?;
            if t != sys::ValueType::napi_null {
                return Ok(Kind::Other);
            }
        }
        // An own `toJSON` member is found among the names (see `names`).
        Ok(Kind::Object)
    }

    /// `Array.prototype` or `Object.prototype`, fetched once per walk; null when it carries
    /// a `toJSON` (which applies to every such value: all of them go to `JSON.stringify`).
    fn standard_proto(&mut self, array: bool) -> napi::Result<sys::napi_value> {
        let (fetched, cached) = if array {
            (self.array_fetched, self.array_proto)
        } else {
            (self.object_fetched, self.object_proto)
        };
        if fetched {
            return Ok(cached);
        }
        if self.to_json.is_null() {
            let mut to_json = ptr::null_mut();
            // SAFETY: valid env; the text is 6 bytes of ASCII.
            self.check(unsafe {
                sys::napi_create_string_utf8(self.env, c"toJSON".as_ptr(), 6, &mut to_json)
            })?;
            self.to_json = to_json;
        }
        let proto = self.global(if array { ARRAY_PROTO } else { OBJECT_PROTO })?;
        let mut has = false;
        // SAFETY: `proto` is an object, `to_json` a string.
        self.check(unsafe { sys::napi_has_property(self.env, proto, self.to_json, &mut has) })?;
        let proto = if has { ptr::null_mut() } else { proto };
        if array {
            (self.array_fetched, self.array_proto) = (true, proto);
        } else {
            (self.object_fetched, self.object_proto) = (true, proto);
        }
        Ok(proto)
    }

    /// One of the environment's [`Globals`] (`OBJECT_PROTO`, …) as a handle.
    fn global(&mut self, which: usize) -> napi::Result<sys::napi_value> {
        if !self.handles[which].is_null() {
            return Ok(self.handles[which]);
        }
        let env = Env::from_raw(self.env);
        let globals = match env.get_instance_data::<Globals>()? {
            Some(globals) => globals.refs,
            None => {
                let refs = self.fetch_globals()?;
                env.set_instance_data(Globals { refs }, (), |_| {})?;
                refs
            }
        };
        let mut value = ptr::null_mut();
        // SAFETY: the reference was made in this environment and is never deleted.
        self.check(unsafe { sys::napi_get_reference_value(self.env, globals[which], &mut value) })?;
        self.handles[which] = value;
        Ok(value)
    }

    fn fetch_globals(&self) -> napi::Result<[sys::napi_ref; GLOBALS]> {
        let mut values = [ptr::null_mut(); GLOBALS];
        let (mut global, mut object, mut json) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        let (mut fresh_object, mut fresh_array) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: valid env; the names are NUL-terminated ASCII; a fresh object's and a fresh
        // array's prototypes are the standard ones.
        unsafe {
            self.check(sys::napi_get_global(self.env, &mut global))?;
            self.check(sys::napi_get_named_property(self.env, global, c"Object".as_ptr(), &mut object))?;
            self.check(sys::napi_get_named_property(self.env, global, c"JSON".as_ptr(), &mut json))?;
            self.check(sys::napi_get_named_property(
                self.env,
                object,
                c"keys".as_ptr(),
                &mut values[OBJECT_KEYS],
            ))?;
            self.check(sys::napi_get_named_property(
                self.env,
                json,
                c"stringify".as_ptr(),
                &mut values[STRINGIFY],
            ))?;
            self.check(sys::napi_create_object(self.env, &mut fresh_object))?;
            self.check(sys::napi_create_array(self.env, &mut fresh_array))?;
            self.check(sys::napi_get_prototype(self.env, fresh_object, &mut values[OBJECT_PROTO]))?;
            self.check(sys::napi_get_prototype(self.env, fresh_array, &mut values[ARRAY_PROTO]))?;
        }
        let mut refs = [ptr::null_mut(); GLOBALS];
        for (r, v) in refs.iter_mut().zip(values) {
            // SAFETY: `v` is an object or a function of this environment.
            self.check(unsafe { sys::napi_create_reference(self.env, v, 1, r) })?;
        }
        Ok(refs)
    }

    /// Reads the string `v` into `self.text` (UTF-8); refuses a lone surrogate.
    fn read_string(&mut self, v: sys::napi_value) -> napi::Result<()> {
        self.text.clear();
        read_utf8(self, v, None)
    }

    /// Calls `JSON.stringify(v)`; `None` when it returns `undefined`.
    fn stringify(&mut self, v: sys::napi_value) -> napi::Result<Option<()>> {
        let stringify = self.global(STRINGIFY)?;
        let (mut recv, mut text) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: valid env; `stringify` is a function, one argument is passed.
        unsafe {
            self.check(sys::napi_get_undefined(self.env, &mut recv))?;
            self.check(sys::napi_call_function(self.env, recv, stringify, 1, &v, &mut text))?;
        }
        let mut t = 0;
        // SAFETY: `text` is a live handle.
        self.check(unsafe { sys::napi_typeof(self.env, text, &mut t) })?;
        if t != sys::ValueType::napi_string {
            return Ok(None);
        }
        self.read_string(text)?;
        Ok(Some(()))
    }

    /// Collects the own enumerable string-keyed names of `v` (`Object.keys`) into
    /// `self.members`; `false` when one of them is `toJSON` (then `v` is not plain data, and
    /// the caller drops what was collected).
    fn names(&mut self, v: sys::napi_value) -> napi::Result<bool> {
        // `Object.keys` itself: V8 answers it from the object's enum cache, which
        // `napi_get_all_property_names` (a generic key collection) does not use.
        let object_keys = self.global(OBJECT_KEYS)?;
        let mut keys = ptr::null_mut();
        // SAFETY: valid env; `object_keys` is a function, one argument is passed.
        self.check(unsafe { sys::napi_call_function(self.env, v, object_keys, 1, &v, &mut keys) })?;
        let mut len = 0;
        // SAFETY: `keys` is an array.
        self.check(unsafe { sys::napi_get_array_length(self.env, keys, &mut len) })?;
        for i in 0..len {
            let mut key = ptr::null_mut();
            // SAFETY: `keys` is an array, `i` below its length.
            self.check(unsafe { sys::napi_get_element(self.env, keys, i, &mut key) })?;
            let start = self.names.len();
            let mut names = std::mem::take(&mut self.names);
            let read = read_utf8(self, key, Some(&mut names));
            self.names = names;
            read?;
            if &self.names[start..] == b"toJSON" {
                return Ok(false);
            }
            self.members.push((start, self.names.len(), key));
        }
        Ok(true)
    }

    fn property(&self, object: sys::napi_value, key: sys::napi_value) -> napi::Result<sys::napi_value> {
        let mut value = ptr::null_mut();
        // SAFETY: `object` is an object, `key` a live handle.
        self.check(unsafe { sys::napi_get_property(self.env, object, key, &mut value) })?;
        Ok(value)
    }

    fn element(&self, array: sys::napi_value, i: u32) -> napi::Result<sys::napi_value> {
        let mut value = ptr::null_mut();
        // SAFETY: `array` is an array.
        self.check(unsafe { sys::napi_get_element(self.env, array, i, &mut value) })?;
        Ok(value)
    }

    fn length(&self, array: sys::napi_value) -> napi::Result<u32> {
        let mut len = 0;
        // SAFETY: `array` is an array.
        self.check(unsafe { sys::napi_get_array_length(self.env, array, &mut len) })?;
        Ok(len)
    }

    fn too_deep(&self, depth: usize) -> napi::Result<()> {
        if depth > MAX_DEPTH {
            return Err(self.core_error(&CoreError::TooDeep { limit: MAX_DEPTH }));
        }
        Ok(())
    }

    fn absent(&self, slot: Slot) -> napi::Result<bool> {
        match slot {
            Slot::Member => Ok(false),
            Slot::Top => Err(self.refuse("the value has no JSON form (undefined, a function or a symbol)")),
            Slot::Element => {
                Err(self
                    .refuse("an array element has no JSON form (undefined, a hole, a function or a symbol)"))
            }
        }
    }

    /// Writes the canonical form of `v`; `false` (nothing written) for a member to leave out.
    fn canonical(
        &mut self,
        v: sys::napi_value,
        depth: usize,
        slot: Slot,
        out: &mut Vec<u8>,
    ) -> napi::Result<bool> {
        match self.kind(v)? {
            Kind::Absent => return self.absent(slot),
            Kind::Null => out.extend_from_slice(b"null"),
            Kind::Bool(true) => out.extend_from_slice(b"true"),
            Kind::Bool(false) => out.extend_from_slice(b"false"),
            Kind::Number(n) => write_number(n, out).map_err(|e| self.core_error(&e))?,
            Kind::String => {
                self.read_string(v)?;
                write_str(&self.text, out);
            }
            Kind::Array => {
                self.too_deep(depth + 1)?;
                out.push(b'[');
                for i in 0..self.length(v)? {
                    if i > 0 {
                        out.push(b',');
                    }
                    let e = self.element(v, i)?;
                    self.canonical(e, depth + 1, Slot::Element, out)?;
                }
                out.push(b']');
            }
            Kind::Object => {
                self.too_deep(depth + 1)?;
                let first = self.members.len();
                let names_start = self.names.len();
                if !self.names(v)? {
                    self.members.truncate(first);
                    self.names.truncate(names_start);
                    return self.other(v, slot, out);
                }
                let order_start = self.order.len();
                self.order.extend(first..self.members.len());
                {
                    let (names, members) = (&self.names, &self.members);
                    let name = |i: usize| {
                        let (s, e, _) = members[i];
                        // Names were read as UTF-8 by `read_utf8`.
                        std::str::from_utf8(&names[s..e]).unwrap_or_default()
                    };
                    self.order[order_start..].sort_unstable_by(|&a, &b| cmp_keys(name(a), name(b)));
                }
                out.push(b'{');
                let mut written = false;
                for k in order_start..self.order.len() {
                    let (s, e, key) = self.members[self.order[k]];
                    let value = self.property(v, key)?;
                    let mark = out.len();
                    if written {
                        out.push(b',');
                    }
                    write_str(&self.names[s..e], out);
                    out.push(b':');
                    if self.canonical(value, depth + 1, Slot::Member, out)? {
                        written = true;
                    } else {
                        out.truncate(mark);
                    }
                }
                out.push(b'}');
                self.order.truncate(order_start);
                self.members.truncate(first);
                self.names.truncate(names_start);
            }
            Kind::Other => return self.other(v, slot, out),
        }
        Ok(true)
    }

    /// A value that is not plain data: its `JSON.stringify` text, canonicalized by the core.
    fn other(&mut self, v: sys::napi_value, slot: Slot, out: &mut Vec<u8>) -> napi::Result<bool> {
        if self.stringify(v)?.is_none() {
            return self.absent(slot);
        }
        handrail_core::canonical::canonicalize_into(&self.text, out).map_err(|e| self.core_error(&e))?;
        Ok(true)
    }
}

/// Writes UTF-8 read by `read_utf8` as a JSON string.
fn write_str(text: &[u8], out: &mut Vec<u8>) {
    // `read_utf8` leaves valid UTF-8; an empty string is the impossible fallback.
    write_string(std::str::from_utf8(text).unwrap_or_default(), out);
}

/// Appends the UTF-8 of the JS string `v` to `into` (or to `w.text`); refuses a string with
/// a lone surrogate, which napi would silently turn into U+FFFD.
fn read_utf8(w: &mut Walker, v: sys::napi_value, into: Option<&mut Vec<u8>>) -> napi::Result<()> {
    let mut own = None;
    let buf: &mut Vec<u8> = match into {
        Some(b) => b,
        None => own.insert(std::mem::take(&mut w.text)),
    };
    let result = read_utf8_into(w, v, buf);
    if let Some(text) = own {
        w.text = text;
    }
    result
}

fn read_utf8_into(w: &Walker, v: sys::napi_value, buf: &mut Vec<u8>) -> napi::Result<()> {
    let start = buf.len();
    // Most strings are short: read into spare capacity at once, and ask for the length only
    // when the string may not have fit (napi writes whole characters, up to 3 bytes fewer).
    const GUESS: usize = 64;
    buf.reserve(GUESS + 1);
    let mut spare = buf.capacity() - start;
    let mut copied = 0;
    // SAFETY: the pointer addresses `spare` writable bytes of the vector's allocation.
    w.check(unsafe {
        sys::napi_get_value_string_utf8(w.env, v, buf.as_mut_ptr().add(start).cast(), spare, &mut copied)
    })?;
    if copied + 4 >= spare {
        let mut len = 0;
        // SAFETY: a null buffer asks for the length alone.
        w.check(unsafe { sys::napi_get_value_string_utf8(w.env, v, ptr::null_mut(), 0, &mut len) })?;
        buf.reserve(len + 1);
        spare = buf.capacity() - start;
        // SAFETY: as above, with room for the whole string and its NUL.
        w.check(unsafe {
            sys::napi_get_value_string_utf8(w.env, v, buf.as_mut_ptr().add(start).cast(), spare, &mut copied)
        })?;
    }
    // SAFETY: napi wrote `copied` initialized bytes after `start`.
    unsafe { buf.set_len(start + copied) };
    // U+FFFD in the output is either in the string or napi's replacement of a lone
    // surrogate: only then is the UTF-16 looked at.
    if buf[start..].windows(3).any(|b| b == "\u{fffd}".as_bytes()) && has_lone_surrogate(w, v)? {
        buf.truncate(start);
        return Err(w.core_error(&CoreError::LoneSurrogate { offset: 0 }));
    }
    Ok(())
}

fn has_lone_surrogate(w: &Walker, v: sys::napi_value) -> napi::Result<bool> {
    let mut len = 0;
    // SAFETY: a null buffer asks for the length alone.
    w.check(unsafe { sys::napi_get_value_string_utf16(w.env, v, ptr::null_mut(), 0, &mut len) })?;
    let mut units = vec![0u16; len + 1];
    let mut copied = 0;
    // SAFETY: `units` has room for the string and its NUL.
    w.check(unsafe {
        sys::napi_get_value_string_utf16(w.env, v, units.as_mut_ptr(), units.len(), &mut copied)
    })?;
    units.truncate(copied);
    Ok(char::decode_utf16(units).any(|c| c.is_err()))
}

thread_local! {
    /// The UTF-8 of the JSON text being read by [`with_text`], kept between calls.
    static TEXT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on the bytes of JSON text given as a JS string (its UTF-8, in a buffer reused
/// between calls: one copy, no allocation) or as a `Uint8Array` (borrowed as is).
///
/// A lone surrogate in the string becomes U+FFFD, as in every napi string conversion; JSON
/// text from `JSON.stringify` has none (it escapes them, and the core refuses the escape).
pub fn with_text<R>(env: &Env, value: Unknown<'_>, f: impl FnOnce(&[u8]) -> R) -> napi::Result<R> {
    /// Room kept in the buffer for a first read without asking the length.
    const FIRST: usize = 1024;
    let raw_env = env.raw();
    let raw = value.raw();
    TEXT.with(|cell| {
        // Reentrancy is impossible (`f` is ours and calls no JS); fall back to a fresh buffer
        // rather than panic if it ever happens.
        let mut fresh = Vec::new();
        let mut guard = cell.try_borrow_mut();
        let buf: &mut Vec<u8> = match guard.as_deref_mut() {
            Ok(buf) => buf,
            Err(_) => &mut fresh,
        };
        buf.clear();
        buf.reserve(FIRST);
        // Copies what fits of the string into the buffer's capacity (never part of a
        // character); fails for anything but a string.
        let copy = |buf: &mut Vec<u8>, copied: &mut usize| {
            // SAFETY: the buffer has `capacity` writable bytes, and napi writes no more.
            unsafe {
                sys::napi_get_value_string_utf8(raw_env, raw, buf.as_mut_ptr().cast(), buf.capacity(), copied)
            }
        };
        let mut copied = 0;
        // One call for the common short text.
        if copy(buf, &mut copied) != sys::Status::napi_ok {
            // SAFETY: a live handle of this call; the conversion checks that it is a Uint8Array.
            let bytes = unsafe { napi::bindgen_prelude::Uint8Array::from_napi_value(raw_env, raw) }?;
            return Ok(f(&bytes));
        }
        if copied + MAX_CHAR_UTF8 >= buf.capacity() {
            // Maybe cut: read it whole, with room for all of it.
            let mut units = 0;
            // SAFETY: a null buffer asks for the length in UTF-16 units, which V8 knows
            // without a pass.
            check_plain(unsafe {
                sys::napi_get_value_string_utf16(raw_env, raw, ptr::null_mut(), 0, &mut units)
            })?;
            // One UTF-16 unit is at most three bytes of UTF-8; one more for napi's NUL.
            buf.reserve(3 * units + 1);
            check_plain(copy(buf, &mut copied))?;
        }
        // SAFETY: napi wrote `copied` initialized bytes.
        unsafe { buf.set_len(copied) };
        Ok(f(buf))
    })
}

/// The most bytes one character takes in UTF-8: text napi copied with at least this much
/// room left in the buffer was not cut.
pub const MAX_CHAR_UTF8: usize = 4;

fn check_plain(status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(napi::Status::from(status), "expected a string".to_owned()))
    }
}
