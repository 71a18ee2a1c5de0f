//! Microsoft Graph's error shape ("Microsoft Graph error responses and resource types"):
//! `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`, with the request id
//! also in the `request-id` header. Throttling answers carry `Retry-After` seconds and the extra `innerError`
//! fields of Microsoft's throttling sample.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;

/// One Graph error before rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl GraphError {
    pub fn new(status: u16, code: &str, message: &str) -> GraphError {
        GraphError { status, code: code.into(), message: message.into(), retry_after_secs: None }
    }

    pub fn bad_request(message: &str) -> GraphError {
        GraphError::new(400, "Request_BadRequest", message)
    }

    pub fn unsupported_query(message: &str) -> GraphError {
        GraphError::new(400, "Request_UnsupportedQuery", message)
    }

    pub fn invalid_token(message: &str) -> GraphError {
        GraphError::new(401, "InvalidAuthenticationToken", message)
    }

    pub fn denied() -> GraphError {
        GraphError::new(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    }

    pub fn not_found(id: &str) -> GraphError {
        GraphError::new(
            404,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// 429 `TooManyRequests` or 503 `serviceNotAvailable`, with `Retry-After`.
    pub fn throttled(status: u16, retry_after_secs: u64) -> GraphError {
        let mut e = if status == 429 {
            GraphError::new(429, "TooManyRequests", "Please retry again later.")
        } else {
            GraphError::new(
                status,
                "serviceNotAvailable",
                "The service is temporarily unavailable for maintenance or is overloaded. You may repeat the request \
                 after a delay, which may be specified in a Retry-After header.",
            )
        };
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    /// Any other 5xx: `generalException`.
    pub fn server(status: u16) -> GraphError {
        GraphError::new(status, "generalException", "An unspecified error has occurred.")
    }

    /// The HTTP response for this request.
    pub fn response(&self, ctx: &RequestCtx) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut inner = json!({
            "date": ctx.date(),
            "request-id": ctx.request_id,
            "client-request-id": ctx.client_request_id,
        });
        if self.status == 429 {
            inner["code"] = json!("429");
            inner["message"] = json!("Please retry after");
            inner["status"] = json!("429");
        }
        let body = json!({"error": {"code": self.code, "message": self.message, "innerError": inner}});
        let mut r = (status, axum::Json(body)).into_response();
        ctx.stamp(r.headers_mut());
        if let Some(s) = self.retry_after_secs {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == 401 {
            let v = format!(
                "Bearer realm=\"\", authorization_uri=\"{}/common/oauth2/authorize\", \
                 client_id=\"00000003-0000-0000-c000-000000000000\"",
                ctx.base_url
            );
            if let Ok(v) = HeaderValue::from_str(&v) {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        r
    }
}

/// Per-request ids: `request-id` is new, `client-request-id` echoes the client's header (or repeats the
/// request id, as Graph does when the client sent none).
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub base_url: String,
    pub now: DateTime<Utc>,
    pub request_id: String,
    pub client_request_id: String,
}

impl RequestCtx {
    pub fn new(base_url: &str, now: DateTime<Utc>, headers: &HeaderMap) -> RequestCtx {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from)
            .unwrap_or_else(|| request_id.clone());
        RequestCtx { base_url: base_url.into(), now, request_id, client_request_id }
    }

    /// Graph's `innerError.date`: `2021-03-10T13:42:38` (UTC, no zone suffix).
    pub fn date(&self) -> String {
        self.now.format("%Y-%m-%dT%H:%M:%S").to_string()
    }

    pub fn stamp(&self, headers: &mut HeaderMap) {
        for (k, v) in [("request-id", &self.request_id), ("client-request-id", &self.client_request_id)] {
            if let Ok(v) = HeaderValue::from_str(v) {
                headers.insert(k, v);
            }
        }
    }
}
