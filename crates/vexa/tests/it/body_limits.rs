//! One body limit across the stack, seen through the gateway (issue 10 item 2): whoever refuses a
//! body that is too large — the gateway on a declared length, either service while streaming — the
//! client gets the contract's `413 {"detail":"Request body too large"}` as JSON, never a framework's
//! `text/plain` refusal; and a body under `MAX_BODY_BYTES` but over a framework default (2 MiB)
//! reaches the meetings service and gets its own JSON answer.
//!
//! Raw TCP, so the request is sent exactly as written (declared length or chunked) and the answer
//! is read even when the server refuses before the upload ends.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vexa_testkit::stack::{database_url, mint, start_up, StackEnv};
use vexa_testkit::{on_both_backends, Backend};

use crate::support::VEXA;

const MIB: usize = 1024 * 1024;
const TOO_LARGE: &str = r#"{"detail":"Request body too large"}"#;

/// How the body travels.
#[derive(Clone, Copy, Debug)]
enum Framing {
    ContentLength,
    Chunked,
}

/// A JSON object of about `size` bytes that is not a valid bot request (no `platform`).
fn padded_json(size: usize) -> Vec<u8> {
    let mut body = br#"{"padding":""#.to_vec();
    body.resize(size.saturating_sub(2), b'x');
    body.extend_from_slice(br#""}"#);
    body
}

/// Status, lower-cased head and body of `POST /bots` with `body` framed as asked. The upload runs
/// on its own task and may be cut short by the server; the answer is read meanwhile.
async fn post_bots(
    gateway: &str,
    key: &str,
    body: Vec<u8>,
    framing: Framing,
) -> (u16, String, String) {
    let addr = gateway.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&addr)
        .await
        .expect("connect to the gateway");
    let (mut reader, mut writer) = stream.into_split();
    let framing_header = match framing {
        Framing::ContentLength => format!("Content-Length: {}\r\n", body.len()),
        Framing::Chunked => "Transfer-Encoding: chunked\r\n".to_owned(),
    };
    let head = format!(
        "POST /bots HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {key}\r\nContent-Type: application/json\r\n{framing_header}Connection: close\r\n\r\n"
    );
    // The task hands the write half back: dropping it would half-close the connection, and a
    // server may then drop the request unanswered.
    let upload = tokio::spawn(async move {
        let sent = send(&mut writer, head.as_bytes(), &body, framing).await;
        (writer, sent)
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut answer)).await;
    drop(upload);
    // A reset after the full answer arrived is fine: the server refused the rest of the upload.
    if let Ok(Err(e)) = &read {
        assert!(!answer.is_empty(), "no answer from the gateway: {e}");
    }
    assert!(read.is_ok(), "the gateway did not answer within 60 s");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        panic!("not an HTTP answer to a {framing:?} body: {text:?} (read: {read:?})")
    };
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, head.to_ascii_lowercase(), body)
}

async fn send(
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    head: &[u8],
    body: &[u8],
    framing: Framing,
) -> std::io::Result<()> {
    writer.write_all(head).await?;
    match framing {
        Framing::ContentLength => writer.write_all(body).await?,
        Framing::Chunked => {
            for chunk in body.chunks(256 * 1024) {
                writer
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await?;
                writer.write_all(chunk).await?;
                writer.write_all(b"\r\n").await?;
            }
            writer.write_all(b"0\r\n\r\n").await?;
        }
    }
    writer.flush().await
}

/// The payload of a chunked body.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

async fn stack(backend: Backend, max_body: Option<usize>) -> (tempfile::TempDir, StackEnv) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut env = StackEnv::new(VEXA, dir.path(), &database_url(backend, dir.path()).await);
    if let Some(limit) = max_body {
        env.set("MAX_BODY_BYTES", &limit.to_string());
    }
    (dir, env)
}

fn assert_contract_413(what: &str, (status, head, body): (u16, String, String)) {
    assert_eq!(status, 413, "{what}: {head}\n{body}");
    assert!(
        head.contains("content-type: application/json"),
        "{what}: {head}"
    );
    assert_eq!(body, TOO_LARGE, "{what}");
}

/// Default limit (10 MiB): 3 MiB reaches the meetings service and gets its JSON 422 (not a
/// framework's 2 MiB `text/plain` 413); 20 MiB chunked gets the contract's JSON 413.
async fn one_limit_between_gateway_and_meetings(backend: Backend) {
    let (_dir, env) = stack(backend, None).await;
    let _up = start_up(&env).await;
    let (_, _, key) = mint(&env, "bodies@acme.com", "bot").await;

    let (status, head, body) = post_bots(
        &env.gateway(),
        &key,
        padded_json(3 * MIB),
        Framing::ContentLength,
    )
    .await;
    assert_eq!(status, 422, "{backend:?}: 3 MiB declared: {head}\n{body}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let detail: Value = serde_json::from_str(&body).expect("a JSON answer");
    assert!(detail.get("detail").is_some(), "{backend:?}: {body}");

    let (status, head, body) =
        post_bots(&env.gateway(), &key, padded_json(3 * MIB), Framing::Chunked).await;
    assert_eq!(status, 422, "{backend:?}: 3 MiB chunked: {head}\n{body}");

    assert_contract_413(
        &format!("{backend:?}: 20 MiB chunked"),
        post_bots(
            &env.gateway(),
            &key,
            padded_json(20 * MIB),
            Framing::Chunked,
        )
        .await,
    );
    assert_contract_413(
        &format!("{backend:?}: 20 MiB declared"),
        post_bots(
            &env.gateway(),
            &key,
            padded_json(20 * MIB),
            Framing::ContentLength,
        )
        .await,
    );
}

/// A 2 MiB `MAX_BODY_BYTES`: a 3 MiB body, declared or chunked, is the contract's JSON 413.
async fn a_lowered_limit_refuses_3_mib_as_json(backend: Backend) {
    let (_dir, env) = stack(backend, Some(2 * MIB)).await;
    let _up = start_up(&env).await;
    let (_, _, key) = mint(&env, "bodies@acme.com", "bot").await;
    for framing in [Framing::ContentLength, Framing::Chunked] {
        assert_contract_413(
            &format!("{backend:?}: 3 MiB {framing:?} over a 2 MiB limit"),
            post_bots(&env.gateway(), &key, padded_json(3 * MIB), framing).await,
        );
    }
}

on_both_backends!(one_limit_between_gateway_and_meetings);
on_both_backends!(a_lowered_limit_refuses_3_mib_as_json);
