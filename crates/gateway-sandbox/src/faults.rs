//! The fault plan shared by every simulator (`POST {base}/_sim/faults`): fail the next N calls
//! with a status, add latency, fail at random, answer an unparseable 200, rate-limit per route
//! and key; hide contacts from listings while direct reads still find them; restrict any rule
//! to one kind of call (`operation`); plus the middleware that counts provider calls and applies the plan before the
//! provider's own handler runs.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::control::Simulator;
use crate::state::lock;

/// Longest latency a fault may add; keeps a typo from hanging a test run for hours.
const MAX_LATENCY_MS: u64 = 120_000;

/// Body of `POST {base}/_sim/faults`. Every field is optional; one request may carry several
/// kinds (each becomes its own rule sharing `count` and `routes`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FaultRequest {
    /// HTTP status to fail with (400–599); with `probability`, the status of random failures.
    status: Option<u16>,
    /// How many calls (matching `routes`) the rule applies to; absent = until cleared.
    count: Option<u64>,
    latency_ms: Option<u64>,
    probability: Option<f64>,
    malformed: Option<bool>,
    rate_limit: Option<RateLimitRequest>,
    /// Restrict the rules to these routes: `"GET /workspaces/{ws}/contacts"`, or a path alone
    /// for every method. `{…}` segments match any value.
    routes: Option<Vec<String>>,
    /// Reseeds the random source used by `probability`, for reproducible failure sequences.
    seed: Option<u64>,
    /// Run the provider's own handler first (a write lands), then delay or fail the answer:
    /// a write whose answer is lost on the way back.
    applied: Option<bool>,
    /// Remote ids that listings omit while direct reads still answer them: a provider whose
    /// search index lags or is partial. Kept until the faults are cleared.
    hide_from_listing: Option<Vec<String>>,
    /// Restrict the rules to one kind of provider call.
    operation: Option<Operation>,
}

/// The kind of a provider call, as `"operation"` names it. Each simulator classifies its own
/// routes ([`crate::control::Simulator::operation`]); a call it does not classify (Karia's
/// organisation routes, say) never matches a rule restricted to an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Operation {
    Get,
    List,
    Create,
    Update,
    Delete,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::List => "list",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RateLimitRequest {
    per_second: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
enum FaultKind {
    Status(u16),
    Latency(u64),
    Probability { p: f64, status: u16 },
    Malformed,
}

#[derive(Debug, Clone)]
struct RoutePattern {
    method: Option<String>,
    segments: Vec<String>,
    raw: String,
}

impl RoutePattern {
    fn parse(raw: &str, prefix: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let (method, path) = match trimmed.split_once(' ') {
            Some((m, p)) => (Some(m.trim().to_ascii_uppercase()), p.trim()),
            None => (None, trimmed),
        };
        if !path.starts_with('/') {
            return Err(format!(
                "route {raw:?} must be \"METHOD /path\" or \"/path\""
            ));
        }
        // Accept patterns written with the provider prefix too ("/bird/workspaces/...").
        let path = path
            .strip_prefix(prefix)
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(path);
        Ok(Self {
            method,
            segments: split_path(path),
            raw: trimmed.to_owned(),
        })
    }

    fn matches(&self, method: &Method, template: &[String]) -> bool {
        if let Some(m) = &self.method {
            if m != method.as_str() {
                return false;
            }
        }
        self.segments.len() == template.len()
            && self
                .segments
                .iter()
                .zip(template)
                .all(|(a, b)| a == b || is_placeholder(a) || is_placeholder(b))
    }
}

fn split_path(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn is_placeholder(seg: &str) -> bool {
    seg.starts_with('{') && seg.ends_with('}')
}

#[derive(Debug, Clone)]
struct FaultRule {
    kind: FaultKind,
    remaining: Option<u64>,
    routes: Option<Vec<RoutePattern>>,
    applied: bool,
    operation: Option<Operation>,
}

impl FaultRule {
    fn applies(&self, method: &Method, template: &[String], op: Option<Operation>) -> bool {
        self.remaining != Some(0)
            && self.operation.map_or(true, |want| op == Some(want))
            && self
                .routes
                .as_ref()
                .map_or(true, |rs| rs.iter().any(|r| r.matches(method, template)))
    }

    fn consume(&mut self) {
        if let Some(n) = self.remaining.as_mut() {
            *n = n.saturating_sub(1);
        }
    }

    fn to_json(&self) -> Value {
        let mut v = match &self.kind {
            FaultKind::Status(s) => json!({"status": s}),
            FaultKind::Latency(ms) => json!({"latencyMs": ms}),
            FaultKind::Probability { p, status } => json!({"probability": p, "status": status}),
            FaultKind::Malformed => json!({"malformed": true}),
        };
        if let Some(obj) = v.as_object_mut() {
            if let Some(n) = self.remaining {
                obj.insert("remaining".into(), json!(n));
            }
            if self.applied {
                obj.insert("applied".into(), json!(true));
            }
            if let Some(op) = self.operation {
                obj.insert("operation".into(), json!(op.as_str()));
            }
            if let Some(rs) = &self.routes {
                obj.insert(
                    "routes".into(),
                    json!(rs.iter().map(|r| r.raw.clone()).collect::<Vec<_>>()),
                );
            }
        }
        v
    }
}

/// What the plan decided for one provider call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Pass,
    Fail(StatusCode),
    Malformed,
    RateLimited,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) latency_ms: u64,
    pub(crate) outcome: Outcome,
    /// The provider's handler runs before the delay and the fault (see `applied`).
    pub(crate) applied: bool,
}

/// The active faults of one simulator.
pub(crate) struct FaultPlan {
    rules: Vec<FaultRule>,
    /// `Some(None)`: the provider's default limits; `Some(Some(n))`: n per second everywhere.
    rate_limit: Option<Option<u32>>,
    /// (route key, key hash) → (window second, calls admitted in it).
    windows: HashMap<(String, u64), (i64, u32)>,
    rng: StdRng,
    seed: Option<u64>,
    /// Remote ids listings omit (`hideFromListing`).
    hidden: BTreeSet<String>,
}

impl FaultPlan {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        Self {
            hidden: BTreeSet::new(),
            rules: Vec::new(),
            rate_limit: None,
            windows: HashMap::new(),
            rng: make_rng(seed),
            seed,
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::new(self.seed);
    }

    /// Adds the rules of one request; nothing is added when any part is invalid.
    pub(crate) fn add(&mut self, req: FaultRequest, prefix: &str) -> Result<(), String> {
        if req.count == Some(0) {
            return Err("count must be at least 1".into());
        }
        if let Some(s) = req.status {
            if !(400..=599).contains(&s) {
                return Err(format!("status must be 400 to 599, got {s}"));
            }
        }
        let routes = match &req.routes {
            None => None,
            Some(rs) if rs.is_empty() => return Err("routes must not be empty".into()),
            Some(rs) => Some(
                rs.iter()
                    .map(|r| RoutePattern::parse(r, prefix))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let mut kinds = Vec::new();
        if let Some(ms) = req.latency_ms {
            if ms > MAX_LATENCY_MS {
                return Err(format!("latencyMs must be at most {MAX_LATENCY_MS}"));
            }
            kinds.push(FaultKind::Latency(ms));
        }
        match (req.probability, req.status) {
            (Some(p), status) => {
                if !(0.0..=1.0).contains(&p) {
                    return Err(format!("probability must be between 0 and 1, got {p}"));
                }
                kinds.push(FaultKind::Probability {
                    p,
                    status: status.unwrap_or(500),
                });
            }
            (None, Some(status)) => kinds.push(FaultKind::Status(status)),
            (None, None) => {}
        }
        if req.malformed == Some(true) {
            kinds.push(FaultKind::Malformed);
        }
        let rate_limit = match req.rate_limit {
            Some(RateLimitRequest {
                per_second: Some(0),
            }) => return Err("rateLimit.perSecond must be at least 1".into()),
            Some(r) => Some(r.per_second),
            None => None,
        };
        if req
            .hide_from_listing
            .as_ref()
            .is_some_and(|ids| ids.is_empty() || ids.iter().any(|id| id.trim().is_empty()))
        {
            return Err("hideFromListing must be a non-empty list of remote ids".into());
        }
        if kinds.is_empty() && rate_limit.is_none() && req.hide_from_listing.is_none() {
            return Err(
                "no fault given: use status, latencyMs, probability, malformed, rateLimit or hideFromListing"
                    .into(),
            );
        }
        if let Some(ids) = req.hide_from_listing {
            self.hidden.extend(ids);
        }
        if let Some(seed) = req.seed {
            self.rng = StdRng::seed_from_u64(seed);
        }
        if let Some(rl) = rate_limit {
            self.rate_limit = Some(rl);
            self.windows.clear();
        }
        self.rules.extend(kinds.into_iter().map(|kind| FaultRule {
            kind,
            remaining: req.count,
            routes: routes.clone(),
            applied: req.applied == Some(true),
            operation: req.operation,
        }));
        Ok(())
    }

    /// The remote ids listings must omit; empty when none are hidden.
    pub(crate) fn hidden(&self) -> &BTreeSet<String> {
        &self.hidden
    }

    /// Decides one provider call to `method template` (the route template without the
    /// provider prefix) of kind `op`, consuming rule counts as rules fire.
    pub(crate) fn decide(
        &mut self,
        method: &Method,
        template: &str,
        op: Option<Operation>,
        key_hash: u64,
        now_ms: i64,
        default_limit: u32,
    ) -> Decision {
        let segments = split_path(template);
        let mut latency_ms = 0u64;
        let mut outcome = Outcome::Pass;
        let mut applied = false;
        for rule in self.rules.iter_mut() {
            if !rule.applies(method, &segments, op) {
                continue;
            }
            let fired = match rule.kind {
                FaultKind::Latency(ms) => {
                    latency_ms = latency_ms.saturating_add(ms);
                    true
                }
                _ if outcome != Outcome::Pass => false,
                FaultKind::Status(s) => {
                    outcome = Outcome::Fail(status_code(s));
                    true
                }
                FaultKind::Probability { p, status } => {
                    let hit = self.rng.gen_bool(p);
                    if hit {
                        outcome = Outcome::Fail(status_code(status));
                    }
                    hit
                }
                FaultKind::Malformed => {
                    outcome = Outcome::Malformed;
                    true
                }
            };
            if fired {
                rule.consume();
                applied |= rule.applied;
            }
        }
        self.rules.retain(|r| r.remaining != Some(0));

        if outcome == Outcome::Pass {
            if let Some(per_second) = self.rate_limit {
                let limit = per_second.unwrap_or(default_limit);
                let window = now_ms.div_euclid(1000);
                let entry = self
                    .windows
                    .entry((format!("{method} {template}"), key_hash))
                    .or_insert((window, 0));
                if entry.0 != window {
                    *entry = (window, 0);
                }
                if entry.1 >= limit {
                    outcome = Outcome::RateLimited;
                } else {
                    entry.1 += 1;
                }
            }
        }
        Decision {
            latency_ms,
            outcome,
            applied,
        }
    }

    /// The active plan, as answered by the faults endpoints.
    pub(crate) fn to_json(&self) -> Value {
        let rate_limit = match self.rate_limit {
            None => Value::Null,
            Some(None) => json!({"perSecond": null, "defaults": true}),
            Some(Some(n)) => json!({"perSecond": n}),
        };
        json!({
            "rules": self.rules.iter().map(FaultRule::to_json).collect::<Vec<_>>(),
            "rateLimit": rate_limit,
            "hideFromListing": self.hidden,
        })
    }
}

fn make_rng(seed: Option<u64>) -> StdRng {
    match seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_entropy(),
    }
}

fn status_code(s: u16) -> StatusCode {
    StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A 200 whose JSON is cut off mid-value: what a proxy or a crashed upstream can hand back.
fn malformed_response() -> Response {
    let mut resp = Response::new(Body::from(r#"{"results":[{"id":"7f1c"#));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Middleware on every provider route (never on `_sim`): count the call, then apply the plan.
/// Faults act before authentication, like an overloaded front door would, so a call with a
/// bad key can still be delayed or failed; a failed or malformed call never changes state.
pub(crate) async fn provider_calls<S: Simulator>(
    State(sim): State<Arc<S>>,
    req: Request,
    next: Next,
) -> Response {
    let full = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    let template = full
        .strip_prefix(S::PREFIX)
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(&full)
        .to_owned();
    let method = req.method().clone();
    let core = sim.core();
    core.count(&format!("{method} {template}"));

    // Rate limits are per key; hash the header so no secret is kept in the window table.
    let mut h = DefaultHasher::new();
    req.headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .hash(&mut h);
    let key_hash = h.finish();

    let op = sim.operation(&method, &template);
    let decision = lock(&core.faults).decide(
        &method,
        &template,
        op,
        key_hash,
        core.clock.raw_ms(),
        sim.default_rate_limit(&method),
    );
    // An applied fault lets the write land first; its answer is then delayed or lost.
    let (landed, pending) = if decision.applied {
        (Some(next.run(req).await), None)
    } else {
        (None, Some((req, next)))
    };
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    let failed = match decision.outcome {
        Outcome::Pass => None,
        Outcome::Fail(status) => Some(sim.error_response(status, "simulated fault")),
        Outcome::Malformed => Some(malformed_response()),
        Outcome::RateLimited => Some(
            sim.error_response(StatusCode::TOO_MANY_REQUESTS, "too many requests")
                .into_response(),
        ),
    };
    match (failed, landed, pending) {
        (Some(answer), _, _) | (None, Some(answer), _) => answer,
        (None, None, Some((req, next))) => next.run(req).await,
        (None, None, None) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "/workspaces/{workspaceId}/contacts";
    const ONE: &str = "/workspaces/{workspaceId}/contacts/{contactId}";

    fn req(v: Value) -> FaultRequest {
        serde_json::from_value(v).expect("valid fault request")
    }

    fn decide(plan: &mut FaultPlan, method: Method, template: &str) -> Outcome {
        plan.decide(&method, template, None, 1, 0, 50).outcome
    }

    #[test]
    fn status_rule_fails_exactly_count_calls() {
        let mut plan = FaultPlan::new(Some(1));
        plan.add(req(json!({"status": 503, "count": 2})), "/bird")
            .expect("add");
        assert_eq!(
            decide(&mut plan, Method::GET, LIST),
            Outcome::Fail(StatusCode::SERVICE_UNAVAILABLE)
        );
        assert_eq!(
            decide(&mut plan, Method::POST, LIST),
            Outcome::Fail(StatusCode::SERVICE_UNAVAILABLE)
        );
        assert_eq!(decide(&mut plan, Method::GET, LIST), Outcome::Pass);
        assert_eq!(plan.to_json()["rules"], json!([]));
    }

    #[test]
    fn routes_restrict_rules_and_accept_any_placeholder_name() {
        let mut plan = FaultPlan::new(Some(1));
        plan.add(
            req(json!({"status": 500, "count": 1, "routes": ["GET /bird/workspaces/{ws}/contacts"]})),
            "/bird",
        )
        .expect("add");
        assert_eq!(decide(&mut plan, Method::GET, ONE), Outcome::Pass);
        assert_eq!(decide(&mut plan, Method::POST, LIST), Outcome::Pass);
        assert_eq!(
            decide(&mut plan, Method::GET, LIST),
            Outcome::Fail(StatusCode::INTERNAL_SERVER_ERROR)
        );
        assert_eq!(decide(&mut plan, Method::GET, LIST), Outcome::Pass);
    }

    #[test]
    fn invalid_requests_add_nothing() {
        let mut plan = FaultPlan::new(Some(1));
        for bad in [
            json!({}),
            json!({"status": 200}),
            json!({"status": 500, "count": 0}),
            json!({"probability": 1.5}),
            json!({"rateLimit": {"perSecond": 0}}),
            json!({"status": 500, "routes": ["nope"]}),
            json!({"status": 500, "routes": []}),
            json!({"hideFromListing": []}),
            json!({"hideFromListing": [" "]}),
            json!({"operation": "get"}),
        ] {
            assert!(plan.add(req(bad.clone()), "/bird").is_err(), "{bad}");
        }
        assert!(serde_json::from_value::<FaultRequest>(json!({"stauts": 500})).is_err());
        assert!(serde_json::from_value::<FaultRequest>(
            json!({"status": 500, "operation": "read"})
        )
        .is_err());
        assert_eq!(
            plan.to_json(),
            json!({"rules": [], "rateLimit": null, "hideFromListing": []})
        );
    }

    #[test]
    fn latency_adds_up_and_counts_down() {
        let mut plan = FaultPlan::new(Some(1));
        plan.add(req(json!({"latencyMs": 5, "count": 1})), "/bird")
            .expect("add");
        plan.add(req(json!({"latencyMs": 7})), "/bird")
            .expect("add");
        let d = plan.decide(&Method::GET, LIST, None, 1, 0, 50);
        assert_eq!(d.latency_ms, 12);
        assert_eq!(d.outcome, Outcome::Pass);
        assert_eq!(
            plan.decide(&Method::GET, LIST, None, 1, 0, 50).latency_ms,
            7
        );
    }

    #[test]
    fn rate_limit_windows_are_per_route_per_key_per_second() {
        let mut plan = FaultPlan::new(Some(1));
        plan.add(req(json!({"rateLimit": {"perSecond": 2}})), "/bird")
            .expect("add");
        let d = |plan: &mut FaultPlan, key: u64, now: i64, t: &str| {
            plan.decide(&Method::GET, t, None, key, now, 50).outcome
        };
        assert_eq!(d(&mut plan, 1, 1_000, LIST), Outcome::Pass);
        assert_eq!(d(&mut plan, 1, 1_500, LIST), Outcome::Pass);
        assert_eq!(d(&mut plan, 1, 1_999, LIST), Outcome::RateLimited);
        assert_eq!(d(&mut plan, 2, 1_999, LIST), Outcome::Pass);
        assert_eq!(d(&mut plan, 1, 1_999, ONE), Outcome::Pass);
        assert_eq!(d(&mut plan, 1, 2_000, LIST), Outcome::Pass);
    }

    #[test]
    fn default_rate_limit_uses_the_provider_figure() {
        let mut plan = FaultPlan::new(Some(1));
        plan.add(req(json!({"rateLimit": {}})), "/bird")
            .expect("add");
        for _ in 0..3 {
            assert_eq!(
                plan.decide(&Method::GET, LIST, None, 1, 0, 3).outcome,
                Outcome::Pass
            );
        }
        assert_eq!(
            plan.decide(&Method::GET, LIST, None, 1, 0, 3).outcome,
            Outcome::RateLimited
        );
    }

    #[test]
    fn seeded_probability_is_reproducible() {
        let run = || {
            let mut plan = FaultPlan::new(None);
            plan.add(
                req(json!({"probability": 0.3, "status": 500, "seed": 9})),
                "/bird",
            )
            .expect("add");
            (0..200)
                .map(|_| decide(&mut plan, Method::GET, LIST) != Outcome::Pass)
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let fails = a.iter().filter(|f| **f).count();
        assert!((20..=100).contains(&fails), "{fails}");
    }

    #[test]
    fn operation_restricts_a_rule_to_one_kind_of_call() {
        let mut plan = FaultPlan::new(Some(1));
        plan.add(
            req(json!({"status": 503, "count": 2, "operation": "get"})),
            "/bird",
        )
        .expect("add");
        assert_eq!(plan.to_json()["rules"][0]["operation"], json!("get"));
        let mut d =
            |m: Method, t: &str, op: Option<Operation>| plan.decide(&m, t, op, 1, 0, 50).outcome;
        // Other kinds, and calls the simulator does not classify, pass without consuming.
        assert_eq!(d(Method::GET, LIST, Some(Operation::List)), Outcome::Pass);
        assert_eq!(
            d(Method::POST, LIST, Some(Operation::Create)),
            Outcome::Pass
        );
        assert_eq!(
            d(Method::PATCH, ONE, Some(Operation::Update)),
            Outcome::Pass
        );
        assert_eq!(
            d(Method::DELETE, ONE, Some(Operation::Delete)),
            Outcome::Pass
        );
        assert_eq!(d(Method::GET, ONE, None), Outcome::Pass);
        let unavailable = Outcome::Fail(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(d(Method::GET, ONE, Some(Operation::Get)), unavailable);
        assert_eq!(d(Method::GET, ONE, Some(Operation::Get)), unavailable);
        assert_eq!(d(Method::GET, ONE, Some(Operation::Get)), Outcome::Pass);
    }

    #[test]
    fn hidden_ids_accumulate_until_cleared() {
        let mut plan = FaultPlan::new(Some(1));
        plan.add(req(json!({"hideFromListing": ["a", "b"]})), "/bird")
            .expect("add");
        plan.add(req(json!({"hideFromListing": ["c"]})), "/bird")
            .expect("add");
        assert_eq!(plan.to_json()["hideFromListing"], json!(["a", "b", "c"]));
        // Hiding is no failure: every call still passes.
        assert_eq!(decide(&mut plan, Method::GET, LIST), Outcome::Pass);
        assert_eq!(plan.to_json()["rules"], json!([]));
        plan.clear();
        assert!(plan.hidden().is_empty());
    }
}
