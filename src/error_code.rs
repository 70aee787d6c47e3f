//! The one vocabulary of error codes: what the API answers in `error_code`, what a failed message
//! stores in `error_code`, what a session error is called. Each code has its spelling (UPPER_SNAKE,
//! through strum) and its HTTP status here, and nowhere else.
//!
//! Page codes (`WA_*`, `BRIDGE_*`) come from `src/browser/bridge.js`; the page may add a detail
//! after a colon (`WA_MODULE_MISSING:WAWebSendMsgChatAction`), which is kept apart as `detail`.

/// A stable error code. `as_str()` is its spelling, `http_status()` the status the API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    // --- the request (RFC 9110 statuses, by name) ------------------------------------------------
    ValidationError,
    BadRequest,
    InvalidApiKey,
    Unauthorized,
    AdminLoginRequired,
    LoginFailed,
    Forbidden,
    /// The API key is limited to other scopes or sessions (see `auth::scope`).
    ForbiddenScope,
    CsrfFailed,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    RequestTimeout,
    Conflict,
    LengthRequired,
    PreconditionFailed,
    PayloadTooLarge,
    UriTooLong,
    UnsupportedMediaType,
    RangeNotSatisfiable,
    ExpectationFailed,
    RateLimited,
    RequestHeaderFieldsTooLarge,
    InternalError,
    ServiceUnavailable,
    // --- resources --------------------------------------------------------------------------------
    SessionNotFound,
    MessageNotFound,
    MediaNotFound,
    WebhookNotFound,
    EventNotFound,
    QrNotAvailable,
    /// No LID ↔ phone pair on record for this id in the caller's sessions.
    ContactNotFound,
    /// No incoming call with this id is ringing on the session's page (page code `CALL_NOT_FOUND`).
    CallNotFound,
    // --- sessions -------------------------------------------------------------------------------
    SessionNotConnected,
    SessionNotStarted,
    SessionState,
    SessionFailed,
    SessionLimitReached,
    BrowserUnavailable,
    /// Cluster mode: the node that owns the session did not answer a control command in time.
    OwnerUnavailable,
    // --- sends and stored messages ------------------------------------------------------------------
    RecipientNotOnWhatsapp,
    IdempotencyKeyReused,
    SendInProgress,
    SendFailed,
    SendTimeout,
    /// An interrupted send that was never found on the page (upkeep).
    SendInterrupted,
    /// No server ack within `sending.ack_timeout_secs` (upkeep).
    AckTimeout,
    /// Not sent within `sending.queue_ttl_secs`.
    Expired,
    MediaTooLarge,
    /// A queued message's file is gone from the media directory.
    MediaMissing,
    MediaDownloadFailed,
    /// A message WhatsApp does not forward (deleted for everyone, a reaction, a notification…),
    /// said by wagate before sending or by the page's own check.
    MessageNotForwardable,
    // --- the page (bridge.js) ---------------------------------------------------------------------
    WaError,
    WaModuleMissing,
    WaMemberMissing,
    WaNotReady,
    WaChatNotFound,
    WaMessageNotFound,
    WaMediaMissing,
    WaMediaFailed,
    WaSendFailed,
    /// The page is still sending an earlier try of the same key id.
    WaSendInFlight,
    WaNoQr,
    WaQrFailed,
    /// A liveness probe got no answer through WhatsApp's server in time: the page is wedged.
    WaPageUnresponsive,
    /// WhatsApp refused a group change: only the group's admins may make it.
    WaNotAuthorized,
    /// The document was replaced and has no bridge yet.
    BridgeMissing,
    BridgeUnknownCall,
    BridgeBadAnswer,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The HTTP status the API answers this code with.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            ValidationError | BadRequest => 400,
            InvalidApiKey | Unauthorized | AdminLoginRequired | LoginFailed => 401,
            Forbidden | ForbiddenScope | CsrfFailed | WaNotAuthorized => 403,
            NotFound | SessionNotFound | MessageNotFound | MediaNotFound | WebhookNotFound | EventNotFound
            | QrNotAvailable | ContactNotFound | CallNotFound => 404,
            MethodNotAllowed => 405,
            NotAcceptable => 406,
            RequestTimeout => 408,
            Conflict | SessionNotConnected | SessionNotStarted | SessionState | SendInProgress => 409,
            LengthRequired => 411,
            PreconditionFailed => 412,
            PayloadTooLarge | MediaTooLarge => 413,
            UriTooLong => 414,
            UnsupportedMediaType => 415,
            RangeNotSatisfiable => 416,
            ExpectationFailed => 417,
            RecipientNotOnWhatsapp | IdempotencyKeyReused | MessageNotForwardable => 422,
            RateLimited | SessionLimitReached => 429,
            RequestHeaderFieldsTooLarge => 431,
            InternalError => 500,
            SessionFailed | SendFailed | SendInterrupted | AckTimeout | Expired | MediaMissing
            | MediaDownloadFailed => 502,
            WaError | WaModuleMissing | WaMemberMissing | WaNotReady | WaChatNotFound | WaMessageNotFound
            | WaMediaMissing | WaMediaFailed | WaSendFailed | WaSendInFlight | WaNoQr | WaQrFailed
            | WaPageUnresponsive | BridgeMissing | BridgeUnknownCall | BridgeBadAnswer => 502,
            ServiceUnavailable | BrowserUnavailable | OwnerUnavailable => 503,
            SendTimeout => 504,
        }
    }

    /// The code a framework status stands for (an error actix produced before a handler ran).
    pub fn for_status(status: u16) -> ErrorCode {
        use ErrorCode::*;
        match status {
            400 => BadRequest,
            401 => Unauthorized,
            403 => Forbidden,
            404 => NotFound,
            405 => MethodNotAllowed,
            406 => NotAcceptable,
            408 => RequestTimeout,
            409 => Conflict,
            411 => LengthRequired,
            412 => PreconditionFailed,
            413 => PayloadTooLarge,
            414 => UriTooLong,
            415 => UnsupportedMediaType,
            416 => RangeNotSatisfiable,
            417 => ExpectationFailed,
            429 => RateLimited,
            431 => RequestHeaderFieldsTooLarge,
            503 => ServiceUnavailable,
            402..=499 => BadRequest,
            _ => InternalError,
        }
    }

    /// A page's code, `CODE` or `CODE:detail`; a code this gateway does not know is `WA_ERROR`.
    pub fn from_page(code: &str) -> ErrorCode {
        let stable = code.split(':').next().unwrap_or(code);
        stable.parse().unwrap_or(ErrorCode::WaError)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn spellings_round_trip_and_statuses_are_errors() {
        for code in ErrorCode::VARIANTS {
            assert_eq!(code.as_str().parse::<ErrorCode>().unwrap(), *code);
            assert!(code.as_str().bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
            assert!((400..600).contains(&code.http_status()), "{code}");
        }
        assert_eq!(ErrorCode::RecipientNotOnWhatsapp.as_str(), "RECIPIENT_NOT_ON_WHATSAPP");
        assert_eq!(ErrorCode::UriTooLong.as_str(), "URI_TOO_LONG");
    }

    #[test]
    fn page_codes_keep_their_stable_part() {
        assert_eq!(
            ErrorCode::from_page("WA_MODULE_MISSING:WAWebSendMsgChatAction"),
            ErrorCode::WaModuleMissing
        );
        assert_eq!(ErrorCode::from_page("WA_SEND_IN_FLIGHT"), ErrorCode::WaSendInFlight);
        assert_eq!(ErrorCode::from_page("SOMETHING_NEW"), ErrorCode::WaError);
    }

    #[test]
    fn framework_statuses_have_codes() {
        assert_eq!(ErrorCode::for_status(414), ErrorCode::UriTooLong);
        assert_eq!(ErrorCode::for_status(418), ErrorCode::BadRequest);
        assert_eq!(ErrorCode::for_status(500), ErrorCode::InternalError);
        for status in [400, 401, 403, 404, 405, 408, 413, 414, 415, 429, 431, 503] {
            assert_eq!(ErrorCode::for_status(status).http_status(), status);
        }
    }
}
