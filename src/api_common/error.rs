//! The error envelope: `{"success":false,"message","error","error_code"}` with the right status.
//! `error` repeats `message` because existing clients read that field.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::auth::AuthError;
use crate::db::DbError;
use crate::error_code::ErrorCode;

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
    /// A domain error (sessions, messages, media, the page): its status is its code's. `detail`
    /// is a page's full code, e.g. `WA_MODULE_MISSING:WAWebSendMsgChatAction`.
    #[error("{message}")]
    Coded {
        code: ErrorCode,
        message: String,
        detail: Option<String>,
    },
    /// An error the framework produced with a status that has no code of its own (418, say).
    #[error("{message}")]
    Status { status: StatusCode, message: String },
}

impl ApiError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation {
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub fn coded(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::Coded {
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// An error the framework produced, in the envelope: the code follows the status.
    pub fn from_status(status: StatusCode, message: impl Into<String>) -> Self {
        let message = message.into();
        let code = ErrorCode::for_status(status.as_u16());
        if code.http_status() == status.as_u16() {
            ApiError::coded(code, message)
        } else {
            ApiError::Status { status, message }
        }
    }

    pub fn session_not_found(name: &str) -> Self {
        Self::coded(ErrorCode::SessionNotFound, format!("No session named {name}"))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Coded { code, .. } => *code,
            ApiError::Status { status, .. } => ErrorCode::for_status(status.as_u16()),
            ApiError::InvalidApiKey => ErrorCode::InvalidApiKey,
            ApiError::Validation { .. } => ErrorCode::ValidationError,
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            ApiError::Internal(_) => ErrorCode::InternalError,
            ApiError::RateLimited(_) => ErrorCode::RateLimited,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Status { status, .. } => *status,
            other => StatusCode::from_u16(other.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
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
            "error_code": self.code().as_str(),
        });
        match self {
            ApiError::Validation { field, .. } => body["field"] = json!(field),
            ApiError::Coded {
                detail: Some(detail), ..
            } => body["detail"] = json!(detail),
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
            DbError::KeyIdTaken => {
                ApiError::Conflict("id is already used by a message of this session; choose a new one".into())
            }
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
        let code = e.code();
        match e {
            S::Db(m) => ApiError::Internal(m),
            S::Wa { code: detail, message } => ApiError::Coded {
                code,
                message: format!("{message} ({detail})"),
                detail: Some(detail),
            },
            other => ApiError::coded(code, other.to_string()),
        }
    }
}

/// The success envelope.
pub fn ok<T: serde::Serialize>(data: T) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "success": true, "data": data }))
}
