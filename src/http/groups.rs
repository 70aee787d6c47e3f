//! `/api/v1/groups/…`: create, read and manage WhatsApp groups through the connected page —
//! participants (add, remove, promote, demote), subject, description, settings (announce-only,
//! edit-info admins-only; the picture is in `group_picture`), the invite link, leaving and joining. Group creation and invite jobs
//! are on-demand bundles on 2026 pages: the bridge has the page's Bootloader load them first.
//! Every call needs the session connected now (409 `SESSION_NOT_CONNECTED`); WhatsApp's refusal
//! of a change only admins may make is 403 `WA_NOT_AUTHORIZED`.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{Json, optional_json};
use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::messages::connected_session;
use super::schemas::{Envelope, ErrorBody, Group, GroupChangeResult, GroupInvite, SessionBody};
use super::selector::{SessionQuery, session_for};
use crate::AppState;
use crate::browser::protocol::{GroupChange, ParticipantCode, WaGroup};
use crate::sessions::ChatId;

/// WhatsApp's limits: a subject of at most 100 characters, a description of at most 2048.
const SUBJECT_MAX: usize = 100;
const DESCRIPTION_MAX: usize = 2048;
/// Participants one call may name.
const PARTICIPANTS_MAX: usize = 256;

pub(super) fn group_json(g: &WaGroup) -> Value {
    json!({
        "id": g.id,
        "subject": g.subject,
        "description": g.description,
        "owner": g.owner,
        "announce": g.announce,
        "restrict": g.restrict,
        "isMember": g.is_member,
        "participants": g.participants.iter().map(|p| json!({
            "id": p.id, "phone": p.phone, "isAdmin": p.is_admin, "isSuperAdmin": p.is_super_admin,
        })).collect::<Vec<_>>(),
    })
}

/// Why a participant was not added or changed, from WhatsApp's code.
fn reason(code: u16, action: &str) -> Option<&'static str> {
    match (code, action) {
        (200, _) => None,
        (403, _) => Some("their privacy settings do not let others add them: send them the invite link"),
        (404, "add" | "create") => Some("not on WhatsApp"),
        (404, _) => Some("not a participant of the group"),
        (408, _) => Some("they left the group recently: send them the invite link"),
        (409, _) => Some("already a participant"),
        _ => Some("WhatsApp refused it"),
    }
}

fn change_json(c: &GroupChange, action: &str) -> Value {
    json!({
        "group": group_json(&c.group),
        "participants": c.participants.iter().map(|ParticipantCode { id, code }| json!({
            "id": id, "ok": *code == 200, "code": code, "reason": reason(*code, action),
        })).collect::<Vec<_>>(),
    })
}

/// `<digits>@g.us` or `<digits>-<digits>@g.us` (older groups), else 400 naming `field`.
pub(super) fn group_id(field: &str, raw: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    let user = t.strip_suffix("@g.us").unwrap_or_default();
    let ok = !user.is_empty()
        && user.len() <= 64
        && user.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && !user.starts_with('-')
        && !user.ends_with('-');
    if ok {
        Ok(t.to_string())
    } else {
        Err(ApiError::validation(
            field,
            format!("{field} must be a group id (e.g. 120363012345678901@g.us)"),
        ))
    }
}

/// Users: phone numbers or `…@c.us` / `…@lid` ids, 1 to [`PARTICIPANTS_MAX`], no repeats.
fn participants_field(raw: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let raw = raw.unwrap_or_default();
    if raw.is_empty() || raw.len() > PARTICIPANTS_MAX {
        return Err(ApiError::validation(
            "participants",
            format!("participants must list 1 to {PARTICIPANTS_MAX} phone numbers or user ids"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let field = format!("participants[{i}]");
        let id = ChatId::parse(r)
            .ok()
            .filter(|c| !c.is_group() && (c.as_str().ends_with("@c.us") || c.as_str().ends_with("@lid")))
            .ok_or_else(|| {
                ApiError::validation(
                    &field,
                    format!("{field} must be a phone number in international format or a …@c.us / …@lid id"),
                )
            })?;
        if out.iter().any(|o| o == id.as_str()) {
            return Err(ApiError::validation(&field, format!("{field} repeats {}", id.as_str())));
        }
        out.push(id.as_str().to_string());
    }
    Ok(out)
}

fn subject_field(raw: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > SUBJECT_MAX {
        return Err(ApiError::validation(
            "subject",
            format!("subject must have 1 to {SUBJECT_MAX} characters"),
        ));
    }
    Ok(t.to_string())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupBody {
    /// 1 to 100 characters.
    #[schema(required = true, nullable = false)]
    subject: Option<String>,
    /// Phone numbers or user ids (`…@c.us`, `…@lid`), 1 to 256.
    #[schema(required = true, nullable = false)]
    participants: Option<Vec<String>>,
    /// Session name (default `default`); wins over `?session=`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
}

/// `POST /api/v1/groups/` `{subject, participants}`: a new group, with the account as its admin.
#[utoipa::path(
    tag = "groups",
    operation_id = "create_group",
    security(("api_key" = [])),
    params(SessionQuery),
    request_body(content = CreateGroupBody, example = json!({"subject": "Team", "participants": ["15550002002", "15550002003"]})),
    responses(
        (status = 200, description = "Created; `participants` says who could not be added and why", body = Envelope<GroupChangeResult>),
        (status = 400, description = "VALIDATION_ERROR (`subject`, `participants`, `participants[i]`, `session`), BAD_REQUEST (malformed JSON, unknown field)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (e.g. WA_MODULE_MISSING when the group bundle cannot be loaded)", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/groups/")]
pub async fn create(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<SessionQuery>,
    body: Json<CreateGroupBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = session_for(&p, &query, body.session.as_deref())?;
    let subject = subject_field(body.subject.as_deref().unwrap_or_default())?;
    let members = participants_field(body.participants)?;
    let handle = connected_session(&state, &p, &name)?;
    let change = handle.create_group(subject, members).await?;
    Ok(ok(change_json(&change, "create")))
}

/// `GET /api/v1/groups/`: the groups WhatsApp Web has (also ones the account left: `isMember`).
#[utoipa::path(
    tag = "groups",
    operation_id = "list_groups",
    security(("api_key" = [])),
    params(SessionQuery),
    responses(
        (status = 200, description = "The groups", body = Envelope<Vec<Group>>),
        (status = 400, description = "VALIDATION_ERROR (`session`)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[get("/api/v1/groups/")]
pub async fn list(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = session_for(&p, &query, None)?;
    let handle = connected_session(&state, &p, &name)?;
    let groups = handle.list_groups().await?;
    Ok(ok(json!(groups.iter().map(group_json).collect::<Vec<_>>())))
}

/// `GET /api/v1/groups/{groupId}/`: one group, fresh from WhatsApp, with its participants.
#[utoipa::path(
    tag = "groups",
    operation_id = "get_group",
    security(("api_key" = [])),
    params(("groupId" = String, Path, description = "A group id", example = "120363012345678901@g.us"), SessionQuery),
    responses(
        (status = 200, description = "The group", body = Envelope<Group>),
        (status = 400, description = "VALIDATION_ERROR (`groupId`, `session`)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (WA_CHAT_NOT_FOUND: no such group)", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[get("/api/v1/groups/{groupId}/")]
pub async fn get_one(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    path: web::Path<String>,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = session_for(&p, &query, None)?;
    let gid = group_id("groupId", &path)?;
    let handle = connected_session(&state, &p, &name)?;
    Ok(ok(group_json(&handle.group(gid).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantsBody {
    /// `add`, `remove`, `promote` (make admin) or `demote`.
    #[schema(required = true, nullable = false, pattern = "^(add|remove|promote|demote)$")]
    action: Option<String>,
    /// Phone numbers or user ids, 1 to 256.
    #[schema(required = true, nullable = false)]
    participants: Option<Vec<String>>,
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
}

/// `POST /api/v1/groups/{groupId}/participants/` `{action, participants}`: add, remove, promote
/// or demote; the answer says per participant whether it was done and, if not, why.
#[utoipa::path(
    tag = "groups",
    operation_id = "group_participants",
    security(("api_key" = [])),
    params(("groupId" = String, Path, description = "A group id", example = "120363012345678901@g.us"), SessionQuery),
    request_body(content = ParticipantsBody, example = json!({"action": "add", "participants": ["15550002004"]})),
    responses(
        (status = 200, description = "Done for those with `ok`", body = Envelope<GroupChangeResult>),
        (status = 400, description = "VALIDATION_ERROR (`groupId`, `action`, `participants`, `participants[i]`, `session`), BAD_REQUEST", body = ErrorBody),
        (status = 403, description = "WA_NOT_AUTHORIZED: only the group's admins may", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/groups/{groupId}/participants/")]
pub async fn participants(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    path: web::Path<String>,
    query: web::Query<SessionQuery>,
    body: Json<ParticipantsBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = session_for(&p, &query, body.session.as_deref())?;
    let gid = group_id("groupId", &path)?;
    let action = body.action.as_deref().map(str::trim).unwrap_or_default().to_string();
    if !matches!(action.as_str(), "add" | "remove" | "promote" | "demote") {
        return Err(ApiError::validation(
            "action",
            "action must be add, remove, promote or demote",
        ));
    }
    let members = participants_field(body.participants)?;
    let handle = connected_session(&state, &p, &name)?;
    let change = handle.group_participants(gid, action.clone(), members).await?;
    Ok(ok(change_json(&change, &action)))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupBody {
    /// 1 to 100 characters.
    subject: Option<String>,
    /// At most 2048 characters; empty removes it.
    description: Option<String>,
    /// `true`: only admins send messages.
    announce: Option<bool>,
    /// `true`: only admins edit the subject, description and picture.
    restrict: Option<bool>,
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
}

/// `PATCH /api/v1/groups/{groupId}/` `{subject?, description?, announce?, restrict?}`: what is
/// given changes, in that order.
#[utoipa::path(
    tag = "groups",
    operation_id = "update_group",
    security(("api_key" = [])),
    params(("groupId" = String, Path, description = "A group id", example = "120363012345678901@g.us"), SessionQuery),
    request_body(content = UpdateGroupBody, example = json!({"subject": "Team 2027", "announce": true})),
    responses(
        (status = 200, description = "The group after the change", body = Envelope<Group>),
        (status = 400, description = "VALIDATION_ERROR (`groupId`, `subject`, `description`, `session`; a body that changes nothing names `subject`), BAD_REQUEST", body = ErrorBody),
        (status = 403, description = "WA_NOT_AUTHORIZED: only the group's admins may", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[patch("/api/v1/groups/{groupId}/")]
pub async fn update(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    path: web::Path<String>,
    query: web::Query<SessionQuery>,
    body: Json<UpdateGroupBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let name = session_for(&p, &query, b.session.as_deref())?;
    let gid = group_id("groupId", &path)?;
    let subject = b.subject.as_deref().map(subject_field).transpose()?;
    if let Some(d) = &b.description
        && d.chars().count() > DESCRIPTION_MAX
    {
        return Err(ApiError::validation(
            "description",
            format!("description must have at most {DESCRIPTION_MAX} characters"),
        ));
    }
    if subject.is_none() && b.description.is_none() && b.announce.is_none() && b.restrict.is_none() {
        return Err(ApiError::validation(
            "subject",
            "give at least one of subject, description, announce, restrict",
        ));
    }
    let handle = connected_session(&state, &p, &name)?;
    let group = handle
        .update_group(gid, subject, b.description, b.announce, b.restrict)
        .await?;
    Ok(ok(group_json(&group)))
}

fn invite_json(gid: &str, code: &str) -> Value {
    json!({ "groupId": gid, "code": code, "link": format!("https://chat.whatsapp.com/{code}") })
}

/// `GET /api/v1/groups/{groupId}/invite/`: the invite link (admins only).
#[utoipa::path(
    tag = "groups",
    operation_id = "get_group_invite",
    security(("api_key" = [])),
    params(("groupId" = String, Path, description = "A group id", example = "120363012345678901@g.us"), SessionQuery),
    responses(
        (status = 200, description = "The invite code and link", body = Envelope<GroupInvite>),
        (status = 400, description = "VALIDATION_ERROR (`groupId`, `session`)", body = ErrorBody),
        (status = 403, description = "WA_NOT_AUTHORIZED: only the group's admins may", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[get("/api/v1/groups/{groupId}/invite/")]
pub async fn invite(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    path: web::Path<String>,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = session_for(&p, &query, None)?;
    let gid = group_id("groupId", &path)?;
    let handle = connected_session(&state, &p, &name)?;
    let code = handle.group_invite(gid.clone(), false).await?;
    Ok(ok(invite_json(&gid, &code)))
}

/// `DELETE /api/v1/groups/{groupId}/invite/`: revokes the link; the answer has the new one.
#[utoipa::path(
    tag = "groups",
    operation_id = "revoke_group_invite",
    security(("api_key" = [])),
    params(("groupId" = String, Path, description = "A group id", example = "120363012345678901@g.us"), SessionQuery),
    responses(
        (status = 200, description = "The new invite code and link", body = Envelope<GroupInvite>),
        (status = 400, description = "VALIDATION_ERROR (`groupId`, `session`)", body = ErrorBody),
        (status = 403, description = "WA_NOT_AUTHORIZED: only the group's admins may", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[delete("/api/v1/groups/{groupId}/invite/")]
pub async fn revoke_invite(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    path: web::Path<String>,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = session_for(&p, &query, None)?;
    let gid = group_id("groupId", &path)?;
    let handle = connected_session(&state, &p, &name)?;
    let code = handle.group_invite(gid.clone(), true).await?;
    Ok(ok(invite_json(&gid, &code)))
}

/// `POST /api/v1/groups/{groupId}/leave/`: the account leaves the group (the chat stays).
#[utoipa::path(
    tag = "groups",
    operation_id = "leave_group",
    security(("api_key" = [])),
    params(("groupId" = String, Path, description = "A group id", example = "120363012345678901@g.us"), SessionQuery),
    request_body(content = Option<SessionBody>, description = "Optional: `{\"session\"}`"),
    responses(
        (status = 200, description = "Left: the group as it is now (`isMember` false)", body = Envelope<Group>),
        (status = 400, description = "VALIDATION_ERROR (`groupId`, `session`), BAD_REQUEST", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/groups/{groupId}/leave/")]
pub async fn leave(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    path: web::Path<String>,
    query: web::Query<SessionQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: SessionBody = optional_json(&body)?;
    let name = session_for(&p, &query, body.session.as_deref())?;
    let gid = group_id("groupId", &path)?;
    let handle = connected_session(&state, &p, &name)?;
    Ok(ok(group_json(&handle.leave_group(gid).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    /// The invite code, or the whole link (`https://chat.whatsapp.com/<code>`).
    #[schema(required = true, nullable = false)]
    code: Option<String>,
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
}

/// An invite code from a code or a `chat.whatsapp.com` link: letters and digits.
fn invite_code(raw: Option<&str>) -> Result<String, ApiError> {
    let t = raw.unwrap_or_default().trim();
    let code = t
        .strip_prefix("https://chat.whatsapp.com/")
        .or_else(|| t.strip_prefix("http://chat.whatsapp.com/"))
        .or_else(|| t.strip_prefix("chat.whatsapp.com/"))
        .unwrap_or(t)
        .trim_end_matches('/');
    if code.is_empty() || code.len() > 64 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::validation(
            "code",
            "code must be an invite code (letters and digits) or a https://chat.whatsapp.com/<code> link",
        ));
    }
    Ok(code.to_string())
}

/// `POST /api/v1/groups/join/` `{code}`: joins a group by its invite code or link.
#[utoipa::path(
    tag = "groups",
    operation_id = "join_group",
    security(("api_key" = [])),
    params(SessionQuery),
    request_body(content = JoinBody, example = json!({"code": "https://chat.whatsapp.com/AbCdEfGhIjKlMnOp"})),
    responses(
        (status = 200, description = "Joined: the group", body = Envelope<Group>),
        (status = 400, description = "VALIDATION_ERROR (`code`, `session`), BAD_REQUEST", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (WA_CHAT_NOT_FOUND: the link was revoked)", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/groups/join/")]
pub async fn join(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<SessionQuery>,
    body: Json<JoinBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = session_for(&p, &query, body.session.as_deref())?;
    let code = invite_code(body.code.as_deref())?;
    let handle = connected_session(&state, &p, &name)?;
    Ok(ok(group_json(&handle.join_group(code).await?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_codes_and_participants() {
        assert!(group_id("groupId", "120363012345678901@g.us").is_ok());
        assert!(group_id("groupId", "15550001-1700000000@g.us").is_ok());
        assert!(group_id("groupId", "15550002002@c.us").is_err());
        assert!(group_id("groupId", "-1@g.us").is_err());
        assert_eq!(invite_code(Some("https://chat.whatsapp.com/AbC123")).unwrap(), "AbC123");
        assert_eq!(invite_code(Some(" AbC123 ")).unwrap(), "AbC123");
        assert!(invite_code(Some("https://evil.example/AbC")).is_err());
        assert!(invite_code(None).is_err());
        let p = participants_field(Some(vec!["+1 555 000 2002".into(), "12345@lid".into()])).unwrap();
        assert_eq!(p, ["15550002002@c.us", "12345@lid"]);
        let repeat = participants_field(Some(vec!["15550002002".into(), "15550002002@c.us".into()]));
        assert!(repeat.is_err());
        assert!(participants_field(Some(vec!["1@g.us".into()])).is_err());
        assert!(participants_field(None).is_err());
        assert_eq!(reason(200, "add"), None);
        assert_eq!(reason(404, "remove"), Some("not a participant of the group"));
    }
}
