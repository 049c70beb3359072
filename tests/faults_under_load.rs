//! End to end: the simulators' fault plans (`_sim/faults`) under concurrent client load, on all
//! three providers. Well-behaved clients (one `Idempotency-Key` per write, retrying the same
//! request after the advised delay when the answer says `retryable`) create, read, update and
//! list contacts while 5xx bursts, reads slower than the provider timeout, malformed 200s, 429s
//! (with and without `Retry-After`) or 20% random 503s hit the provider. Every answer must be a
//! 2xx or a documented problem, nothing may panic, each key that succeeded made exactly one
//! remote contact (and a failed one none), and the provider saw no more calls than the retry
//! policy and the per-credential rate budget allow.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

use gateway_testkit::{TestApp, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

// ------------------------------------------------------------------------------------------
// Configuration of the runs
// ------------------------------------------------------------------------------------------

/// A small budget so the rate check means something: a run makes a few hundred provider
/// calls, far more than the burst, so the bucket has to pace them.
const RATE_PER_SECOND: f64 = 40.0;
const BURST: u32 = 10;
/// Short enough that a breaker opened by a burst costs the run about a second, not 30.
const OPEN_DURATION: Duration = Duration::from_secs(1);
/// A client gives up after this many tries of one request.
const MAX_CLIENT_ATTEMPTS: u32 = 15;
/// A client never sleeps longer than this between tries, whatever `Retry-After` says.
const MAX_CLIENT_WAIT: Duration = Duration::from_secs(3);
/// No answer within this is a hang, reported as a violation.
const REQUEST_DEADLINE: Duration = Duration::from_secs(15);
/// The whole load phase of one test: a hang detector, so generous (a loaded CI machine is slow).
const LOAD_DEADLINE: Duration = Duration::from_secs(120);

/// The codes the gateway documents (crates/gateway-api/src/error.rs, docs/operations.md) with
/// the status each is answered with. `internal_error` is documented but always a bug here.
const DOCUMENTED: &[(&str, &[u16])] = &[
    ("bad_request", &[400]),
    ("unauthorized", &[401]),
    ("not_found", &[404]),
    ("method_not_allowed", &[405]),
    ("payload_too_large", &[413]),
    ("validation_failed", &[422]),
    ("credential_rejected", &[422, 502]),
    ("credential_misconfigured", &[502]),
    ("remote_deleted", &[404]),
    ("idempotency_key_reused", &[422]),
    ("idempotency_in_progress", &[409]),
    ("rate_limited", &[429]),
    ("credential_busy", &[503]),
    ("not_ready", &[503]),
    ("internal_error", &[500]),
    ("provider_rejected_input", &[422]),
    ("provider_conflict", &[422]),
    ("provider_rate_limited", &[429]),
    ("provider_unavailable", &[502]),
    ("provider_unreadable", &[502]),
    ("provider_timeout", &[504]),
    ("provider_circuit_open", &[503]),
    ("not_supported_by_provider", &[501]),
];

/// The documented problems a provider fault or the gateway's own protections may cause. Any
/// other code (a 404 for a contact the client just created, a reused key…) is a bug.
const FAULT_CODES: &[&str] = &[
    "provider_unavailable",
    "provider_unreadable",
    "provider_timeout",
    "provider_rate_limited",
    "provider_circuit_open",
    "credential_busy",
    "rate_limited",
    "idempotency_in_progress",
];

/// Provider route templates as the simulators count them in `_sim/stats`.
#[derive(Clone, Copy)]
struct Routes {
    create: &'static str,
    list: &'static str,
    one: &'static str,
    update: &'static str,
    /// A route any value matches, to call the simulator directly before auth.
    create_path: &'static str,
}

fn routes(provider: &str) -> Routes {
    match provider {
        "bird" => Routes {
            create: "POST /workspaces/{workspaceId}/contacts",
            list: "GET /workspaces/{workspaceId}/contacts",
            one: "GET /workspaces/{workspaceId}/contacts/{contactId}",
            update: "PATCH /workspaces/{workspaceId}/contacts/{contactId}",
            create_path: "/workspaces/ws/contacts",
        },
        "karia" => Routes {
            create: "POST /organisation/{orgId}/workspace/{workspaceId}/contact",
            list: "GET /organisation/{orgId}/workspace/{workspaceId}/contact",
            one: "GET /organisation/{orgId}/workspace/{workspaceId}/contact/{contactId}",
            update: "PATCH /organisation/{orgId}/workspace/{workspaceId}/contact/{contactId}",
            create_path: "/organisation/1/workspace/1/contact",
        },
        "iclosed" => Routes {
            create: "POST /v1/contacts",
            list: "GET /v1/contacts",
            one: "GET /v1/contacts/detail",
            update: "PUT /v1/contacts",
            create_path: "/v1/contacts",
        },
        other => panic!("unknown provider {other}"),
    }
}

const KARIA_ADDRESS: &str =
    "POST /organisation/{orgId}/workspace/{workspaceId}/contact/{contactId}/address";

/// The create body of one client contact. Karia's carries an address, so each create is the
/// multi-step write (contact, address, read back) whose retry must not make a second contact.
fn create_body(provider: &str, name: &str) -> Value {
    let mut body = json!({"firstName": name, "lastName": "Load"});
    if provider == "karia" {
        body["addresses"] = json!([{"addressType": "current", "street1": "10 Example Street",
            "city": "Sydney", "state": "NSW", "postalCode": "2000", "country": "Australia"}]);
    }
    body
}

fn update_body() -> Value {
    json!({"lastName": "Loaded"})
}

// ------------------------------------------------------------------------------------------
// Panics anywhere in the process (handlers, detached tasks, the simulators)
// ------------------------------------------------------------------------------------------

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static HOOK: Once = Once::new();

/// The gateway runs in this process, so a panic in any of its tasks passes through the hook;
/// this file's own assertion failures are left out.
fn watch_panics() {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let ours = info
                .location()
                .is_some_and(|l| l.file().ends_with("faults_under_load.rs"));
            if !ours {
                PANICS
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(info.to_string());
            }
            default(info);
        }));
    });
}

fn panics() -> Vec<String> {
    PANICS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

// ------------------------------------------------------------------------------------------
// The harness
// ------------------------------------------------------------------------------------------

struct Harness {
    app: TestApp,
    provider: &'static str,
    routes: Routes,
    key: String,
    cred: String,
    http: reqwest::Client,
    /// `[resilience.<provider>] max_retries` as configured.
    max_retries: u64,
}

/// A gateway and sandbox with the small budget above for `provider`; `request_timeout` shortens
/// the transport's per-call timeout.
async fn harness(provider: &'static str, request_timeout: Option<Duration>) -> Arc<Harness> {
    watch_panics();
    let mut max_retries = None;
    let app = TestApp::spawn_with(TestDb::sqlite(), |s| {
        if let Some(t) = request_timeout {
            s.transport.request_timeout = t;
        }
        let r = match provider {
            "bird" => &mut s.resilience.bird,
            "karia" => &mut s.resilience.karia,
            _ => &mut s.resilience.iclosed,
        };
        r.rate_per_second = Some(RATE_PER_SECOND);
        r.burst = Some(BURST);
        r.open_duration = Some(OPEN_DURATION);
        max_retries = r.max_retries;
    })
    .await;
    let max_retries = u64::from(max_retries.expect("config/default.toml sets max_retries"));
    let tenant = app.tenant("load").await;
    let cred = app.credential(&tenant, provider).await;
    let http = reqwest::Client::builder()
        .timeout(REQUEST_DEADLINE)
        .build()
        .unwrap();
    Arc::new(Harness {
        app,
        provider,
        routes: routes(provider),
        key: tenant.key,
        cred,
        http,
        max_retries,
    })
}

impl Harness {
    async fn fault(&self, rule: Value) {
        let a = self
            .app
            .sim(Method::POST, self.provider, "/faults", Some(rule))
            .await;
        assert!(a.status.is_success(), "{}", a.text);
    }

    async fn clear_faults(&self) {
        let a = self
            .app
            .sim(Method::DELETE, self.provider, "/faults", None)
            .await;
        assert!(a.status.is_success(), "{}", a.text);
    }

    /// (remote contacts, provider calls per route).
    async fn stats(&self) -> (u64, BTreeMap<String, u64>) {
        let a = self
            .app
            .sim(Method::GET, self.provider, "/stats", None)
            .await;
        let requests = a.body["requests"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        (a.body["contacts"].as_u64().unwrap(), requests)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        idem: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.app.api))
            .bearer_auth(&self.key);
        if let Some(k) = idem {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{method} {path}: no answer: {e}"))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp
            .text()
            .await
            .map_err(|e| format!("{method} {path}: body cut off: {e}"))?;
        Ok(Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        })
    }

    fn contacts_path(&self) -> String {
        format!("/crm/contacts?credentialId={}", self.cred)
    }

    fn contact_path(&self, id: &str) -> String {
        format!("/crm/contacts/{id}?credentialId={}", self.cred)
    }
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

/// What a well-behaved client makes of an answer.
enum Verdict {
    Success,
    Problem {
        code: String,
        retryable: bool,
        retry_after: Option<Duration>,
    },
}

/// A 2xx, or a problem exactly as documented; `Err` says what is wrong with it.
fn judge(r: &Reply) -> Result<Verdict, String> {
    if r.status.is_success() {
        return Ok(Verdict::Success);
    }
    let what = format!("{} {}", r.status, r.text);
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct != "application/problem+json" {
        return Err(format!("not problem+json ({ct:?}): {what}"));
    }
    let code = r.body["code"].as_str().ok_or(format!("no code: {what}"))?;
    let statuses = DOCUMENTED
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, s)| *s)
        .ok_or(format!("undocumented code: {what}"))?;
    if !statuses.contains(&r.status.as_u16()) || r.body["status"] != r.status.as_u16() {
        return Err(format!("status does not match the code: {what}"));
    }
    if r.body["type"] != format!("/problems/{code}") {
        return Err(format!("type does not match the code: {what}"));
    }
    if r.body["requestId"].as_str().unwrap_or_default().is_empty() {
        return Err(format!("no requestId: {what}"));
    }
    let retryable = r.body["retryable"]
        .as_bool()
        .ok_or(format!("no retryable: {what}"))?;
    let retry_after = match r.headers.get("retry-after") {
        None => None,
        Some(v) => {
            let secs: u64 = v
                .to_str()
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(format!("Retry-After is not whole seconds: {what}"))?;
            Some(Duration::from_secs(secs))
        }
    };
    // 409, 429 and 503 tell the client when to come back (docs/operations.md).
    if matches!(r.status.as_u16(), 409 | 429 | 503) && retry_after.is_none() {
        return Err(format!("no Retry-After: {what}"));
    }
    if !FAULT_CODES.contains(&code) {
        return Err(format!("documented, but no fault here explains it: {what}"));
    }
    Ok(Verdict::Problem {
        code: code.to_owned(),
        retryable,
        retry_after,
    })
}

// ------------------------------------------------------------------------------------------
// The client model
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Op {
    Create,
    Get,
    Update,
    List,
}

#[derive(Debug)]
struct Created {
    name: String,
    id: String,
    remote_id: String,
}

#[derive(Default)]
struct Tally {
    /// Requests sent to the gateway, per operation (every try counts).
    attempts: HashMap<Op, u64>,
    /// Requests that ended in success, per operation.
    succeeded: HashMap<Op, u64>,
    /// Requests that ended in a problem the client did not (or no longer) retry.
    gave_up: HashMap<Op, u64>,
    created: Vec<Created>,
    /// Every problem code seen, retried or not.
    codes: BTreeMap<String, u64>,
    replays: u64,
    violations: Vec<String>,
}

type Shared = Arc<Mutex<Tally>>;

fn tally(t: &Shared) -> std::sync::MutexGuard<'_, Tally> {
    t.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends one request until it succeeds, fails for good, or runs out of tries; writes carry
/// `idem` on every try. Returns the successful body.
async fn until_done(
    h: &Harness,
    t: &Shared,
    op: Op,
    method: Method,
    path: &str,
    idem: Option<&str>,
    body: Option<&Value>,
) -> Option<Value> {
    for attempt in 1..=MAX_CLIENT_ATTEMPTS {
        *tally(t).attempts.entry(op).or_default() += 1;
        let reply = match h.send(method.clone(), path, idem, body).await {
            Ok(r) => r,
            Err(e) => {
                tally(t).violations.push(e);
                return None;
            }
        };
        match judge(&reply) {
            Err(e) => {
                tally(t)
                    .violations
                    .push(format!("{op:?} {method} {path}: {e}"));
                return None;
            }
            Ok(Verdict::Success) => {
                let mut g = tally(t);
                *g.succeeded.entry(op).or_default() += 1;
                if reply.headers.contains_key("idempotent-replayed") {
                    g.replays += 1;
                }
                return Some(reply.body);
            }
            Ok(Verdict::Problem {
                code,
                retryable,
                retry_after,
            }) => {
                *tally(t).codes.entry(code).or_default() += 1;
                if !retryable || attempt == MAX_CLIENT_ATTEMPTS {
                    break;
                }
                // Retry-After when given, else a short growing pause.
                let wait = retry_after
                    .unwrap_or(Duration::from_millis(100 * u64::from(attempt)))
                    .min(MAX_CLIENT_WAIT);
                tokio::time::sleep(wait).await;
            }
        }
    }
    *tally(t).gave_up.entry(op).or_default() += 1;
    None
}

/// One client: `per_client` contacts, each created with its own key, then read, updated (with
/// its own key) and listed; odd clients list first so reads and writes interleave.
async fn client(h: Arc<Harness>, t: Shared, tag: String, n: usize, per_client: usize) {
    let list = format!("{}&pageSize=10", h.contacts_path());
    let lists_first = n % 2 == 1;
    for j in 0..per_client {
        if lists_first {
            until_done(&h, &t, Op::List, Method::GET, &list, None, None).await;
        }
        let name = format!("c{n:02}n{j}");
        let key = format!("{tag}-create-{name}");
        let body = create_body(h.provider, &name);
        let created = until_done(
            &h,
            &t,
            Op::Create,
            Method::POST,
            &h.contacts_path(),
            Some(&key),
            Some(&body),
        )
        .await;
        let Some(created) = created else { continue };
        let contact = &created["contact"];
        let (Some(id), Some(remote_id)) = (contact["id"].as_str(), contact["remoteId"].as_str())
        else {
            tally(&t)
                .violations
                .push(format!("a create answered 200 without ids: {created}"));
            continue;
        };
        tally(&t).created.push(Created {
            name: name.clone(),
            id: id.to_owned(),
            remote_id: remote_id.to_owned(),
        });
        let one = h.contact_path(id);
        if let Some(got) = until_done(&h, &t, Op::Get, Method::GET, &one, None, None).await {
            if got["contact"]["firstName"] != name.as_str() {
                tally(&t)
                    .violations
                    .push(format!("GET {id} answered another contact: {got}"));
            }
        }
        let key = format!("{tag}-update-{name}");
        until_done(
            &h,
            &t,
            Op::Update,
            Method::PATCH,
            &one,
            Some(&key),
            Some(&update_body()),
        )
        .await;
        if !lists_first {
            until_done(&h, &t, Op::List, Method::GET, &list, None, None).await;
        }
    }
}

/// Provider calls counted at one moment, bracketed by when the question left and the answer
/// came back.
struct Sample {
    sent: Instant,
    received: Instant,
    calls: u64,
}

struct Run {
    tally: Tally,
    /// Provider calls per route during the load phase.
    calls: BTreeMap<String, u64>,
    samples: Vec<Sample>,
}

impl Run {
    fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }

    fn calls(&self, route: &str) -> u64 {
        self.calls.get(route).copied().unwrap_or(0)
    }

    fn attempts(&self, op: Op) -> u64 {
        self.tally.attempts.get(&op).copied().unwrap_or(0)
    }

    fn code(&self, code: &str) -> u64 {
        self.tally.codes.get(code).copied().unwrap_or(0)
    }
}

/// Runs `clients` concurrent clients and samples the provider's call count meanwhile.
async fn load(h: &Arc<Harness>, tag: &str, clients: usize, per_client: usize) -> Run {
    let t: Shared = Arc::default();
    let (_, before) = h.stats().await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let h = h.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let sent = Instant::now();
                let (_, calls) = h.stats().await;
                samples.push(Sample {
                    sent,
                    received: Instant::now(),
                    calls: calls.values().sum(),
                });
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            samples
        })
    };
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for n in 0..clients {
        set.spawn(client(h.clone(), t.clone(), tag.to_owned(), n, per_client));
    }
    let joined = tokio::time::timeout(LOAD_DEADLINE, async {
        while let Some(r) = set.join_next().await {
            if let Err(e) = r {
                tally(&t)
                    .violations
                    .push(format!("client task failed: {e}"));
            }
        }
    })
    .await;
    assert!(
        joined.is_ok(),
        "the load phase hung: not finished after {LOAD_DEADLINE:?}"
    );
    let ended = Instant::now();
    let (_, after) = h.stats().await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut samples = sampler.await.unwrap();
    samples.insert(
        0,
        Sample {
            sent: started,
            received: started,
            calls: before.values().sum(),
        },
    );
    samples.push(Sample {
        sent: ended,
        received: Instant::now(),
        calls: after.values().sum(),
    });
    let calls = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    let tally = std::mem::take(&mut *tally(&t));
    let run = Run {
        tally,
        calls,
        samples,
    };
    eprintln!(
        "{} {tag}: {:?} in {:?}; attempts {:?}; codes {:?}; replays {}; provider calls {:?}",
        h.provider,
        run.tally.succeeded,
        ended - started,
        run.tally.attempts,
        run.tally.codes,
        run.tally.replays,
        run.calls
    );
    run
}

// ------------------------------------------------------------------------------------------
// The checks every scenario ends with
// ------------------------------------------------------------------------------------------

/// How many provider calls one try of `op` may make, from the gateway's own dry-run plan (the
/// same plan the rate budget charges): a Karia create is several calls.
async fn planned_calls(h: &Harness, op: Op, some_id: &str, name: &str) -> u64 {
    let (method, path, body) = match op {
        Op::Create => (
            Method::POST,
            h.contacts_path(),
            create_body(h.provider, name),
        ),
        Op::Update => (Method::PATCH, h.contact_path(some_id), update_body()),
        Op::Get | Op::List => return 1,
    };
    let r = h
        .send(method, &format!("{path}&dryRun=true"), None, Some(&body))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["requests"].as_array().unwrap().len() as u64
}

/// No violation and no panic; each successful key made exactly one remote contact and a failed
/// one none; the gateway lists each remote contact once; the provider saw no more calls than
/// the retry policy and the rate budget allow. `all_succeed`: the faults were transient, so
/// every request of a well-behaved client must have ended in success. `extra`: names of
/// contacts the scenario created itself before the load, each also expected exactly once.
async fn verify(h: &Harness, run: &Run, all_succeed: bool, extra: &[&str]) {
    let t = &run.tally;
    assert!(
        t.violations.is_empty(),
        "{} answers broke the contract, e.g. {:#?}",
        t.violations.len(),
        &t.violations[..t.violations.len().min(5)]
    );
    assert!(panics().is_empty(), "panicked: {:#?}", panics());
    if all_succeed {
        assert!(
            t.gave_up.is_empty(),
            "transient faults, yet requests failed for good: {:?} (codes {:?})",
            t.gave_up,
            t.codes
        );
    }
    assert!(!t.created.is_empty(), "no contact was created at all");

    h.clear_faults().await;
    let health = h.app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.text);

    // Exactly one remote contact per successful key; a key that failed made none (a faulted
    // call never reaches the simulator's handler).
    let names: HashSet<&str> = t.created.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), t.created.len(), "a name succeeded twice");
    let expected = t.created.len() + extra.len();
    let (remote_contacts, _) = h.stats().await;
    assert_eq!(
        remote_contacts, expected as u64,
        "remote contacts vs keys that ended in success"
    );
    for c in &t.created {
        let raw = h
            .app
            .sim(
                Method::GET,
                h.provider,
                &format!("/contacts/{}", c.remote_id),
                None,
            )
            .await;
        assert_eq!(raw.status, StatusCode::OK, "{c:?}: {}", raw.text);
    }

    // The gateway's listing (live from the provider, through the index) has each once.
    let mut listed: Vec<(String, String, String)> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("{}&pageSize=25", h.contacts_path());
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = h.send(Method::GET, &path, None, None).await.unwrap();
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        for c in page.body["contacts"].as_array().unwrap() {
            listed.push((
                c["firstName"].as_str().unwrap_or_default().to_owned(),
                c["id"].as_str().unwrap().to_owned(),
                c["remoteId"].as_str().unwrap().to_owned(),
            ));
        }
        cursor = page.body["pageInfo"]["nextCursor"]
            .as_str()
            .map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert!(cursor.is_none(), "the listing did not end");
    let mut by_name: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (name, id, remote) in &listed {
        by_name.entry(name).or_default().push((id, remote));
    }
    assert_eq!(listed.len(), expected, "listed: {by_name:?}");
    for name in extra {
        assert_eq!(by_name.get(name).map(Vec::len), Some(1), "{name}");
    }
    for c in &t.created {
        assert_eq!(
            by_name.get(c.name.as_str()).map(Vec::as_slice),
            Some(&[(c.id.as_str(), c.remote_id.as_str())][..]),
            "{} is not listed exactly once, under the id its create answered",
            c.name
        );
    }

    // Call counts within the retry policy: each try of an operation makes at most its planned
    // calls, and each of those is retried at most max_retries times.
    let tries = 1 + h.max_retries;
    let some = &t.created[0];
    let mut budget = 0;
    for op in [Op::Create, Op::Get, Op::Update, Op::List] {
        budget += run.attempts(op) * planned_calls(h, op, &some.id, "plan").await * tries;
    }
    assert!(
        run.total_calls() <= budget,
        "{} provider calls, more than the retry policy allows ({budget}): {:?}",
        run.total_calls(),
        run.calls
    );
    let creates = run.calls(h.routes.create);
    assert!(
        creates <= run.attempts(Op::Create) * tries,
        "{creates} create calls for {} client tries",
        run.attempts(Op::Create)
    );

    // And within the credential's rate budget over every stretch of the run: at most the burst
    // plus the refill, with a little slack for calls granted just before a sample.
    for (i, a) in run.samples.iter().enumerate() {
        for b in &run.samples[i + 1..] {
            let secs = b.received.duration_since(a.sent).as_secs_f64() + 0.05;
            let allowed = f64::from(BURST) + RATE_PER_SECOND * secs + 1.0;
            let made = b.calls.saturating_sub(a.calls) as f64;
            assert!(
                made <= allowed,
                "{made} provider calls in {secs:.2}s, over the budget of {allowed:.1} ({RATE_PER_SECOND}/s, burst {BURST})"
            );
        }
    }
}

async fn stop(h: Arc<Harness>) {
    if let Ok(h) = Arc::try_unwrap(h) {
        h.app.stop().await;
    }
}

// ------------------------------------------------------------------------------------------
// Scenarios
// ------------------------------------------------------------------------------------------

/// 503s on creates and 502s on lists, more than a breaker's worth: creates are not retried by
/// the gateway (502, retryable), reads are; the breaker opens and answers 503 with
/// Retry-After; clients retry with their keys and every contact ends up created once.
async fn five_xx_burst(provider: &'static str) {
    let h = harness(provider, None).await;
    let r = h.routes;
    h.fault(json!({"status": 503, "count": 6, "routes": [r.create]}))
        .await;
    h.fault(json!({"status": 502, "count": 6, "routes": [r.list]}))
        .await;
    if provider == "karia" {
        // Address steps fail too: the create still answers 200 (complete: false).
        h.fault(json!({"status": 503, "count": 4, "routes": [KARIA_ADDRESS]}))
            .await;
    }
    let run = load(&h, "burst", 16, 2).await;
    assert!(
        run.code("provider_unavailable") >= 1,
        "the burst reached no client: {:?}",
        run.tally.codes
    );
    assert!(run.calls(r.create) > run.tally.created.len() as u64);
    verify(&h, &run, true, &[]).await;
    stop(h).await;
}

/// Reads slower than the provider timeout: one read alone shows the answer (504
/// `provider_timeout`, retryable, after 1 + max_retries tries); then concurrent clients read
/// through a few more slow answers. Writes get no latency: a timed-out write is the
/// unknown-outcome case, out of scope here.
async fn latency_above_timeout(provider: &'static str) {
    let h = harness(provider, Some(Duration::from_millis(800))).await;
    let r = h.routes;
    let created = h
        .send(
            Method::POST,
            &h.contacts_path(),
            Some("latency-probe"),
            Some(&create_body(provider, "probe")),
        )
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let id = created.body["contact"]["id"].as_str().unwrap().to_owned();
    let tries = 1 + h.max_retries;
    let (_, before) = h.stats().await;
    h.fault(json!({"latencyMs": 1500, "count": tries, "routes": [r.one]}))
        .await;
    let slow = h
        .send(Method::GET, &h.contact_path(&id), None, None)
        .await
        .unwrap();
    assert_eq!(slow.status, StatusCode::GATEWAY_TIMEOUT, "{}", slow.text);
    assert!(
        matches!(judge(&slow), Ok(Verdict::Problem { ref code, retryable: true, .. }) if code == "provider_timeout"),
        "{}",
        slow.text
    );
    let (_, after) = h.stats().await;
    assert_eq!(
        after[r.one] - before.get(r.one).copied().unwrap_or(0),
        tries
    );
    h.clear_faults().await;
    // The provider is back: the next read succeeds (the timeouts stayed under the breaker's
    // threshold of 5, so it did not open).
    let again = h
        .send(Method::GET, &h.contact_path(&id), None, None)
        .await
        .unwrap();
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);

    h.fault(json!({"latencyMs": 1500, "count": 6, "routes": [r.one, r.list]}))
        .await;
    let run = load(&h, "latency", 12, 2).await;
    verify(&h, &run, true, &["probe"]).await;
    stop(h).await;
}

/// Unparseable 200s on every contact route: the gateway answers 502 `provider_unreadable`,
/// not retryable (a client stops), never a 500; a create that got one made no contact.
async fn malformed_bodies(provider: &'static str) {
    let h = harness(provider, None).await;
    let r = h.routes;
    h.fault(json!({"malformed": true, "count": 4, "routes": [r.create]}))
        .await;
    h.fault(json!({"malformed": true, "count": 3, "routes": [r.one, r.list, r.update]}))
        .await;
    if provider == "karia" {
        h.fault(json!({"malformed": true, "count": 2, "routes": [KARIA_ADDRESS]}))
            .await;
    }
    let run = load(&h, "malformed", 16, 2).await;
    assert!(
        run.code("provider_unreadable") >= 1,
        "no malformed answer reached a client: {:?}",
        run.tally.codes
    );
    assert!(
        run.tally.gave_up.get(&Op::Create).copied().unwrap_or(0) >= 1,
        "a malformed create answer is final for the client"
    );
    verify(&h, &run, false, &[]).await;
    stop(h).await;
}

/// 429s. Each simulator sends its provider's documented shape: Bird and Karia without
/// `Retry-After` (the gateway backs off on its own), iClosed with the header and a body
/// `retryAfter` (the gateway waits at least that). First one create alone meets 429s on every
/// try and gets 429 `provider_rate_limited` with a Retry-After; its retry with the key creates
/// the contact once. Then concurrent clients run under the simulator's per-second rate limit.
async fn rate_limited(provider: &'static str) {
    let h = harness(provider, None).await;
    let r = h.routes;

    // The shape of the simulator's 429, seen directly (faults act before auth).
    h.fault(json!({"status": 429, "count": 1, "routes": [r.create]}))
        .await;
    let direct = h
        .http
        .post(format!(
            "{}{}",
            h.app.provider_base(provider),
            r.create_path
        ))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::TOO_MANY_REQUESTS);
    let has_retry_after = direct.headers().contains_key("retry-after");
    assert_eq!(
        has_retry_after,
        provider == "iclosed",
        "{provider}: Retry-After on a 429"
    );

    let tries = 1 + h.max_retries;
    let (_, before) = h.stats().await;
    h.fault(json!({"status": 429, "count": tries, "routes": [r.create]}))
        .await;
    let body = create_body(provider, "limited");
    let path = h.contacts_path();
    let limited = h
        .send(Method::POST, &path, Some("limited-1"), Some(&body))
        .await
        .unwrap();
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    assert!(
        matches!(judge(&limited), Ok(Verdict::Problem { ref code, retryable: true, retry_after: Some(_) }) if code == "provider_rate_limited"),
        "{}",
        limited.text
    );
    let (contacts, after) = h.stats().await;
    assert_eq!(
        after[r.create] - before.get(r.create).copied().unwrap_or(0),
        tries
    );
    assert_eq!(contacts, 0, "a refused create made no contact");
    let retried = h
        .send(Method::POST, &path, Some("limited-1"), Some(&body))
        .await
        .unwrap();
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(h.stats().await.0, 1);
    h.fault(json!({"rateLimit": {"perSecond": 8}})).await;
    let run = load(&h, "ratelimit", 12, 2).await;
    assert!(
        run.calls(r.create) > run.tally.created.len() as u64
            || run.calls(r.one) > run.tally.succeeded.get(&Op::Get).copied().unwrap_or(0),
        "the simulator's rate limit refused nothing"
    );
    verify(&h, &run, true, &["limited"]).await;
    stop(h).await;
}

/// 20% of all provider calls fail with 503 (seeded), under 24 concurrent clients mixing
/// creates, gets, updates and lists.
async fn random_failures(provider: &'static str) {
    let h = harness(provider, None).await;
    h.fault(json!({"probability": 0.2, "status": 503, "seed": 5}))
        .await;
    let run = load(&h, "random", 24, 2).await;
    assert!(
        run.code("provider_unavailable") >= 1,
        "no failure reached a client: {:?}",
        run.tally.codes
    );
    verify(&h, &run, true, &[]).await;
    stop(h).await;
}

macro_rules! on_every_provider {
    ($($scenario:ident),* $(,)?) => {
        $(mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bird() { super::$scenario("bird").await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn karia() { super::$scenario("karia").await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn iclosed() { super::$scenario("iclosed").await }
        })*
    };
}

on_every_provider!(
    five_xx_burst,
    latency_above_timeout,
    malformed_bodies,
    rate_limited,
    random_failures,
);

/// A client that hangs up while its read is the breaker's probe: the gateway drops the
/// handler, and with it the probe. The breaker must not stay half-open (every later call of
/// the credential refused with 503 `provider_circuit_open`, for good): once the provider is
/// back, the next read goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hanging_up_on_the_probe_does_not_wedge_the_breaker() {
    let h = harness("bird", None).await;
    let r = h.routes;
    let created = h
        .send(
            Method::POST,
            &h.contacts_path(),
            None,
            Some(&create_body("bird", "probe")),
        )
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let one = h.contact_path(created.body["contact"]["id"].as_str().unwrap());

    // Open the breaker: reads fail until it does, and it must (else there is no probe).
    h.fault(json!({"status": 503, "routes": [r.one]})).await;
    let mut opened = false;
    for _ in 0..20 {
        let a = h.send(Method::GET, &one, None, None).await.unwrap();
        if a.body["code"] == "provider_circuit_open" {
            opened = true;
            break;
        }
    }
    assert!(opened, "the breaker never opened, so no probe was tested");
    h.clear_faults().await;
    tokio::time::sleep(OPEN_DURATION + Duration::from_millis(100)).await;

    // The probe is slow and its client gives up on it.
    h.fault(json!({"latencyMs": 3000, "count": 1, "routes": [r.one]}))
        .await;
    let hung_up = h
        .http
        .get(format!("{}{one}", h.app.api))
        .bearer_auth(&h.key)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(hung_up.is_err(), "the client gave up on the probe");

    // The abandoned probe still runs to its end (requests are not cancelled by a hang-up) and
    // closes the breaker; a wedged breaker would never let a read through again.
    // Waits for the state (a read that goes through) with a generous deadline rather than a
    // fixed number of tries, which a loaded machine could exhaust.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = h.send(Method::GET, &one, None, None).await.unwrap();
        if a.status == StatusCode::OK {
            break;
        }
        assert_eq!(a.body["code"], "provider_circuit_open", "{}", a.text);
        assert!(
            Instant::now() < deadline,
            "the breaker stayed open: {}",
            a.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop(h).await;
}
