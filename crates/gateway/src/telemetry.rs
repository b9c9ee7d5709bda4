//! OpenTelemetry traces over OTLP (HTTP, JSON encoding), off unless `[telemetry]
//! otlp_endpoint` is set: one span per governed request, a child span per stage timed by the
//! request's context, Warden's trace id as an attribute, a W3C `traceparent` from the client
//! taken as the parent and passed on to the upstream. Spans are exported in batches by the
//! SDK's own thread from a bounded queue: a slow or absent collector drops spans, never slows
//! or fails a request.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Span, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
    TracerProvider,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider,
};

use crate::config::TelemetryConfig;

/// The tracer and its provider, once configured.
static TRACING: OnceLock<(SdkTracerProvider, SdkTracer)> = OnceLock::new();

/// Starts the exporter; an error names what is wrong with the endpoint.
pub fn init(config: &TelemetryConfig) -> Result<(), String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(config.otlp_endpoint.clone())
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("the OTLP exporter for {}: {e}", config.otlp_endpoint))?;
    let batches = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(config.export_interval)
                .with_max_queue_size(8192)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(batches)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sample_ratio,
        ))))
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(config.service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("warden");
    let _ = TRACING.set((provider, tracer));
    Ok(())
}

/// Sends what is queued; for shutdown.
pub fn shutdown() {
    if let Some((provider, _)) = TRACING.get()
        && let Err(e) = provider.shutdown()
    {
        tracing::warn!(error = %e, "spans not all exported at shutdown");
    }
}

/// A W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`) as a remote parent.
fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2 || version == "ff" || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok().filter(|t| *t != TraceId::INVALID)?;
    let span_id = SpanId::from_hex(span).ok().filter(|s| *s != SpanId::INVALID)?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags & 1),
        true,
        TraceState::default(),
    ))
}

/// The span of one governed request, while it lasts.
pub struct RequestSpan {
    span: opentelemetry_sdk::trace::Span,
    started: SystemTime,
}

impl RequestSpan {
    /// Starts a request's span (a child of the client's `traceparent`, if any), or nothing when
    /// telemetry is off.
    pub fn start(surface: &str, trace_id: &str, traceparent: Option<&str>) -> Option<RequestSpan> {
        let (_, tracer) = TRACING.get()?;
        let parent = traceparent
            .and_then(parse_traceparent)
            .map(|remote| Context::new().with_remote_span_context(remote))
            .unwrap_or_default();
        let started = SystemTime::now();
        let span = tracer
            .span_builder(format!("warden {surface}"))
            .with_kind(SpanKind::Server)
            .with_start_time(started)
            .with_attributes([
                KeyValue::new("warden.trace_id", trace_id.to_string()),
                KeyValue::new("warden.surface", surface.to_string()),
            ])
            .start_with_context(tracer, &parent);
        Some(RequestSpan { span, started })
    }

    /// The `traceparent` to send upstream: this span as the parent of what the upstream does.
    pub fn traceparent(&self) -> Option<String> {
        let context = self.span.span_context();
        context.is_valid().then(|| {
            format!(
                "00-{}-{}-{:02x}",
                context.trace_id(),
                context.span_id(),
                context.trace_flags().to_u8()
            )
        })
    }

    /// Ends the request's span with its outcome, and a child span per stage, laid end to end
    /// from the request's start as its context timed them.
    pub fn end(mut self, attributes: Vec<KeyValue>, stages: &[(&'static str, u64)], total: Duration) {
        let Some((_, tracer)) = TRACING.get() else { return };
        let parent = Context::new().with_remote_span_context(self.span.span_context().clone());
        let mut at = self.started;
        for (stage, micros) in stages {
            let until = at + Duration::from_micros(*micros);
            let mut child = tracer
                .span_builder(stage.to_string())
                .with_kind(SpanKind::Internal)
                .with_start_time(at)
                .start_with_context(tracer, &parent);
            child.end_with_timestamp(until);
            at = until;
        }
        self.span.set_attributes(attributes);
        self.span.end_with_timestamp(self.started + total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_are_read_strictly() {
        let good = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(good.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(good.is_sampled() && good.is_remote());
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-xyz-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
    }
}
