//! A second opinion: an external guard (an OpenAI-compatible guard model such as Llama Guard
//! served by vLLM or Ollama, or a plain HTTP service) asked about what the rules judged, with
//! a deadline, an explicit fail mode and a bounded cache. It can raise a verdict, never lower
//! one; what it said, or why it said nothing, is on the classification record.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use warden_policy::{Decision, Risk, RuleMatch};

use crate::config::{GuardAsk, GuardConfig, GuardFailure, GuardFormat};

/// What the guard said about one text.
#[derive(Debug, Clone)]
pub struct Opinion {
    /// The tier the guard gives the text; `None` when it did not answer.
    pub verdict: Option<Risk>,
    /// The guard's categories (Llama Guard's `S1`, `S10`, ...) or reason.
    pub labels: Vec<String>,
    /// Why there is no verdict (timeout, refused connection, unreadable answer).
    pub failure: Option<String>,
    pub cached: bool,
    pub latency_ms: u64,
}

struct Cache {
    entries: std::collections::HashMap<[u8; 32], (Instant, Risk, Vec<String>)>,
    order: VecDeque<[u8; 32]>,
}

pub struct Guard {
    config: GuardConfig,
    client: reqwest::Client,
    cache: Mutex<Cache>,
}

impl Guard {
    pub fn new(config: GuardConfig) -> Result<Guard, reqwest::Error> {
        // The deadline is kept around the whole call (`ask`), so a late answer reads as one.
        let client = reqwest::Client::builder()
            .connect_timeout(config.timeout)
            .build()?;
        Ok(Guard {
            config,
            client,
            cache: Mutex::new(Cache {
                entries: std::collections::HashMap::new(),
                order: VecDeque::new(),
            }),
        })
    }

    /// Whether the guard is asked about a verdict of the rules.
    pub fn wants(&self, risk: Risk) -> bool {
        match self.config.ask {
            GuardAsk::All => true,
            GuardAsk::GreenAmber => risk != Risk::Red,
        }
    }

    /// Asks the guard about `text`, within the deadline.
    pub async fn ask(&self, text: &str) -> Opinion {
        let key: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        if let Some((verdict, labels)) = self.cached(&key) {
            return Opinion {
                verdict: Some(verdict),
                labels,
                failure: None,
                cached: true,
                latency_ms: 0,
            };
        }
        let started = Instant::now();
        let answer = tokio::time::timeout(self.config.timeout, self.call(text)).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let (verdict, labels, failure) = match answer {
            Err(_) => (
                None,
                Vec::new(),
                Some(format!("no answer within {} ms", self.config.timeout.as_millis())),
            ),
            Ok(Err(failure)) => (None, Vec::new(), Some(failure)),
            Ok(Ok((verdict, labels))) => {
                self.remember(key, verdict, labels.clone());
                (Some(verdict), labels, None)
            }
        };
        Opinion {
            verdict,
            labels,
            failure,
            cached: false,
            latency_ms,
        }
    }

    async fn call(&self, text: &str) -> Result<(Risk, Vec<String>), String> {
        let body = match self.config.format {
            GuardFormat::OpenAi => json!({
                "model": self.config.model.clone().unwrap_or_else(|| "llama-guard".into()),
                "messages": [{"role": "user", "content": text}],
                "temperature": 0,
                "max_tokens": 32,
                "stream": false,
            }),
            GuardFormat::Http => json!({"text": text}),
        };
        let mut request = self
            .client
            .post(&self.config.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key.expose());
        }
        // The error's text may hold the URL, never the key: reqwest does not print headers.
        let response = request
            .send()
            .await
            .map_err(|e| format!("guard unreachable: {}", e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("guard answered HTTP {}", status.as_u16()));
        }
        // A verdict is a few words: a longer answer is refused, not read on.
        const MAX_ANSWER: usize = 64 * 1024;
        let mut response = response;
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("guard answer cut short: {}", e.without_url()))?
        {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err("guard answer too long".into());
            }
            bytes.extend_from_slice(&chunk);
        }
        let answer: Value = serde_json::from_slice(&bytes)
            .map_err(|_| "guard answered something other than JSON".to_string())?;
        match self.config.format {
            GuardFormat::OpenAi => {
                let content = answer["choices"][0]["message"]["content"]
                    .as_str()
                    .ok_or("guard answer has no message content")?;
                read_llama_guard(content)
            }
            GuardFormat::Http => {
                let verdict = answer["verdict"]
                    .as_str()
                    .ok_or("guard answer has no `verdict`")?;
                let risk = match verdict.to_ascii_lowercase().as_str() {
                    "safe" | "green" | "allow" => Risk::Green,
                    "amber" | "review" => Risk::Amber,
                    "unsafe" | "red" | "block" | "deny" => Risk::Red,
                    other => return Err(format!("guard verdict `{other}` is not one Warden reads")),
                };
                let mut labels: Vec<String> = answer["labels"]
                    .as_array()
                    .map(|l| l.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                if let Some(reason) = answer["reason"].as_str() {
                    labels.push(reason.chars().take(200).collect());
                }
                Ok((risk, labels))
            }
        }
    }

    fn cached(&self, key: &[u8; 32]) -> Option<(Risk, Vec<String>)> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (at, risk, labels) = cache.entries.get(key)?;
        (at.elapsed() < self.config.cache_ttl).then(|| (*risk, labels.clone()))
    }

    fn remember(&self, key: [u8; 32], risk: Risk, labels: Vec<String>) {
        if self.config.cache_entries == 0 {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache
            .entries
            .insert(key, (Instant::now(), risk, labels))
            .is_none()
        {
            cache.order.push_back(key);
        }
        while cache.entries.len() > self.config.cache_entries {
            match cache.order.pop_front() {
                Some(oldest) => {
                    cache.entries.remove(&oldest);
                }
                None => break,
            }
        }
    }

    /// The rules' decision with the guard's opinion applied: raised to the guard's tier when
    /// that is higher, raised to red when the guard failed and fails closed, else unchanged.
    pub fn apply(&self, mut decision: Decision, opinion: &Opinion) -> Decision {
        let (tier, id, reason) = match (opinion.verdict, &opinion.failure) {
            (Some(v), _) if v > decision.risk => (
                v,
                format!("guard.{}", if v == Risk::Red { "unsafe" } else { "review" }),
                if opinion.labels.is_empty() {
                    "The guard judged the request unsafe".to_string()
                } else {
                    format!(
                        "The guard judged the request unsafe ({})",
                        opinion.labels.join(", ")
                    )
                },
            ),
            (None, Some(failure))
                if self.config.on_failure == GuardFailure::Closed && decision.risk < Risk::Red =>
            {
                (
                    Risk::Red,
                    "guard.unavailable".to_string(),
                    format!("The guard did not answer ({failure}) and Warden fails closed"),
                )
            }
            _ => return decision,
        };
        decision.risk = tier;
        decision.category = "second_opinion".into();
        decision.reason = reason;
        decision.allow = tier != Risk::Red;
        decision.requires_approval = true;
        decision.confidence = 0.9;
        decision.approval = None;
        decision.alternative = Some("I can help with a version of the request the guard accepts.".into());
        decision.rules.insert(
            0,
            RuleMatch {
                id,
                tier,
                category: "second_opinion".into(),
                spans: Vec::new(),
            },
        );
        decision
    }

    /// What the classification record says of the guard.
    pub fn record(&self, opinion: &Opinion) -> Value {
        json!({
            "verdict": opinion.verdict,
            "labels": opinion.labels,
            "failure": opinion.failure,
            "fail_mode": self.config.on_failure.as_str(),
            "cached": opinion.cached,
            "latency_ms": opinion.latency_ms,
        })
    }
}

/// Llama Guard's answer: `safe`, or `unsafe` and a line of categories (`S1,S10`).
fn read_llama_guard(content: &str) -> Result<(Risk, Vec<String>), String> {
    let mut lines = content.trim().lines();
    let first = lines.next().unwrap_or_default().trim().to_ascii_lowercase();
    if first.starts_with("unsafe") {
        let labels = lines
            .flat_map(|l| l.split(','))
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        Ok((Risk::Red, labels))
    } else if first.starts_with("safe") {
        Ok((Risk::Green, Vec::new()))
    } else {
        Err("guard answer is neither `safe` nor `unsafe`".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_guard_answers() {
        assert_eq!(read_llama_guard("safe").unwrap().0, Risk::Green);
        let (risk, labels) = read_llama_guard("unsafe\nS1,S10").unwrap();
        assert_eq!(
            (risk, labels),
            (Risk::Red, vec!["S1".to_string(), "S10".to_string()])
        );
        assert!(read_llama_guard("I cannot help with that").is_err());
    }
}
