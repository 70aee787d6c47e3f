//! Errors the framework produces (no handler of ours saw the request, or an extractor or a
//! library answered) leave in the same envelope as ours: an unknown route is 404 `NOT_FOUND`, a
//! known path with another method 405 `METHOD_NOT_ALLOWED` with `Allow`, and anything else (a
//! body over the limit for a `Bytes` extractor, a bad `Range` for a download, a `/docs/` file
//! that does not exist) is re-wrapped by [`ensure_envelope`] with a code that follows its status.
//!
//! Not reachable from here: the HTTP/1 codec answers a few malformed requests itself, before any
//! application code runs, with an empty body and the connection closed — 431 for a request head
//! over 128 KiB or with more than 96 headers, 400 for a request line or header it cannot parse,
//! 408 for a request head not received within the client request timeout.

use crate::error_code::ErrorCode;
use std::sync::OnceLock;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use super::error::ApiError;
use crate::AppState;

/// Routes outside the OpenAPI document (the admin page, the document, Swagger UI).
const OTHER_ROUTES: &[(&str, &[Method])] = &[
    ("/api/openapi.json", &[Method::GET]),
    ("/docs", &[Method::GET]),
    ("/docs/{_:.*}", &[Method::GET]),
    ("/admin", &[Method::GET]),
    ("/admin/", &[Method::GET]),
    ("/admin/static/{file}", &[Method::GET]),
    ("/admin/api/login", &[Method::POST]),
    ("/admin/api/logout", &[Method::POST]),
    ("/admin/api/me", &[Method::GET]),
    ("/admin/api/sessions", &[Method::GET, Method::POST]),
    ("/admin/api/sessions/{id}", &[Method::GET, Method::DELETE]),
    ("/admin/api/sessions/{id}/{action}", &[Method::POST]),
    ("/admin/api/users", &[Method::GET, Method::POST]),
    ("/admin/api/users/{id}/keys", &[Method::GET, Method::POST]),
    ("/admin/api/keys/{id}", &[Method::DELETE]),
    ("/admin/api/messages", &[Method::GET]),
    ("/admin/api/users/{id}/webhook", &[Method::GET, Method::PUT]),
];

/// Every route pattern with the methods it takes: the API's from its OpenAPI document (so a new
/// documented route is covered without another list), the rest from [`OTHER_ROUTES`]. An integer
/// path parameter matches digits only, so `/api/v1/messages/send-text/` is not a message id.
fn routes() -> &'static [(ResourceDef, Vec<Method>)] {
    static ROUTES: OnceLock<Vec<(ResourceDef, Vec<Method>)>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let doc = <super::openapi::ApiDoc as utoipa::OpenApi>::openapi();
        let mut routes: Vec<(ResourceDef, Vec<Method>)> = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    (Method::GET, item.get.is_some()),
                    (Method::POST, item.post.is_some()),
                    (Method::PUT, item.put.is_some()),
                    (Method::PATCH, item.patch.is_some()),
                    (Method::DELETE, item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(m, has)| has.then_some(m))
                .collect();
                (ResourceDef::new(digits_only(path, item)), methods)
            })
            .collect();
        routes.extend(
            OTHER_ROUTES
                .iter()
                .map(|(path, methods)| (ResourceDef::new(*path), methods.to_vec())),
        );
        routes
    })
}

/// `path` with each integer path parameter of its operations as `{name:-?[0-9]+}`.
fn digits_only(path: &str, item: &utoipa::openapi::PathItem) -> String {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    use utoipa::openapi::{RefOr, path::ParameterIn};
    let ops = [&item.get, &item.post, &item.put, &item.patch, &item.delete];
    let mut pattern = path.to_string();
    let params = ops.into_iter().flatten().flat_map(|op| op.parameters.iter().flatten());
    for param in params.filter_map(|p| match p {
        RefOr::T(p) => Some(p),
        RefOr::Ref(_) => None,
    }) {
        let integer = matches!(
            &param.schema,
            Some(RefOr::T(Schema::Object(o))) if o.schema_type == SchemaType::Type(Type::Integer)
        );
        if param.parameter_in == ParameterIn::Path && integer {
            pattern = pattern.replace(&format!("{{{}}}", param.name), &format!("{{{}:-?[0-9]+}}", param.name));
        }
    }
    pattern
}

/// The methods `path` takes (empty when no route has this path), in a stable order. When several
/// patterns match, the ones with the fewest path parameters win, as in OpenAPI ("concrete paths are
/// matched before templated ones"): `/api/v1/groups/join/` takes POST only, not the methods of
/// `/api/v1/groups/{groupId}/`.
pub fn allowed_methods(path: &str) -> Vec<Method> {
    let matching: Vec<_> = routes().iter().filter(|(def, _)| def.is_match(path)).collect();
    let params = |def: &ResourceDef| def.pattern().map_or(0, |p| p.matches('{').count());
    let fewest = matching.iter().map(|(def, _)| params(def)).min().unwrap_or(0);
    let mut methods: Vec<Method> = Vec::new();
    for (_, ms) in matching.into_iter().filter(|(def, _)| params(def) == fewest) {
        for m in ms {
            if !methods.contains(m) {
                methods.push(m.clone());
            }
        }
    }
    methods
}

/// The default service: 405 `METHOD_NOT_ALLOWED` with `Allow` when the path exists with other
/// methods, else 404 `NOT_FOUND`.
pub async fn no_route(req: HttpRequest) -> HttpResponse {
    let methods = allowed_methods(req.path());
    if methods.is_empty() {
        return ApiError::NotFound(format!("No route for {} {}", req.method(), req.path())).error_response();
    }
    method_not_allowed(&req, &methods)
}

/// 405 `METHOD_NOT_ALLOWED` with `Allow: <methods>`.
pub fn method_not_allowed(req: &HttpRequest, methods: &[Method]) -> HttpResponse {
    let allow = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
    let mut resp = ApiError::coded(
        ErrorCode::MethodNotAllowed,
        format!("{} is not allowed on {}; it takes {allow}", req.method(), req.path()),
    )
    .error_response();
    if let Ok(v) = HeaderValue::from_str(&allow) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}

/// What a framework error says, in words a person can act on.
fn message(status: StatusCode, res: &HttpResponse, req: &HttpRequest) -> String {
    match status {
        StatusCode::NOT_FOUND => format!("No route for {} {}", req.method(), req.path()),
        StatusCode::PAYLOAD_TOO_LARGE => {
            let limit = req
                .app_data::<web::Data<AppState>>()
                .map(|s| s.settings.server.max_json_bytes);
            match limit {
                Some(limit) => format!("Request body is larger than {limit} bytes"),
                None => "Request body is too large".into(),
            }
        }
        _ => match res.error() {
            Some(e) => e.to_string(),
            None => status.canonical_reason().unwrap_or("Error").to_string(),
        },
    }
}

/// Middleware: an error response that is not JSON already (ours always is) becomes the envelope,
/// keeping its status and headers (`Allow`, `WWW-Authenticate`, `Content-Range`, …).
pub async fn ensure_envelope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<BoxBody, BoxBody>>, actix_web::Error> {
    let res = match next.call(req).await {
        Ok(res) => res.map_into_boxed_body(),
        // A middleware further in failed: the server renders the error we return.
        Err(e) if e.as_error::<ApiError>().is_some() => return Err(e),
        Err(e) => {
            let status = e.as_response_error().status_code();
            return Err(ApiError::from_status(status, e.to_string()).into());
        }
    };
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return Ok(res.map_into_left_body());
    }
    let message = message(status, res.response(), res.request());
    let mut wrapped = ApiError::from_status(status, message).error_response();
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH && !wrapped.headers().contains_key(name) {
            wrapped.headers_mut().append(name.clone(), value.clone());
        }
    }
    let (req, _) = res.into_parts();
    Ok(ServiceResponse::new(req, wrapped).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_come_from_every_route_of_a_path() {
        assert_eq!(
            allowed_methods("/api/v1/webhook/"),
            [Method::GET, Method::PUT, Method::DELETE]
        );
        assert_eq!(
            allowed_methods("/api/v1/messages/42/"),
            [Method::GET, Method::PATCH, Method::DELETE]
        );
        assert_eq!(allowed_methods("/api/v1/messages/send-text/"), [Method::POST]);
        assert!(allowed_methods("/api/v1/messages/abc/").is_empty());
        assert_eq!(allowed_methods("/api/v1/groups/join/"), [Method::POST]);
        assert_eq!(
            allowed_methods("/api/v1/groups/1203@g.us/"),
            [Method::GET, Method::PATCH]
        );
        assert_eq!(allowed_methods("/api/v1/sessions/"), [Method::GET, Method::DELETE]);
        assert_eq!(allowed_methods("/admin/api/sessions/7"), [Method::GET, Method::DELETE]);
        assert_eq!(allowed_methods("/docs/index.css"), [Method::GET]);
        assert!(allowed_methods("/api/v1/nope").is_empty());
    }
}
