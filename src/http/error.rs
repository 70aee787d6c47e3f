//! The error envelope: `{"success":false,"message","error","error_code"}` with the right status.
//! `error` repeats `message` because existing clients read that field.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::auth::AuthError;
use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Invalid API key")]
    InvalidApiKey,
    #[error("{message}")]
    Validation { field: String, message: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Service unavailable: {0}")]
    Unavailable(String),
    #[error("Internal server error")]
    Internal(String),
    /// Over the key's rate limit; the number is the `Retry-After` in seconds.
    #[error("Too many requests: retry in {0} s")]
    RateLimited(u64),
    /// A domain error with its own status and code (sessions, messages, media).
    #[error("{message}")]
    Coded {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// An error code from WhatsApp Web through the bridge, e.g. `WA_MODULE_MISSING:WAWebSendMsgChatAction`.
    #[error("{message} ({code})")]
    Wa { code: String, message: String },
}

impl ApiError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation {
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub fn coded(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Coded {
            status,
            code,
            message: message.into(),
        }
    }

    /// An error the framework produced, in the envelope: the code follows the status.
    pub fn from_status(status: StatusCode, message: impl Into<String>) -> Self {
        let message = message.into();
        match status.as_u16() {
            400 => return ApiError::BadRequest(message),
            404 => return ApiError::NotFound(message),
            413 => return ApiError::PayloadTooLarge(message),
            _ => {}
        }
        let code = match status.as_u16() {
            401 => "UNAUTHORIZED",
            403 => "FORBIDDEN",
            405 => "METHOD_NOT_ALLOWED",
            406 => "NOT_ACCEPTABLE",
            408 => "REQUEST_TIMEOUT",
            411 => "LENGTH_REQUIRED",
            412 => "PRECONDITION_FAILED",
            414 => "URI_TOO_LONG",
            415 => "UNSUPPORTED_MEDIA_TYPE",
            416 => "RANGE_NOT_SATISFIABLE",
            417 => "EXPECTATION_FAILED",
            431 => "REQUEST_HEADER_FIELDS_TOO_LARGE",
            503 => "SERVICE_UNAVAILABLE",
            402..=499 => "BAD_REQUEST",
            _ => "INTERNAL_ERROR",
        };
        ApiError::coded(status, code, message)
    }

    pub fn session_not_found(name: &str) -> Self {
        Self::coded(
            StatusCode::NOT_FOUND,
            "SESSION_NOT_FOUND",
            format!("No session named {name}"),
        )
    }

    pub fn code(&self) -> &str {
        match self {
            ApiError::Coded { code, .. } => code,
            // The stable part of a bridge code: `WA_MODULE_MISSING` of `WA_MODULE_MISSING:<module>`.
            ApiError::Wa { code, .. } => code.split(':').next().unwrap_or(code),
            ApiError::InvalidApiKey => "INVALID_API_KEY",
            ApiError::Validation { .. } => "VALIDATION_ERROR",
            ApiError::BadRequest(_) => "BAD_REQUEST",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL_ERROR",
            ApiError::RateLimited(_) => "RATE_LIMITED",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidApiKey => StatusCode::UNAUTHORIZED,
            ApiError::Validation { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Coded { status, .. } => *status,
            ApiError::Wa { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(detail) = self {
            tracing::error!(detail = %detail, "internal error");
        }
        let message = self.to_string();
        let mut body = json!({
            "success": false,
            "message": message,
            "error": message,
            "error_code": self.code(),
        });
        match self {
            ApiError::Validation { field, .. } => body["field"] = json!(field),
            ApiError::Wa { code, .. } => body["detail"] = json!(code),
            _ => {}
        }
        let mut resp = HttpResponse::build(self.status_code());
        match self {
            ApiError::InvalidApiKey => drop(resp.insert_header(("WWW-Authenticate", "ApiKey"))),
            ApiError::RateLimited(secs) => drop(resp.insert_header(("Retry-After", secs.to_string()))),
            _ => {}
        }
        resp.json(body)
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Connect(_) | DbError::Pool(_) => ApiError::Unavailable("database unreachable".into()),
            DbError::Conflict => ApiError::Conflict("It already exists".into()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidKey => ApiError::InvalidApiKey,
            AuthError::UnknownUser(u) => ApiError::NotFound(format!("No user named {u}")),
            AuthError::Db(db) => db.into(),
            AuthError::Unavailable(m) => ApiError::Unavailable(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::sessions::SessionError> for ApiError {
    fn from(e: crate::sessions::SessionError) -> Self {
        use crate::sessions::SessionError as S;
        match e {
            S::NotConnected | S::NotRunning => ApiError::coded(
                StatusCode::CONFLICT,
                "SESSION_NOT_CONNECTED",
                "No active WhatsApp session. Please connect first.",
            ),
            S::LimitReached(n) => ApiError::coded(
                StatusCode::TOO_MANY_REQUESTS,
                "SESSION_LIMIT_REACHED",
                format!("Session limit reached: {n} sessions are running"),
            ),
            S::BrowserUnavailable(detail) => ApiError::coded(
                StatusCode::SERVICE_UNAVAILABLE,
                "BROWSER_UNAVAILABLE",
                format!("WhatsApp service unavailable: {detail}"),
            ),
            S::Timeout(d) => ApiError::coded(
                StatusCode::GATEWAY_TIMEOUT,
                "SEND_TIMEOUT",
                format!("WhatsApp did not answer within {} s", d.as_secs()),
            ),
            S::Wa { code, message } => ApiError::Wa { code, message },
            S::Invalid(m) => ApiError::coded(StatusCode::CONFLICT, "SESSION_STATE", m),
            S::Db(m) => ApiError::Internal(m),
        }
    }
}

/// The success envelope.
pub fn ok<T: serde::Serialize>(data: T) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "success": true, "data": data }))
}
