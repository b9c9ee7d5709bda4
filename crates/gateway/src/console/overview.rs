//! The overview for admins and auditors: requests by risk and outcomes over time, blocks by
//! rule, approval latency and queue depth, tool calls by tool and decision, upstream errors,
//! model tokens and spend;
//! read from the counts the trail's index keeps per step of the chart and the number of
//! requests pending, so its cost does not grow with the trail.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::charts::{self, AMBER, BLUE, Bar, GREEN, GREY, Line, PURPLE, RED, TEAL};
use super::render::{span, when};
use super::{ConsoleUser, Frame, html, store_failed};
use crate::auth::Role;
use warden_store::LATENCY_BOUNDS;

use crate::state::AppState;

/// The steps of the charts are the widths the counts are kept at (`ROLLUP_WIDTHS`).
const HOUR: i64 = warden_store::HOUR_MS;

#[derive(Debug, Default, Deserialize)]
pub struct OverviewQuery {
    range: Option<String>,
}

/// A figure at the top of the page.
pub struct Figure {
    pub label: &'static str,
    pub value: String,
}

/// A chart and the table that says the same in words, for screen readers and copying.
pub struct Chart {
    pub id: &'static str,
    pub title: String,
    pub svg: String,
    pub table: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    frame: Frame,
    range: String,
    from: String,
    to: String,
    figures: Vec<Figure>,
    charts: Vec<Chart>,
}

/// The window and the width of a step on the x axis.
fn window(range: &str) -> (&'static str, i64, i64) {
    match range {
        "7d" => ("7d", 7 * 24 * HOUR, 6 * HOUR),
        "30d" => ("30d", 30 * 24 * HOUR, 24 * HOUR),
        _ => ("24h", 24 * HOUR, HOUR),
    }
}

pub async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<OverviewQuery>,
) -> Response {
    if let Err(refused) = user.require(&state, Role::Auditor) {
        return refused.into_response();
    }
    let (range, width, step) = window(q.range.as_deref().unwrap_or("24h"));
    let now = state.core.clock.now_ms();
    // The period ends with the step that holds now, so its buckets are whole steps.
    let to = (now.div_euclid(step) + 1) * step;
    let from = to - width;
    let tenant = user.principal.tenant_scope();
    let store = &state.core.store;
    // The counts kept at the width of one step: about thirty buckets, whatever the period.
    let rows = match store.rollup(tenant, step, from, to).await {
        Ok(rows) => rows,
        Err(e) => return store_failed(&state, &user, e),
    };
    let pending_now = match store.pending_approvals(tenant).await {
        Ok(n) => n,
        Err(e) => return store_failed(&state, &user, e),
    };
    let steps = (width / step) as usize;
    let step_of = |bucket: i64| ((bucket - from) / step).clamp(0, steps as i64 - 1) as usize;
    let labels: Vec<String> = (0..steps)
        .map(|i| {
            let at = when(from + i as i64 * step);
            if step >= 24 * HOUR {
                at.get(5..10).unwrap_or("").to_string()
            } else if width > 24 * HOUR {
                at.get(5..13).map(|s| format!("{s}h")).unwrap_or_default()
            } else {
                at.get(11..16).unwrap_or("").to_string()
            }
        })
        .collect();

    let series = |metric: &str, label: &str| -> Vec<i64> {
        let mut points = vec![0i64; steps];
        for r in rows.iter().filter(|r| r.metric == metric && r.label == label) {
            points[step_of(r.bucket_ms)] += r.n;
        }
        points
    };
    let totals = |metric: &str| -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for r in rows.iter().filter(|r| r.metric == metric) {
            *out.entry(r.label.clone()).or_insert(0) += r.n;
        }
        out
    };
    let sum = |v: &[i64]| v.iter().sum::<i64>();

    let risk_lines: Vec<Line> = [("green", GREEN), ("amber", AMBER), ("red", RED)]
        .into_iter()
        .map(|(name, color)| Line {
            name: name.into(),
            color,
            points: series("risk", name),
        })
        .collect();
    let requests: i64 = risk_lines.iter().map(|l| sum(&l.points)).sum();

    let status_colors = [
        ("executed", GREEN),
        ("allowed", TEAL),
        ("halted", AMBER),
        ("blocked", RED),
        ("rejected", GREY),
        ("upstream_error", PURPLE),
    ];
    let status_lines: Vec<Line> = status_colors
        .iter()
        .map(|(name, color)| Line {
            name: (*name).into(),
            color: *color,
            points: series("status", name),
        })
        .filter(|l| sum(&l.points) > 0)
        .collect();

    let mut blocks: Vec<(String, i64)> = totals("blocked_rule").into_iter().collect();
    blocks.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    blocks.truncate(10);
    let blocked: i64 = totals("status").get("blocked").copied().unwrap_or(0);

    // Tool calls: per tool, how many were green (allowed), amber (held), red (refused).
    let mut tools: HashMap<String, [i64; 3]> = HashMap::new();
    for (label, n) in totals("tool") {
        let (tool, risk) = label.rsplit_once('|').unwrap_or((label.as_str(), ""));
        let slot = match risk {
            "green" => 0,
            "amber" => 1,
            _ => 2,
        };
        tools.entry(tool.to_string()).or_default()[slot] += n;
    }
    let mut tools: Vec<(String, [i64; 3])> = tools.into_iter().collect();
    tools.sort_by(|a, b| {
        b.1.iter()
            .sum::<i64>()
            .cmp(&a.1.iter().sum::<i64>())
            .then(a.0.cmp(&b.0))
    });
    tools.truncate(10);

    let error_kinds = totals("upstream_error");
    let error_colors = [PURPLE, RED, AMBER, BLUE, GREY, TEAL];
    let error_lines: Vec<Line> = error_kinds
        .keys()
        .zip(error_colors.iter().cycle())
        .map(|(kind, color)| Line {
            name: kind.clone(),
            color: *color,
            points: series("upstream_error", kind),
        })
        .collect();
    let upstream_errors: i64 = error_kinds.values().sum();

    // The queue: its depth at the end of each step, counted back from now by the requests
    // queued and closed since; the latency of those closed in the period, from its histogram.
    let queued = series("approvals", "requested");
    let closed = series("approvals", "closed");
    let mut depth = vec![0i64; steps];
    let mut at_end = pending_now;
    for i in (0..steps).rev() {
        depth[i] = at_end.max(0);
        at_end += closed[i] - queued[i];
    }
    let latencies = totals("approval_latency");
    let decided: i64 = latencies.values().sum();
    let latency_at = |q: f64| -> String {
        if decided == 0 {
            return "–".into();
        }
        let rank = (decided as f64 * q).ceil().max(1.0) as i64;
        let mut seen = 0;
        for bound in LATENCY_BOUNDS {
            seen += latencies.get(bound).copied().unwrap_or(0);
            if seen >= rank {
                return match bound.parse::<i64>() {
                    Ok(secs) => format!("≤ {}", span(secs * 1000)),
                    Err(_) => "over 2 d".into(),
                };
            }
        }
        "–".into()
    };
    // What the models used (their reported usage) and cost, where `[pricing]` knew them.
    let token_lines: Vec<Line> = [("input", BLUE), ("output", TEAL)]
        .into_iter()
        .map(|(name, color)| Line {
            name: name.into(),
            color,
            points: series("tokens", name),
        })
        .collect();
    let tokens_total: i64 = token_lines.iter().map(|l| sum(&l.points)).sum();
    let spend_micros: i64 = totals("cost_micros").values().sum();

    let figures = vec![
        Figure {
            label: "Requests",
            value: requests.to_string(),
        },
        Figure {
            label: "Blocked",
            value: blocked.to_string(),
        },
        Figure {
            label: "Awaiting approval now",
            value: pending_now.to_string(),
        },
        Figure {
            label: "Approval latency, median",
            value: latency_at(0.5),
        },
        Figure {
            label: "Approval latency, p90",
            value: latency_at(0.9),
        },
        Figure {
            label: "Upstream errors",
            value: upstream_errors.to_string(),
        },
        Figure {
            label: "Model tokens",
            value: tokens_total.to_string(),
        },
        Figure {
            label: "Spend (priced models)",
            value: match spend_micros {
                0 => "–".to_string(),
                micros => format!("{:.2}", micros as f64 / 1e6),
            },
        },
    ];

    let line_table = |lines: &[Line]| -> Vec<(String, String)> {
        lines
            .iter()
            .map(|l| (l.name.clone(), sum(&l.points).to_string()))
            .collect()
    };
    let charts = vec![
        Chart {
            id: "risk",
            title: "Requests by risk".into(),
            svg: charts::lines("Requests by risk", &labels, &risk_lines),
            table: line_table(&risk_lines),
        },
        Chart {
            id: "status",
            title: "Outcomes".into(),
            svg: charts::lines("Outcomes", &labels, &status_lines),
            table: line_table(&status_lines),
        },
        Chart {
            id: "blocks",
            title: "Blocks by rule (top 10)".into(),
            svg: charts::bars(
                "Blocks by rule (top 10)",
                &blocks
                    .iter()
                    .map(|(rule, n)| Bar {
                        label: rule.clone(),
                        segments: vec![(RED, *n)],
                    })
                    .collect::<Vec<_>>(),
            ),
            table: blocks.iter().map(|(r, n)| (r.clone(), n.to_string())).collect(),
        },
        Chart {
            id: "queue",
            title: "Approval queue depth".into(),
            svg: charts::lines(
                "Approval queue depth",
                &labels,
                &[Line {
                    name: "pending".into(),
                    color: AMBER,
                    points: depth.clone(),
                }],
            ),
            table: vec![
                ("pending now".into(), pending_now.to_string()),
                ("decided in the period".into(), decided.to_string()),
                ("latency, median".into(), latency_at(0.5)),
                ("latency, p90".into(), latency_at(0.9)),
            ],
        },
        Chart {
            id: "tools",
            title: "Tool calls by tool and decision (green allowed, amber held, red refused)".into(),
            svg: charts::bars(
                "Tool calls by tool and decision",
                &tools
                    .iter()
                    .map(|(tool, [g, a, r])| Bar {
                        label: tool.clone(),
                        segments: vec![(GREEN, *g), (AMBER, *a), (RED, *r)],
                    })
                    .collect::<Vec<_>>(),
            ),
            table: tools
                .iter()
                .map(|(t, [g, a, r])| (t.clone(), format!("{g} allowed, {a} held, {r} refused")))
                .collect(),
        },
        Chart {
            id: "upstream",
            title: "Upstream errors".into(),
            svg: charts::lines("Upstream errors", &labels, &error_lines),
            table: line_table(&error_lines),
        },
        Chart {
            id: "tokens",
            title: "Model tokens (as the upstream reported them)".into(),
            svg: charts::lines("Model tokens", &labels, &token_lines),
            table: line_table(&token_lines),
        },
    ];
    let page = OverviewPage {
        frame: Frame::new(&user, "Overview", "overview"),
        range: range.to_string(),
        from: when(from),
        to: when(to),
        figures,
        charts,
    };
    html(page.render())
}
