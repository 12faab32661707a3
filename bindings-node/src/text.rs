//! JSON text from JavaScript, read without a second copy: [`with_text`] hands the core the
//! UTF-8 of a JS string (copied once into a buffer reused between calls) or the bytes of a
//! `Uint8Array` (borrowed as is). Every JSON argument of the SDK (`toolCallKey`, the
//! firewall's `check`) comes through here.
//!
//! (This module once also walked JS values natively into canonical JSON for
//! `toolCallKeyOf`; measured slower than `JSON.stringify` and the core's parser and used by
//! no SDK, it was removed: see BENCHMARKS.md.)

use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, Unknown};
use napi::{sys, Env, JsValue};

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
