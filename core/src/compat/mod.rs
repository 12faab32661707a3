//! Vendor-only formats, kept apart from Handrail's own: code here exists so that users of
//! another product can move to Handrail without changing their receivers or their stored
//! data, and nothing new should be written in these forms.
//!
//! Behind the `compat` feature (on by default for the crate alone; every crate of the
//! workspace states whether it wants it). Without it the formats are simply unknown: a
//! legacy envelope is `envelope_malformed` and [`crate::envelope::is_envelope`] does not
//! recognize it.
//!
//! | module | vendor | forms |
//! |---|---|---|
//! | [`letsping`] | LetsPing | the `x-letsping-signature` header (`t=…,v1=…`, verify only); the `{"_lp_enc":true,"iv","ct"}` envelope |

pub mod letsping;
