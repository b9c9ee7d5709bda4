//! The policy page: the bundle in force (name, version, every rule with its tier, category and
//! reason) and a playground that explains a text's verdict with the matched spans marked, as
//! `warden policy explain` does. Nothing typed there is forwarded or recorded.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::render::mark_ranges;
use super::{ConsoleUser, Frame, error_page, html};
use crate::state::AppState;

pub struct RuleLine {
    pub id: String,
    pub tier: String,
    pub category: String,
    pub reason: String,
}

pub struct Verdict {
    pub risk: String,
    pub category: String,
    pub confidence: String,
    pub reason: String,
    pub alternative: String,
    pub normalized: String,
    pub read_as: String,
    /// The text escaped, with what made rules fire marked.
    pub marked: String,
    pub rules: Vec<(String, String, String, String)>,
    pub suppressed: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/policy.html")]
struct PolicyPage {
    frame: Frame,
    name: String,
    version: String,
    rules: Vec<RuleLine>,
    counts: (usize, usize, usize),
    text: String,
    verdict: Option<Verdict>,
}

fn page(state: &AppState, user: &ConsoleUser, text: String, verdict: Option<Verdict>) -> Response {
    let p = state.core.policy.get();
    let rules: Vec<RuleLine> = p
        .rules()
        .iter()
        .map(|r| RuleLine {
            id: r.id.clone(),
            tier: r.tier.to_string(),
            category: r.category.clone(),
            reason: r.reason.clone(),
        })
        .collect();
    let count = |tier: &str| rules.iter().filter(|r| r.tier == tier).count();
    let page = PolicyPage {
        frame: Frame::new(user, "Policy", "policy"),
        name: p.name().to_string(),
        version: p.version().to_string(),
        counts: (count("green"), count("amber"), count("red")),
        rules,
        text,
        verdict,
    };
    html(page.render())
}

pub async fn show(State(state): State<AppState>, user: ConsoleUser) -> Response {
    page(&state, &user, String::new(), None)
}

#[derive(Debug, Deserialize)]
pub struct PlaygroundForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

super::session::with_csrf!(PlaygroundForm);

/// Texts longer than this are refused by the playground (the gateway's body limit is larger,
/// but a page is not the place for them).
const MAX_TEXT_BYTES: usize = 64 * 1024;

pub async fn playground(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    form: Result<Form<PlaygroundForm>, FormRejection>,
) -> Response {
    let form = match user.accept(&state, &headers, form, None) {
        Ok(form) => form,
        Err(refused) => return refused.into_response(),
    };
    if form.text.len() > MAX_TEXT_BYTES {
        return error_page(
            &state,
            Some(&user),
            StatusCode::PAYLOAD_TOO_LARGE,
            "The playground takes texts up to 64 KB; use `warden policy explain` for longer ones.",
        );
    }
    let policy = state.core.policy.get();
    let roles: Vec<&str> = user.principal.roles_as_strings();
    let context = warden_policy::Context {
        roles: &roles,
        tenant: Some(&user.principal.tenant),
        tool: None,
        model: None,
    };
    let d = policy.evaluate_in(&form.text, &context);
    let (language, words) = policy.read_as(&form.text);
    let spans: Vec<(usize, usize)> = d
        .rules
        .iter()
        .flat_map(|r| r.spans.iter().map(|s| (s.start, s.end)))
        .collect();
    let verdict = Verdict {
        risk: d.risk.to_string(),
        category: d.category.clone(),
        confidence: format!("{:.2}", d.confidence),
        reason: d.reason.clone(),
        alternative: d.alternative.clone().unwrap_or_default(),
        normalized: policy.normalize(&form.text),
        read_as: match language {
            Some(code) => format!("[{code}] {words}"),
            None => words,
        },
        marked: mark_ranges(&form.text, &spans),
        rules: d
            .rules
            .iter()
            .map(|r| {
                let spans: Vec<String> = r.spans.iter().map(|s| format!("“{}”", s.text)).collect();
                (
                    r.id.clone(),
                    r.tier.to_string(),
                    r.category.clone(),
                    spans.join(", "),
                )
            })
            .collect(),
        suppressed: d.suppressed.iter().map(|r| r.id.clone()).collect(),
    };
    page(&state, &user, form.text, Some(verdict))
}
