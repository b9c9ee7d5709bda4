//! The classify stage: the request judged by the active policy in the caller's context, and
//! the conversation before it judged for anything red smuggled into the history.

use warden_policy::{Context, Decision, Policy, Risk};

use crate::auth::Principal;
use crate::request::ChatRequest;

/// The decision on a chat request.
pub fn classify(policy: &Policy, request: &ChatRequest, principal: &Principal) -> Decision {
    // An admin holds every role, for scopes as for permissions.
    let roles: Vec<&str> = if principal.roles.contains(&crate::auth::Role::Admin) {
        crate::auth::Role::ALL.iter().map(|r| r.as_str()).collect()
    } else {
        principal.roles_as_strings()
    };
    let context = Context {
        roles: &roles,
        tenant: Some(&principal.tenant),
        tool: None,
        model: Some(&request.upstream_model),
    };
    let decision = policy.evaluate_in(&request.text, &context);
    if decision.risk == Risk::Red || request.context.trim().is_empty() {
        return decision;
    }
    let earlier = policy.evaluate_in(&request.context, &context);
    if earlier.risk == Risk::Red {
        let mut escalated = earlier;
        escalated.reason = format!(
            "{} (in the system instructions or earlier turns)",
            escalated.reason
        );
        return escalated;
    }
    decision
}
