//! Keep-alive connections stay usable after an answer that did not need the request body.
//!
//! httpx writes a request's head and its small JSON body in two writes. When a route answers
//! from the head alone (no body extractor, no such route, a method it lacks) and the body
//! has not arrived yet, hyper drops the connection after the answer, and that answer carries
//! no `connection: close`: a pooled client that sends its next request at that moment gets
//! "server disconnected without sending a response" (the LetsPing compat test, 1 run in 3).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Server;

/// Sends `head` (announcing a 2-byte body), waits so the server can answer from the head
/// alone, then the body, then `GET /healthz` on the same connection; everything answered.
fn answers_on_one_connection(server: &Server, head: &str) -> String {
    let addr = server.url.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    // Only so a regression fails instead of hanging the test run.
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    conn.write_all(format!("{head}content-type: application/json\r\ncontent-length: 2\r\n\r\n").as_bytes())
        .unwrap();
    // Not an assertion on time: it only gives the server the chance to answer before the
    // body is there, the case that broke. A server that waits for the body passes either way.
    std::thread::sleep(Duration::from_millis(200));
    // Either write may fail on a server that already closed; what was answered tells.
    let _ = conn.write_all(b"{}");
    let _ = conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn a_body_no_route_reads_does_not_close_the_connection() {
    let server = Server::fresh("unread");
    let heads = [
        // Their sign-up token route takes no body (`json={}` from their client).
        "POST /compat/letsping/api/agent-signup/request-token HTTP/1.1\r\nhost: localhost\r\n",
        // No such route.
        "POST /nowhere HTTP/1.1\r\nhost: localhost\r\n",
        // A method the route does not have.
        "PUT /healthz HTTP/1.1\r\nhost: localhost\r\n",
    ];
    for head in heads {
        let answers = answers_on_one_connection(&server, head);
        let first = head.lines().next().unwrap();
        assert_eq!(answers.matches("HTTP/1.1 ").count(), 2, "{first}: {answers}");
        assert!(answers.ends_with("ok"), "{first}: {answers}");
    }
}

/// The first answer on a new connection that sent `head` (and no body).
fn answer_to_head(server: &Server, head: &str) -> String {
    let addr = server.url.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    conn.write_all(head.as_bytes()).unwrap();
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn a_body_too_long_to_read_or_not_yet_sent_gets_connection_close() {
    let server = Server::fresh("unread-close");
    // 100 MiB announced to a route that reads nothing: answered at once, not read.
    let long = answer_to_head(
        &server,
        "POST /nowhere HTTP/1.1\r\nhost: localhost\r\ncontent-length: 104857600\r\n\r\n",
    );
    assert!(long.starts_with("HTTP/1.1 404"), "{long}");
    assert!(long.contains("\r\nconnection: close\r\n"), "{long}");
    // A client waiting for `100 Continue` is not asked for a body nobody reads.
    let waiting = answer_to_head(
        &server,
        "POST /nowhere HTTP/1.1\r\nhost: localhost\r\nexpect: 100-continue\r\ncontent-length: 2\r\n\r\n",
    );
    assert!(waiting.starts_with("HTTP/1.1 404"), "{waiting}");
    assert!(waiting.contains("\r\nconnection: close\r\n"), "{waiting}");
}
