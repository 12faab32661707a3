//! The modals Slack opens for a request (`views.open`) and what their submissions carry back.
//!
//! Reject asks for a reason. Edit shows the payload as fields generated from the request's JSON
//! Schema: one per top-level property of `properties` — a text input for a string, a number
//! input for a number or an integer, a select for an `enum` or a boolean, and a JSON text input
//! for anything else (objects, arrays, several types). A value the payload holds that does not
//! fit its field's kind is shown as JSON too. Without such a schema (none, no `properties`, more
//! than [`MAX_FIELDS`] of them, a payload that is not an object) the whole payload is one JSON
//! field. The form is derived from the request alone (its schema and payload never change), so
//! the submission is read with the same form the modal was built with.
//!
//! This module only turns fields into a payload and the core's findings back into fields:
//! whether the edited payload is acceptable is decided by the core
//! ([`crate::lifecycle::judge_edit`], as for the dashboard's edits).

use serde_json::{json, Map, Value};

use super::{cut, escape};
use crate::store::RequestRow;

/// The `callback_id` of the reject modal.
pub(crate) const REJECT_CALLBACK: &str = "handrail_reject";
/// The `callback_id` of the edit modal.
pub(crate) const EDIT_CALLBACK: &str = "handrail_edit";
/// The reject modal's one input block.
pub(crate) const REASON_BLOCK: &str = "reason";
/// The block of the whole-payload JSON field.
const JSON_BLOCK: &str = "payload";
/// The prefix of a property's block; the property's name follows.
const FIELD_PREFIX: &str = "p:";
/// Every input's `action_id`.
const ACTION: &str = "value";
/// Most characters of a rejection's reason.
pub(crate) const MAX_REASON: usize = 1000;
/// Most fields of an edit modal (Slack allows 100 blocks; a form that long helps no one).
pub(crate) const MAX_FIELDS: usize = 40;
/// Most characters of one input (Slack's `plain_text_input` limit).
const MAX_INPUT: usize = 3000;
/// Most characters prefilled in all of an edit modal's inputs: a submission carries the view
/// back, so this keeps it well within [`super::MAX_INTERACTIVITY`].
const MAX_PREFILL: usize = 24_000;
/// Most options of a select (Slack's limit), most characters of an option's text and value.
const MAX_OPTIONS: usize = 100;
const MAX_OPTION_TEXT: usize = 75;
const MAX_OPTION_VALUE: usize = 150;
/// Most bytes of a property name used in a block id (Slack's `block_id` is at most 255).
const MAX_NAME: usize = 200;
/// Most bytes of a modal's `private_metadata` read back (Slack's limit is 3000).
const MAX_METADATA: usize = 512;
/// Most characters of one field's error message.
const MAX_ERROR: usize = 300;

/// The request a modal is about, in its `private_metadata`. It comes back inside a signed
/// payload, but is read as untrusted input all the same.
#[derive(Debug, PartialEq)]
pub(crate) struct Target {
    pub(crate) project: String,
    pub(crate) request: String,
}

/// Ids are short ASCII words (`prj_…`, `req_…`).
fn is_id(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Target {
    fn metadata(&self) -> String {
        json!({"project": self.project, "request": self.request}).to_string()
    }

    /// The target of a `private_metadata`: an object of exactly `project` and `request`, ids.
    pub(crate) fn parse(text: &str) -> Result<Target, &'static str> {
        const BAD: &str = "view.private_metadata is not a Handrail request";
        if text.len() > MAX_METADATA {
            return Err(BAD);
        }
        let value: Value = serde_json::from_str(text).map_err(|_| BAD)?;
        let object = value.as_object().filter(|o| o.len() == 2).ok_or(BAD)?;
        let project = object.get("project").and_then(Value::as_str).filter(|p| is_id(p, 64)).ok_or(BAD)?;
        let request = object.get("request").and_then(Value::as_str).filter(|r| is_id(r, 128)).ok_or(BAD)?;
        Ok(Target { project: project.into(), request: request.into() })
    }
}

fn plain(text: &str) -> Value {
    json!({"type": "plain_text", "text": text, "emoji": false})
}

/// The header of both modals: which request (agent text, escaped).
fn about(row: &RequestRow, what: &str) -> Value {
    let title = format!("*{}* {}", escape(&format!("{} {}", row.service, row.action)), what);
    json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&title, super::MAX_SECTION)}})
}

/// The modal Reject opens: one required multiline "Reason".
pub(crate) fn reject_modal(row: &RequestRow, target: &Target) -> Value {
    json!({
        "type": "modal",
        "callback_id": REJECT_CALLBACK,
        "private_metadata": target.metadata(),
        "title": plain("Reject request"),
        "submit": plain("Reject"),
        "close": plain("Cancel"),
        "blocks": [
            about(row, "will be rejected. The agent is told why."),
            {"type": "input", "block_id": REASON_BLOCK, "label": plain("Reason"),
             "element": {"type": "plain_text_input", "action_id": ACTION, "multiline": true,
                         "min_length": 1, "max_length": MAX_REASON}},
        ],
    })
}

/// The reason of a reject modal's `state.values`, or the field's error.
pub(crate) fn reason(values: &Value) -> Result<String, Map<String, Value>> {
    let error = |text: &str| Map::from_iter([(REASON_BLOCK.to_string(), json!(text))]);
    let text = values[REASON_BLOCK][ACTION]["value"].as_str().map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(error("A reason is required."));
    }
    if text.chars().count() > MAX_REASON {
        return Err(error("A reason is at most 1000 characters."));
    }
    Ok(text.to_string())
}

/// How a property is edited.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Text,
    Number {
        integer: bool,
    },
    /// One of these values (an `enum`, or `true` / `false`).
    Choice(Vec<Value>),
    Json,
}

/// One property's field.
#[derive(Debug)]
struct Field {
    name: String,
    label: String,
    hint: Option<String>,
    kind: Kind,
    required: bool,
}

impl Field {
    fn block(&self) -> String {
        format!("{FIELD_PREFIX}{}", self.name)
    }
}

/// An edit modal's fields: one per property, or the whole payload as JSON.
#[derive(Debug)]
enum Form {
    Fields(Vec<Field>),
    Whole,
}

/// The kind the schema `sub` gives a property.
fn kind_of(sub: &Value) -> Kind {
    if let Some(options) = sub.get("enum").and_then(Value::as_array) {
        let fits = !options.is_empty()
            && options.len() <= MAX_OPTIONS
            && options.iter().all(|o| {
                display(o).chars().count() <= MAX_OPTION_TEXT && o.to_string().len() <= MAX_OPTION_VALUE
            });
        return if fits { Kind::Choice(options.clone()) } else { Kind::Json };
    }
    match sub.get("type").and_then(Value::as_str) {
        Some("string") => Kind::Text,
        Some("integer") => Kind::Number { integer: true },
        Some("number") => Kind::Number { integer: false },
        Some("boolean") => Kind::Choice(vec![Value::Bool(true), Value::Bool(false)]),
        _ => Kind::Json,
    }
}

/// Whether the payload's current value can be shown in a field of `kind`.
fn fits(kind: &Kind, current: &Value) -> bool {
    match kind {
        Kind::Text => current.is_string(),
        Kind::Number { integer: true } => current.is_i64() || current.is_u64(),
        Kind::Number { integer: false } => current.is_number(),
        Kind::Choice(options) => options.contains(current),
        Kind::Json => true,
    }
}

/// An option's text: a string as it is, anything else as JSON.
fn display(option: &Value) -> String {
    match option {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The form of `row`: fields from its schema when it has top-level `properties` that fit.
fn form(row: &RequestRow) -> Form {
    let (Some(schema), Value::Object(payload)) = (row.schema.as_ref(), &row.payload) else {
        return Form::Whole;
    };
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return Form::Whole };
    if properties.is_empty() || properties.len() > MAX_FIELDS {
        return Form::Whole;
    }
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut fields = Vec::with_capacity(properties.len());
    for (name, sub) in properties {
        if name.is_empty() || name.len() > MAX_NAME {
            return Form::Whole;
        }
        let mut kind = kind_of(sub);
        if payload.get(name).is_some_and(|current| !fits(&kind, current)) {
            kind = Kind::Json;
        }
        let label = match sub.get("title").and_then(Value::as_str) {
            Some(title) => format!("{title} ({name})"),
            None => name.clone(),
        };
        let hint = sub.get("description").and_then(Value::as_str).map(|d| cut(d, 150));
        fields.push(Field {
            name: name.clone(),
            label: cut(&label, 150),
            hint,
            kind,
            required: required.contains(&name.as_str()),
        });
    }
    Form::Fields(fields)
}

/// Why an edit modal cannot be built.
pub(crate) const TOO_LARGE: &str =
    "This payload is too large to edit in Slack: edit it in the dashboard. Nothing was decided.";

/// The modal Edit opens, its fields prefilled with the payload's current values; an error
/// when a value (or all of them together) is more than Slack's inputs hold.
pub(crate) fn edit_modal(row: &RequestRow, target: &Target) -> Result<Value, &'static str> {
    let mut prefilled = 0;
    let mut prefill = |text: String| {
        prefilled += text.chars().count();
        (text.chars().count() <= MAX_INPUT).then_some(text).ok_or(TOO_LARGE)
    };
    let mut blocks = vec![about(row, "will be approved with these values.")];
    match form(row) {
        Form::Whole => {
            let text = prefill(serde_json::to_string_pretty(&row.payload).map_err(|_| TOO_LARGE)?)?;
            blocks.push(json!({"type": "input", "block_id": JSON_BLOCK, "label": plain("Payload (JSON)"),
                "element": {"type": "plain_text_input", "action_id": ACTION, "multiline": true,
                            "initial_value": text, "max_length": MAX_INPUT}}));
        }
        Form::Fields(fields) => {
            for field in &fields {
                let current = row.payload.get(&field.name);
                let element = match &field.kind {
                    Kind::Text => {
                        let mut e =
                            json!({"type": "plain_text_input", "action_id": ACTION, "max_length": MAX_INPUT});
                        match current.and_then(Value::as_str) {
                            Some(text) if !text.is_empty() => {
                                e["multiline"] = json!(text.contains('\n') || text.chars().count() > 150);
                                e["initial_value"] = json!(prefill(text.to_string())?);
                            }
                            _ => {}
                        }
                        e
                    }
                    Kind::Number { integer } => {
                        let mut e = json!({"type": "number_input", "action_id": ACTION, "is_decimal_allowed": !integer});
                        if let Some(n) = current {
                            e["initial_value"] = json!(prefill(n.to_string())?);
                        }
                        e
                    }
                    Kind::Choice(options) => {
                        let option = |o: &Value| json!({"text": plain(&display(o)), "value": o.to_string()});
                        let mut e = json!({"type": "static_select", "action_id": ACTION,
                            "options": options.iter().map(option).collect::<Vec<_>>()});
                        if let Some(o) = current {
                            e["initial_option"] = option(o);
                        }
                        e
                    }
                    Kind::Json => {
                        let mut e = json!({"type": "plain_text_input", "action_id": ACTION, "multiline": true,
                                           "max_length": MAX_INPUT});
                        if let Some(v) = current {
                            let text = serde_json::to_string_pretty(v).map_err(|_| TOO_LARGE)?;
                            e["initial_value"] = json!(prefill(text)?);
                        }
                        e
                    }
                };
                let mut block = json!({"type": "input", "block_id": field.block(), "label": plain(&field.label),
                                       "optional": !field.required, "element": element});
                let json_hint = (field.kind == Kind::Json).then_some("JSON");
                if let Some(hint) = field.hint.as_deref().or(json_hint) {
                    block["hint"] = plain(hint);
                }
                blocks.push(block);
            }
        }
    }
    if prefilled > MAX_PREFILL {
        return Err(TOO_LARGE);
    }
    Ok(json!({
        "type": "modal",
        "callback_id": EDIT_CALLBACK,
        "private_metadata": target.metadata(),
        "title": plain("Edit and approve"),
        "submit": plain("Approve"),
        "close": plain("Cancel"),
        "blocks": blocks,
    }))
}

/// The text one input of `values` (a submission's `view.state.values`) holds: None when empty;
/// an error when the block is missing, the value is not text, or it is longer than an input.
fn input<'a>(values: &'a Value, block: &str, select: bool) -> Result<Option<&'a str>, &'static str> {
    let entry = values.get(block).and_then(|b| b.get(ACTION)).ok_or("Missing from the submission.")?;
    let value = if select { &entry["selected_option"]["value"] } else { &entry["value"] };
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() > MAX_INPUT => Err("At most 3000 characters."),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.as_str())),
        _ => Err("Not a value this field can hold."),
    }
}

/// The payload an edit modal's `values` make of `row`'s, or the fields' errors (block id →
/// message). Properties the form has no field for keep their values; an empty field drops
/// its property (a string the payload had becomes empty instead). Nothing here judges the
/// result: that is the core's.
pub(crate) fn edited(row: &RequestRow, values: &Value) -> Result<Value, Map<String, Value>> {
    let mut errors = Map::new();
    let fields = match form(row) {
        Form::Whole => {
            return match input(values, JSON_BLOCK, false) {
                Ok(Some(text)) => serde_json::from_str(text)
                    .map_err(|_| Map::from_iter([(JSON_BLOCK.into(), json!("This is not JSON."))])),
                Ok(None) => Err(Map::from_iter([(JSON_BLOCK.into(), json!("The payload is required."))])),
                Err(why) => Err(Map::from_iter([(JSON_BLOCK.into(), json!(why))])),
            };
        }
        Form::Fields(fields) => fields,
    };
    let mut payload = row.payload.as_object().cloned().unwrap_or_default();
    for field in &fields {
        let block = field.block();
        let text = match input(values, &block, matches!(field.kind, Kind::Choice(_))) {
            Ok(text) => text,
            Err(why) => {
                errors.insert(block, json!(why));
                continue;
            }
        };
        let value = match (&field.kind, text) {
            (Kind::Text, None) if payload.contains_key(&field.name) => Ok(json!("")),
            (_, None) => {
                payload.remove(&field.name);
                continue;
            }
            (Kind::Text, Some(text)) => Ok(json!(text)),
            (Kind::Number { .. }, Some(text)) => match serde_json::from_str::<Value>(text.trim()) {
                Ok(n @ Value::Number(_)) => Ok(n),
                _ => Err("This is not a number."),
            },
            (Kind::Choice(options), Some(text)) => serde_json::from_str::<Value>(text)
                .ok()
                .filter(|chosen| options.contains(chosen))
                .ok_or("Not one of the options."),
            (Kind::Json, Some(text)) => serde_json::from_str(text).map_err(|_| "This is not JSON."),
        };
        match value {
            Ok(value) => {
                payload.insert(field.name.clone(), value);
            }
            Err(why) => {
                errors.insert(block, json!(why));
            }
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(payload))
    } else {
        Err(errors)
    }
}

/// The first input block of `row`'s edit modal, where findings about no one field go.
pub(crate) fn first_block(row: &RequestRow) -> String {
    match form(row) {
        Form::Fields(fields) if !fields.is_empty() => fields[0].block(),
        _ => JSON_BLOCK.into(),
    }
}

/// The core's findings about an edited payload (`/path: message`, see
/// [`handrail_core::request::validate_edit`]) as field errors: each on the field of the
/// property its path starts with, the others on the first field.
pub(crate) fn field_errors(row: &RequestRow, findings: &[String]) -> Map<String, Value> {
    let form = form(row);
    let first = first_block(row);
    let mut errors: Map<String, Value> = Map::new();
    for finding in findings {
        let block = match (&form, finding.strip_prefix('/')) {
            (Form::Fields(fields), Some(rest)) => {
                let end = [rest.find('/'), rest.find(": ")].into_iter().flatten().min().unwrap_or(rest.len());
                let name = rest[..end].replace("~1", "/").replace("~0", "~");
                fields.iter().find(|f| f.name == name).map(Field::block).unwrap_or_else(|| first.clone())
            }
            _ => first.clone(),
        };
        let text = match errors.get(&block).and_then(Value::as_str) {
            Some(before) => format!("{before}; {finding}"),
            None => finding.clone(),
        };
        errors.insert(block, json!(cut(&text, MAX_ERROR)));
    }
    errors
}

/// A modal's answer naming what is wrong, field by field (Slack shows it under each field).
pub(crate) fn errors_answer(errors: Map<String, Value>) -> Value {
    json!({"response_action": "errors", "errors": errors})
}

/// A modal's answer replacing the form with a notice (nothing was decided).
pub(crate) fn notice(text: &str) -> Value {
    json!({
        "response_action": "update",
        "view": {"type": "modal", "title": plain("Handrail"), "close": plain("Close"),
                 "blocks": [{"type": "section", "text": plain(text)}]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(payload: Value, schema: Option<Value>) -> RequestRow {
        serde_json::from_value(json!({
            "id": "req_1", "project": "prj_1", "service": "bank", "action": "wire", "payload": payload,
            "schema": schema, "priority": "medium", "status": "PENDING", "created_at": 0,
            "expires_at": 4_000_000_000i64, "created_by": "key_agent",
        }))
        .unwrap()
    }

    #[test]
    fn metadata_is_read_as_untrusted() {
        let t = Target { project: "prj_1".into(), request: "req_1".into() };
        assert_eq!(Target::parse(&t.metadata()).unwrap(), t);
        for bad in [
            "",
            "{}",
            "[1]",
            r#"{"project": "prj_1"}"#,
            r#"{"project": "prj_1", "request": "req_1", "x": 1}"#,
            r#"{"project": "prj 1", "request": "req_1"}"#,
            r#"{"project": "prj_1", "request": ""}"#,
            r#"{"project": 1, "request": "req_1"}"#,
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        let long = json!({"project": "p".repeat(65), "request": "req_1"}).to_string();
        assert!(Target::parse(&long).is_err());
        assert!(Target::parse(&" ".repeat(MAX_METADATA + 1)).is_err());
    }

    #[test]
    fn fields_follow_the_schema_and_come_back_as_a_payload() {
        let schema = json!({"type": "object", "required": ["amount"], "properties": {
            "amount": {"type": "integer"}, "to": {"type": "string", "description": "IBAN"},
            "currency": {"enum": ["EUR", "USD"]}, "urgent": {"type": "boolean"},
            "tags": {"type": "array"}, "rate": {"type": "number"}}});
        let r = row(
            json!({"amount": 42, "to": "acct_9", "currency": "EUR", "urgent": false,
                           "tags": ["a"], "extra": 1}),
            Some(schema),
        );
        let target = Target { project: "prj_1".into(), request: "req_1".into() };
        let modal = edit_modal(&r, &target).unwrap();
        let blocks = modal["blocks"].as_array().unwrap();
        let ids: Vec<&str> = blocks[1..].iter().map(|b| b["block_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["p:amount", "p:to", "p:currency", "p:urgent", "p:tags", "p:rate"]);
        assert_eq!(blocks[1]["element"]["type"], "number_input");
        assert_eq!(blocks[1]["element"]["initial_value"], "42");
        assert_eq!(blocks[1]["optional"], false);
        assert_eq!(blocks[2]["element"]["initial_value"], "acct_9");
        assert_eq!(blocks[2]["hint"]["text"], "IBAN");
        assert_eq!(blocks[3]["element"]["initial_option"]["value"], "\"EUR\"");
        assert_eq!(blocks[4]["element"]["initial_option"]["value"], "false");
        assert_eq!(blocks[5]["element"]["initial_value"], "[\n  \"a\"\n]");
        assert!(blocks[6]["element"].get("initial_value").is_none());

        let values = json!({
            "p:amount": {"value": {"type": "number_input", "value": "50"}},
            "p:to": {"value": {"type": "plain_text_input", "value": "acct_1"}},
            "p:currency": {"value": {"type": "static_select", "selected_option": {"value": "\"USD\""}}},
            "p:urgent": {"value": {"type": "static_select", "selected_option": {"value": "true"}}},
            "p:tags": {"value": {"type": "plain_text_input", "value": "[]"}},
            "p:rate": {"value": {"type": "number_input", "value": null}},
        });
        assert_eq!(
            edited(&r, &values).unwrap(),
            json!({"amount": 50, "to": "acct_1", "currency": "USD", "urgent": true, "tags": [], "extra": 1})
        );
        let mut bad = values.clone();
        bad["p:amount"]["value"]["value"] = json!("fifty");
        bad["p:tags"]["value"]["value"] = json!("[");
        bad["p:currency"]["value"]["selected_option"]["value"] = json!("\"GBP\"");
        bad.as_object_mut().unwrap().remove("p:to");
        let errors = edited(&r, &bad).unwrap_err();
        let mut named: Vec<&String> = errors.keys().collect();
        named.sort();
        assert_eq!(named, ["p:amount", "p:currency", "p:tags", "p:to"]);

        let findings =
            vec!["/amount: \"x\" is not of type \"integer\"".to_string(), "\"to\" is required".into()];
        let errors = field_errors(&r, &findings);
        assert!(errors["p:amount"].as_str().unwrap().contains("integer"));
        assert!(errors.contains_key("p:amount") && errors.len() == 1, "{errors:?}");
    }

    #[test]
    fn no_schema_or_too_much_is_one_json_field_or_refused() {
        let target = Target { project: "prj_1".into(), request: "req_1".into() };
        let r = row(json!({"a": 1}), None);
        let modal = edit_modal(&r, &target).unwrap();
        assert_eq!(modal["blocks"][1]["block_id"], "payload");
        let values = json!({"payload": {"value": {"value": "{\"a\": 2}"}}});
        assert_eq!(edited(&r, &values).unwrap(), json!({"a": 2}));
        let values = json!({"payload": {"value": {"value": "{"}}});
        assert!(edited(&r, &values).unwrap_err().contains_key("payload"));
        let many: Map<String, Value> =
            (0..=MAX_FIELDS).map(|i| (format!("f{i}"), json!({"type": "string"}))).collect();
        let r = row(json!({}), Some(json!({"properties": many})));
        assert_eq!(edit_modal(&r, &target).unwrap()["blocks"][1]["block_id"], "payload");
        let r = row(
            json!({"memo": "x".repeat(MAX_INPUT + 1)}),
            Some(json!({"properties": {"memo": {"type": "string"}}})),
        );
        assert_eq!(edit_modal(&r, &target).unwrap_err(), TOO_LARGE);
    }

    #[test]
    fn a_reason_is_required_and_bounded() {
        let v = |text: &str| json!({"reason": {"value": {"value": text}}});
        assert_eq!(reason(&v(" too much \n")).unwrap(), "too much");
        assert!(reason(&v("  ")).is_err());
        assert!(reason(&json!({})).is_err());
        assert!(reason(&v(&"x".repeat(MAX_REASON + 1))).is_err());
    }
}
