//! End to end, as an attacker holding a tenant key would try it: a stored secret never travels
//! to a new origin, provider text is redacted before it is cut and reaches answers, the
//! database and logs as one bounded line, answers are never cached, and small bodies cannot
//! buy unbounded work.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gateway_testkit::{TestApp, TestDb, ADMIN_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TCP listener that records every connection and everything sent on it, and answers each
/// request with `answer(n)` (n counts requests from 0).
struct Listener {
    url: String,
    connections: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<u8>>>,
}

impl Listener {
    async fn start(answer: impl Fn(usize) -> (u16, String) + Send + Sync + 'static) -> Listener {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", tcp.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (c, r, answer) = (connections.clone(), received.clone(), Arc::new(answer));
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = tcp.accept().await else {
                    return;
                };
                let n = c.fetch_add(1, Ordering::SeqCst);
                let (r, answer) = (r.clone(), answer.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(k) => got.extend_from_slice(&buf[..k]),
                        }
                    }
                    r.lock().unwrap().extend_from_slice(&got);
                    let (status, body) = answer(n);
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Listener {
            url,
            connections,
            received,
        }
    }
}

fn has_fragment_of(text: &str, secret: &str, min: usize) -> bool {
    (0..=secret.len() - min).any(|i| text.contains(&secret[i..i + min]))
}

#[tokio::test]
async fn a_stored_secret_never_goes_to_a_new_origin() {
    let app = TestApp::spawn().await;
    let t = app.tenant("a").await;
    let key = Some(t.key.as_str());
    let cred = app.credential(&t, "bird").await;
    let attacker = Listener::start(|_| (200, "{}".to_owned())).await;
    let sandbox_origin = app.sandbox.clone();
    let path = format!("/credentials/{cred}");

    let other_port = format!("http://127.0.0.1:{}/bird", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    for (query, base) in [
        ("?verify=true", attacker.url.clone()),
        ("", attacker.url.clone()),
        ("?verify=true", format!("{}/bird", attacker.url)),
        // another port of the same host is another origin
        ("?verify=true", other_port),
        // the scheme alone changing is another origin too
        ("", sandbox_origin.replacen("http://", "https://", 1)),
    ] {
        let r = app
            .call(
                Method::PATCH,
                &format!("{path}{query}"),
                key,
                Some(json!({"settings": {"baseUrl": base}})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{base}: {}",
            r.text
        );
        assert_eq!(r.body["errors"][0]["pointer"], "/secret", "{}", r.text);
        assert_eq!(r.body["errors"][0]["code"], "required");
    }
    // removing baseUrl falls back to the provider's public host: also a new origin
    let r = app
        .call(
            Method::PATCH,
            &path,
            key,
            Some(json!({"settings": {"baseUrl": null}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        attacker.connections.load(Ordering::SeqCst),
        0,
        "no request of any kind reached the new origin"
    );
    let now = app.call(Method::GET, &path, key, None).await;
    assert_eq!(
        now.body["credential"]["settings"]["baseUrl"],
        app.provider_base("bird"),
        "nothing stored"
    );

    // the same origin with another path is fine (and verified against the stored secret)
    let same = app
        .call(
            Method::PATCH,
            &format!("{path}?verify=true"),
            key,
            Some(json!({"settings": {"baseUrl": format!("{}/", app.provider_base("bird"))}})),
        )
        .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.text);

    // a new origin with a new secret is a new credential in all but id: allowed, and only
    // the new secret is ever sent there
    let moved = app
        .call(
            Method::PATCH,
            &path,
            key,
            Some(json!({"secret": "a-brand-new-secret-for-there", "settings": {"baseUrl": attacker.url}})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    app.call(Method::POST, &format!("{path}/check"), key, None)
        .await;
    let seen = String::from_utf8_lossy(&attacker.received.lock().unwrap()).into_owned();
    assert!(seen.contains("a-brand-new-secret-for-there"), "{seen}");
    assert!(!seen.contains("bird-sandbox-key"), "{seen}");
    app.stop().await;
}

/// A provider that echoes the key in its error answers, placed so that it straddles every
/// position around the cut of the message; with code and message each carrying it, and line
/// breaks that would forge log lines.
#[tokio::test]
async fn provider_text_is_redacted_before_it_is_cut_and_kept_on_one_line() {
    let secret = "LEAKY-secret-key-0123456789abcdef";
    let app = TestApp::spawn().await;
    let t = app.tenant("a").await;
    let key = Some(t.key.as_str());
    let fake = Listener::start(move |n| {
        // walk the key across the 500-character cut, one position per request
        let pad = "x".repeat(420 + n);
        let body = json!({
            "code": format!("E-{secret}\ninjected log line"),
            "message": format!("{pad}{secret} and\r\nlevel=error forged=true"),
        });
        (400, body.to_string())
    })
    .await;
    let created = app
        .call(
            Method::POST,
            "/credentials",
            key,
            Some(json!({"provider": "bird", "name": "leaky", "secret": secret,
                "settings": {"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001", "baseUrl": fake.url}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let cred = created.body["credential"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for round in 0..(secret.len() + 80) {
        let (what, answer) = if round % 2 == 0 {
            let a = app
                .call(
                    Method::POST,
                    &format!("/credentials/{cred}/check"),
                    key,
                    None,
                )
                .await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.text);
            ("check", a)
        } else {
            let a = app
                .call(
                    Method::POST,
                    &format!("/crm/contacts?credentialId={cred}"),
                    key,
                    Some(json!({"lastName": "X"})),
                )
                .await;
            assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
            let code = a.body["providerCode"].as_str().unwrap_or_default();
            assert!(code.chars().count() <= 65, "{code}");
            ("create", a)
        };
        assert!(
            !has_fragment_of(&answer.text, secret, 6),
            "{what} round {round}: {}",
            answer.text
        );
        for field in ["detail", "providerCode"] {
            let text = answer.body[field].as_str().unwrap_or_default();
            assert!(
                !text.contains('\n') && !text.contains('\r'),
                "{what}: {field} {text:?}"
            );
        }
        let stored = app
            .call(Method::GET, &format!("/credentials/{cred}"), key, None)
            .await;
        let detail = stored.body["credential"]["healthDetail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!has_fragment_of(&detail, secret, 6), "stored: {detail}");
        assert!(
            !detail.contains('\n') && !detail.contains('\r'),
            "{detail:?}"
        );
    }
    assert!(fake.connections.load(Ordering::SeqCst) >= secret.len());
    app.stop().await;
}

#[tokio::test]
async fn answers_are_never_cached_or_sniffed() {
    let app = TestApp::spawn().await;
    let created = app
        .call(
            Method::POST,
            "/admin/tenants",
            Some(ADMIN_TOKEN),
            Some(json!({"name": "a"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let tenant = created.body["tenantId"].as_str().unwrap().to_owned();
    let key = created.body["apiKey"].as_str().unwrap().to_owned();
    let issued = app
        .call(
            Method::POST,
            &format!("/admin/tenants/{tenant}/keys"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED);
    let others = [
        app.call(Method::GET, "/healthz", None, None).await,
        app.call(Method::GET, "/credentials", Some(&key), None)
            .await,
        app.call(Method::GET, "/credentials", None, None).await,
        app.call(Method::GET, "/no/such/route", None, None).await,
    ];
    for a in [&created, &issued].into_iter().chain(others.iter()) {
        assert_eq!(a.headers["x-content-type-options"], "nosniff", "{}", a.text);
        assert_eq!(a.headers["cache-control"], "no-store", "{}", a.text);
    }
    app.stop().await;
}

#[tokio::test]
async fn small_bodies_cannot_buy_unbounded_work() {
    let app = TestApp::spawn().await;
    let t = app.tenant("a").await;
    let key = t.key.as_str();
    let bird = app.credential(&t, "bird").await;
    let karia = app.credential(&t, "karia").await;

    // ~1 MiB of empty addresses: refused at the array, with a small answer, before any work
    let mut body = br#"{"lastName":"X","addresses":["#.to_vec();
    let n = 200_000;
    for i in 0..n {
        body.extend_from_slice(if i == 0 { b"{}" } else { b",{}" });
    }
    body.extend_from_slice(b"]}");
    assert!(body.len() < 1024 * 1024);
    let started = Instant::now();
    let a = app
        .call_raw(
            Method::POST,
            &format!("/crm/contacts?credentialId={bird}"),
            key,
            body,
        )
        .await;
    eprintln!("oversized array refused in {:?}", started.elapsed());
    assert_eq!(
        a.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        &a.text[..200.min(a.text.len())]
    );
    assert_eq!(a.body["errors"][0]["pointer"], "/addresses");
    assert_eq!(a.body["errors"][0]["code"], "too_many_items");
    assert!(a.text.len() < 2048, "answer of {} bytes", a.text.len());

    // each array and remoteFields has its bound, published in the OpenAPI document
    let emails: Vec<Value> = (0..101)
        .map(|i| json!({"emailAddress": format!("p{i}@example.com")}))
        .collect();
    let fields: serde_json::Map<String, Value> =
        (0..201).map(|i| (format!("f{i}"), json!("v"))).collect();
    let a = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={bird}&dryRun=true"),
            Some(key),
            Some(json!({"lastName": "X", "emailAddresses": emails, "remoteFields": fields})),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    let pointers: Vec<&str> = a.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/emailAddresses", "/remoteFields"], "{}", a.text);
    let doc = app.call(Method::GET, "/openapi.json", None, None).await;
    let input = &doc.body["components"]["schemas"]["ContactInput"]["properties"];
    for array in ["addresses", "emailAddresses", "phoneNumbers"] {
        assert_eq!(input[array]["maxItems"], 100, "{array}: {}", input[array]);
    }

    // arrays that cost one provider call per item are bounded by the provider's declaration,
    // and refused (never dropped) past it, before any call
    app.sim(Method::POST, "karia", "/reset", None).await;
    let addresses: Vec<Value> = (0..11)
        .map(|i| json!({"street1": format!("{i} Example Street"), "city": "Sydney"}))
        .collect();
    let a = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={karia}"),
            Some(key),
            Some(json!({"lastName": "X", "addresses": addresses})),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert_eq!(a.body["errors"][0]["pointer"], "/addresses/10");
    assert_eq!(a.body["errors"][0]["code"], "too_many_items");
    let stats = app.sim(Method::GET, "karia", "/stats", None).await;
    assert_eq!(stats.body["contacts"], 0, "{}", stats.text);
    let schema = app
        .call(
            Method::GET,
            &format!("/crm/contacts/schema?credentialId={bird}&operation=update"),
            Some(key),
            None,
        )
        .await;
    assert!(schema.text.contains("\"maxItems\":10"), "{}", schema.text);
    app.stop().await;
}

#[tokio::test]
async fn the_origin_rule_holds_on_postgres_too() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let app = TestApp::spawn_on(db).await;
    let t = app.tenant("a").await;
    let cred = app.credential(&t, "karia").await;
    let attacker = Listener::start(|_| (200, "{}".to_owned())).await;
    let r = app
        .call(
            Method::PATCH,
            &format!("/credentials/{cred}?verify=true"),
            Some(&t.key),
            Some(json!({"settings": {"baseUrl": attacker.url}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(attacker.connections.load(Ordering::SeqCst), 0);
    app.stop().await;
}

async fn run_until_ended(app: &TestApp, key: &str, cred: &str, run: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let a = app
            .call(
                Method::GET,
                &format!("/credentials/{cred}/reconciliations/{run}"),
                Some(key),
                None,
            )
            .await;
        if matches!(
            a.body["run"]["status"].as_str(),
            Some("succeeded" | "failed" | "held")
        ) {
            return a.body["run"].clone();
        }
        assert!(Instant::now() < deadline, "never ended: {}", a.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start_run(app: &TestApp, key: &str, cred: &str) -> String {
    let a = app
        .call(
            Method::POST,
            &format!("/credentials/{cred}/reconciliations"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    a.body["run"]["id"].as_str().unwrap().to_owned()
}

/// One run slot, two tenants: a long listing gives its slot back after each slice of pages
/// (and resumes where it stopped), so the other tenant's run, asked for later, ends first.
#[tokio::test]
async fn a_long_pass_yields_its_slot_to_another_tenant_and_resumes() {
    let app = TestApp::spawn_with(TestDb::sqlite(), |s| {
        s.reconcile.max_concurrent_runs = 1;
        s.reconcile.max_pages_per_slice = 1;
        s.reconcile.max_pages_per_second = 0.0;
    })
    .await;
    let (a, b) = (app.tenant("a").await, app.tenant("b").await);
    let long = app.credential(&a, "bird").await;
    let short = app.credential(&b, "iclosed").await;
    let seeded = app
        .sim(Method::POST, "bird", "/seed", Some(json!({"count": 250})))
        .await;
    assert!(seeded.status.is_success(), "{}", seeded.text);
    // Each Bird page takes a while, so the long run is mid-listing when the other is asked for.
    app.sim(
        Method::POST,
        "bird",
        "/faults",
        Some(json!({"latencyMs": 400, "routes": ["GET /workspaces/{ws}/contacts"]})),
    )
    .await;
    let long_run = start_run(&app, &a.key, &long).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = app
            .call(
                Method::GET,
                &format!("/credentials/{long}/reconciliations/{long_run}"),
                Some(&a.key),
                None,
            )
            .await;
        if r.body["run"]["status"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "never started: {}", r.text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let short_run = start_run(&app, &b.key, &short).await;
    let short_end = run_until_ended(&app, &b.key, &short, &short_run).await;
    let long_end = run_until_ended(&app, &a.key, &long, &long_run).await;
    assert_eq!(short_end["status"], "succeeded", "{short_end}");
    assert_eq!(long_end["status"], "succeeded", "{long_end}");
    assert!(
        short_end["finishedAt"].as_str().unwrap() < long_end["finishedAt"].as_str().unwrap(),
        "the later, shorter run got the slot between slices: {short_end} {long_end}"
    );
    // 250 contacts at Bird's 100 per page: three pages over three slices, none twice
    assert_eq!(long_end["pagesFetched"], 3, "{long_end}");
    assert_eq!(long_end["contactsSeen"], 250, "{long_end}");
    app.stop().await;
}

/// Each tenant's feed counts on its own: another tenant's writes leave no gaps in the
/// sequences a tenant sees, so `nextAfter` reveals nothing of their volume.
#[tokio::test]
async fn event_sequences_are_per_tenant() {
    for db in [Some(TestDb::sqlite()), TestDb::postgres().await] {
        let Some(db) = db else { continue };
        let app = TestApp::spawn_on(db).await;
        let (a, b) = (app.tenant("a").await, app.tenant("b").await);
        let (ca, cb) = (
            app.credential(&a, "bird").await,
            app.credential(&b, "bird").await,
        );
        for round in 0..3 {
            for i in 0..5 {
                let made = app
                    .call(
                        Method::POST,
                        &format!("/crm/contacts?credentialId={ca}"),
                        Some(&a.key),
                        Some(json!({"lastName": format!("A{round}{i}")})),
                    )
                    .await;
                assert_eq!(made.status, StatusCode::OK, "{}", made.text);
            }
            let made = app
                .call(
                    Method::POST,
                    &format!("/crm/contacts?credentialId={cb}"),
                    Some(&b.key),
                    Some(json!({"lastName": format!("B{round}")})),
                )
                .await;
            assert_eq!(made.status, StatusCode::OK, "{}", made.text);
        }
        for (key, expected) in [(&b.key, 3), (&a.key, 15)] {
            let feed = app.call(Method::GET, "/events", Some(key), None).await;
            let seqs: Vec<i64> = feed.body["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["sequence"].as_i64().unwrap())
                .collect();
            assert_eq!(seqs, (1..=expected).collect::<Vec<i64>>(), "{}", feed.text);
            assert_eq!(feed.body["nextAfter"], expected, "{}", feed.text);
        }
        let next = app
            .call(Method::GET, "/events?after=2", Some(&b.key), None)
            .await;
        assert_eq!(
            next.body["events"].as_array().unwrap().len(),
            1,
            "{}",
            next.text
        );
        // Deleting the credential that holds a tenant's newest events never lets a number be
        // handed out again: a poller at nextAfter sees what comes next.
        let gone = app
            .call(
                Method::DELETE,
                &format!("/credentials/{cb}"),
                Some(&b.key),
                None,
            )
            .await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
        let cb2 = app.credential(&b, "bird").await;
        let made = app
            .call(
                Method::POST,
                &format!("/crm/contacts?credentialId={cb2}"),
                Some(&b.key),
                Some(json!({"lastName": "After"})),
            )
            .await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.text);
        let after = app
            .call(Method::GET, "/events?after=3", Some(&b.key), None)
            .await;
        let seqs: Vec<i64> = after.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["sequence"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, [4], "{}", after.text);
        app.stop().await;
    }
}

/// A provider answer larger than what the call asked for is refused as unreadable without
/// reading it whole: one contact's call reads at most 1 MiB.
#[tokio::test]
async fn provider_answers_are_read_in_proportion_to_what_was_asked() {
    let app = TestApp::spawn().await;
    let t = app.tenant("a").await;
    let huge = format!(
        "{{\"id\":\"x\",\"pad\":\"{}\"}}",
        "y".repeat(2 * 1024 * 1024)
    );
    let fake = Listener::start(move |_| (201, huge.clone())).await;
    let created = app
        .call(
            Method::POST,
            "/credentials",
            Some(&t.key),
            Some(json!({"provider": "bird", "name": "big", "secret": "k-0123456789",
                "settings": {"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001", "baseUrl": fake.url}})),
        )
        .await;
    let cred = created.body["credential"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            Some(&t.key),
            Some(json!({"lastName": "X"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_GATEWAY, "{}", a.text);
    assert_eq!(a.body["code"], "provider_unreadable", "{}", a.text);
    assert!(a.text.contains("1048576 bytes"), "{}", a.text);
    app.stop().await;
}

/// `GET /metrics` on its own listener: requests by route template, provider calls by provider,
/// operation and outcome, the pool gauge; no id, key or contact value in any label.
#[tokio::test]
async fn metrics_are_served_apart_with_bounded_labels() {
    let app = TestApp::spawn().await;
    let t = app.tenant("a").await;
    let cred = app.credential(&t, "bird").await;
    let made = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            Some(&t.key),
            Some(json!({"lastName": "Metric", "emailAddresses": [{"emailAddress": "m@example.com"}]})),
        )
        .await;
    let id = made.body["contact"]["id"].as_str().unwrap().to_owned();
    app.call(
        Method::GET,
        &format!("/crm/contacts/{id}?credentialId={cred}"),
        Some(&t.key),
        None,
    )
    .await;
    let not_here = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(
        not_here.status,
        StatusCode::NOT_FOUND,
        "never on the API port"
    );
    let url = app.metrics.clone().expect("metrics on");
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = app
            .http
            .get(&url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("provider_calls_total") && text.contains("db_pool_connections") {
            break text;
        }
        assert!(Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        text.contains(
            r#"http_requests_total{route="/crm/contacts/{id}",method="GET",status="200"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"provider_calls_total{provider="bird",operation="create",outcome="ok"}"#),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    for secret in [
        id.as_str(),
        cred.as_str(),
        t.key.as_str(),
        "m@example.com",
        "bird-sandbox-key",
        t.id.as_str(),
    ] {
        assert!(!text.contains(secret), "{secret} in metrics");
    }
    app.stop().await;
}
