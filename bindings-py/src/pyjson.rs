//! Python values read as JSON without a JSON text in between.
//!
//! `dict` (with `str` keys), `list`, `tuple`, `str`, `int`, `float`, `bool` and `None`, and
//! their subclasses, are walked in Rust. [`write_canonical`] writes the RFC 8785 form with
//! the core's own writers (`canonical::cmp_keys`, `write_string`, `write_float` — Python
//! writes floats with a fraction or an exponent, never as integer literals — and
//! `write_integer`), so the bytes are exactly those `canonical::canonicalize` gives for
//! `json.dumps` of the same value; [`to_value`] builds the `serde_json::Value` the core's
//! `canonical::parse` would parse from that text. The refusals are the core's, with
//! its codes: lone surrogates in a `str` (`lone_surrogate`), `int`s beyond ±(2**53-1)
//! (`integer_out_of_range`), NaN and infinities (`non_finite_number`), nesting deeper than
//! `canonical::MAX_DEPTH` (`too_deep`). What JSON text could not hold at all — a key that is
//! not a `str`, a value of another type — is refused as the SDK refuses a bad payload
//! (`InvalidPayloadError`, code `invalid_request`, reason `not_json`), where `json.dumps` would
//! have turned `1` into `"1"` or called `default`.
//!
//! No Python code runs during a walk (only C-level type checks and reads of the objects'
//! own data), so a value cannot change under the walker.

use std::ptr::addr_of_mut;

use handrail_core::canonical::{self, MAX_DEPTH};
use handrail_core::Error;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

use crate::error::CoreError;
use crate::input::utf8;

/// The JSON kind of a Python value, decided by exact type first (the common case, one
/// pointer comparison) and by subclass checks after.
enum Kind<'a, 'py> {
    Null,
    Bool(bool),
    Int,
    Float,
    Str(Borrowed<'a, 'py, PyString>),
    List(Borrowed<'a, 'py, PyList>),
    Tuple(Borrowed<'a, 'py, PyTuple>),
    Dict(Borrowed<'a, 'py, PyDict>),
}

fn kind<'a, 'py>(obj: &'a Bound<'py, PyAny>) -> PyResult<Kind<'a, 'py>> {
    let ptr = obj.as_ptr();
    let ty = obj.get_type_ptr();
    // SAFETY: only the addresses of the static type objects and singletons are taken.
    unsafe {
        if ty == addr_of_mut!(ffi::PyUnicode_Type) {
            return Ok(Kind::Str(obj.as_borrowed().cast_unchecked()));
        }
        if ty == addr_of_mut!(ffi::PyDict_Type) {
            return Ok(Kind::Dict(obj.as_borrowed().cast_unchecked()));
        }
        if ty == addr_of_mut!(ffi::PyLong_Type) {
            return Ok(Kind::Int);
        }
        if ty == addr_of_mut!(ffi::PyFloat_Type) {
            return Ok(Kind::Float);
        }
        if ty == addr_of_mut!(ffi::PyList_Type) {
            return Ok(Kind::List(obj.as_borrowed().cast_unchecked()));
        }
        if ptr == ffi::Py_True() || ptr == ffi::Py_False() {
            return Ok(Kind::Bool(ptr == ffi::Py_True()));
        }
        if ptr == ffi::Py_None() {
            return Ok(Kind::Null);
        }
        if ty == addr_of_mut!(ffi::PyTuple_Type) {
            return Ok(Kind::Tuple(obj.as_borrowed().cast_unchecked()));
        }
    }
    // Subclasses (IntEnum, OrderedDict, str enums…), read as json.dumps reads them. bool
    // cannot be subclassed, so every bool was caught above, before int.
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Kind::Str(s.as_borrowed()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(Kind::Dict(d.as_borrowed()));
    }
    if obj.is_instance_of::<pyo3::types::PyInt>() && !obj.is_instance_of::<PyBool>() {
        return Ok(Kind::Int);
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Kind::Float);
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return Ok(Kind::List(l.as_borrowed()));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return Ok(Kind::Tuple(t.as_borrowed()));
    }
    Err(not_json(format!(
        "a {} is not a JSON value (dict, list, tuple, str, int, float, bool or None)",
        obj.get_type().qualname()?
    )))
}

fn not_json(message: String) -> PyErr {
    CoreError(Error::InvalidRequest { reason: "not_json".into(), message }).into()
}

fn core(err: Error) -> PyErr {
    CoreError(err).into()
}

/// The text of a `str`; lone surrogates are the core's `lone_surrogate`.
fn text<'a>(s: Borrowed<'a, '_, PyString>) -> PyResult<&'a str> {
    utf8(s).map_err(|_| core(Error::LoneSurrogate { offset: 0 }))
}

/// An `int` within ±(2**53-1), as `i64`; beyond it, the core's `integer_out_of_range`.
fn int(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    let mut overflow = 0;
    // SAFETY: `obj` is an `int` (or subclass): no `__index__` is called, nothing can fail
    // but the range, which `overflow` reports.
    let n = unsafe { ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
    if overflow != 0 {
        return Err(core(Error::IntegerOutOfRange { offset: 0 }));
    }
    if n == -1 {
        if let Some(err) = PyErr::take(obj.py()) {
            return Err(err);
        }
    }
    Ok(n)
}

fn float(obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    // SAFETY: `obj` is a `float` (or subclass): its value is read, no method called.
    let n = unsafe { ffi::PyFloat_AsDouble(obj.as_ptr()) };
    if n == -1.0 {
        if let Some(err) = PyErr::take(obj.py()) {
            return Err(err);
        }
    }
    Ok(n)
}

fn key_text<'a>(key: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    match key.cast::<PyString>() {
        Ok(s) => text(s.as_borrowed()),
        Err(_) => Err(not_json(format!("dict keys must be str, not {}", key.get_type().qualname()?))),
    }
}

/// One member of a dict being written: its name (a view of the key's UTF-8) and its value,
/// both borrowed from the dict.
struct Member {
    name: *const u8,
    len: usize,
    value: *mut ffi::PyObject,
}

impl Member {
    fn name(&self) -> &str {
        // SAFETY: `name`/`len` were taken from `utf8` of a key of a dict that is alive for
        // the whole walk and never changes during it (no Python code runs); str is
        // immutable, and the bytes are valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.name, self.len)) }
    }
}

/// Appends the RFC 8785 form of `obj` to `out`.
pub fn write_canonical(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> PyResult<()> {
    let mut members = Vec::new();
    write_value(obj, 0, out, &mut members)
}

fn write_value(
    obj: &Bound<'_, PyAny>,
    depth: usize,
    out: &mut Vec<u8>,
    members: &mut Vec<Member>,
) -> PyResult<()> {
    match kind(obj)? {
        Kind::Null => out.extend_from_slice(b"null"),
        Kind::Bool(true) => out.extend_from_slice(b"true"),
        Kind::Bool(false) => out.extend_from_slice(b"false"),
        Kind::Int => canonical::write_integer(int(obj)?, out).map_err(core)?,
        Kind::Float => canonical::write_float(float(obj)?, out).map_err(core)?,
        Kind::Str(s) => canonical::write_string(text(s)?, out),
        Kind::List(list) => {
            check_depth(depth + 1)?;
            out.push(b'[');
            for (i, item) in list.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(&item, depth + 1, out, members)?;
            }
            out.push(b']');
        }
        Kind::Tuple(tuple) => {
            check_depth(depth + 1)?;
            out.push(b'[');
            for (i, item) in tuple.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(&item, depth + 1, out, members)?;
            }
            out.push(b']');
        }
        Kind::Dict(dict) => {
            check_depth(depth + 1)?;
            let py = obj.py();
            // This dict's members sit at the tail of the stack shared by all open dicts.
            let first = members.len();
            let (mut pos, mut key, mut value) = (0, std::ptr::null_mut(), std::ptr::null_mut());
            // SAFETY: `dict` is a live dict; PyDict_Next hands out borrowed references, valid
            // while the dict is alive and unchanged — the whole walk, as no Python code runs.
            while unsafe { ffi::PyDict_Next(dict.as_ptr(), &mut pos, &mut key, &mut value) } != 0 {
                // SAFETY: a non-null borrowed reference from PyDict_Next (see above).
                let key = unsafe { Borrowed::from_ptr(py, key) };
                let name = key_text(&key)?;
                members.push(Member { name: name.as_ptr(), len: name.len(), value });
            }
            let mine = &mut members[first..];
            mine.sort_unstable_by(|a, b| canonical::cmp_keys(a.name(), b.name()));
            // Distinct dict keys can share a text only through a str subclass with its own
            // __eq__/__hash__; json.dumps would write both and the core refuse the text.
            if let Some(pair) = mine.windows(2).find(|m| m[0].name() == m[1].name()) {
                return Err(core(Error::DuplicateKey { key: pair[0].name().to_string(), offset: 0 }));
            }
            out.push(b'{');
            for i in first..members.len() {
                if i > first {
                    out.push(b',');
                }
                canonical::write_string(members[i].name(), out);
                out.push(b':');
                // SAFETY: a borrowed value of the dict, alive as above.
                let value = unsafe { Borrowed::from_ptr(py, members[i].value) };
                write_value(&value, depth + 1, out, members)?;
            }
            out.push(b'}');
            members.truncate(first);
        }
    }
    Ok(())
}

fn check_depth(depth: usize) -> PyResult<()> {
    if depth > MAX_DEPTH {
        return Err(core(Error::TooDeep { limit: MAX_DEPTH }));
    }
    Ok(())
}

/// The `serde_json::Value` the core would parse from the JSON text of `obj`: members in
/// the dict's order, integers as `u64`/`i64` as serde_json reads integer literals.
pub fn to_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    value(obj, 0)
}

fn value(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    Ok(match kind(obj)? {
        Kind::Null => Value::Null,
        Kind::Bool(b) => Value::Bool(b),
        Kind::Int => {
            let n = int(obj)?;
            if n.unsigned_abs() > (1 << 53) - 1 {
                return Err(core(Error::IntegerOutOfRange { offset: 0 }));
            }
            if n >= 0 {
                Value::Number(Number::from(n.unsigned_abs()))
            } else {
                Value::Number(Number::from(n))
            }
        }
        Kind::Float => {
            let n = float(obj)?;
            Value::Number(Number::from_f64(n).ok_or_else(|| core(Error::NonFiniteNumber { offset: 0 }))?)
        }
        Kind::Str(s) => Value::String(text(s)?.to_owned()),
        Kind::List(list) => {
            check_depth(depth + 1)?;
            let mut items = Vec::with_capacity(list.len());
            for item in list.iter() {
                items.push(value(&item, depth + 1)?);
            }
            Value::Array(items)
        }
        Kind::Tuple(tuple) => {
            check_depth(depth + 1)?;
            let mut items = Vec::with_capacity(tuple.len());
            for item in tuple.iter() {
                items.push(value(&item, depth + 1)?);
            }
            Value::Array(items)
        }
        Kind::Dict(dict) => {
            check_depth(depth + 1)?;
            let mut map = Map::with_capacity(dict.len());
            for (key, item) in dict.iter() {
                let name = key_text(&key)?.to_owned();
                let item = value(&item, depth + 1)?;
                if let Some(_previous) = map.insert(name, item) {
                    let name = key_text(&key)?.to_string();
                    return Err(core(Error::DuplicateKey { key: name, offset: 0 }));
                }
            }
            Value::Object(map)
        }
    })
}
