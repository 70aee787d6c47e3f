//! `POST /api/v1/messages/send-media/`: multipart (`recipient`, `media_type`, `file`, `caption`,
//! `filename`, `session`) or JSON (`recipient`, `media_type`, `url` | `base64`, `filename`,
//! `mimetype`, `caption`). The file is streamed to the media dir within the size limit, its
//! bytes are checked against `media_type`, and nothing is stored when anything is wrong.

use crate::error_code::ErrorCode;
use std::path::{Path, PathBuf};

use actix_multipart::Multipart;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, post, web};
use base64::Engine;
use futures_util::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::error::ApiError;
use super::extract::ApiKey;
use super::messages::{
    Idempotency, MAX_TEXT_CHARS, SendMode, enqueue_and_answer, idempotency_key, new_message, recipient, replay,
    sending_session,
};
use super::reply_to::ReplyTo;
use super::schemas::{Envelope, ErrorBody, MediaUpload, SendQueued, SendResult};
use super::selector::{SessionQuery, session_for};
use crate::AppState;
use crate::auth::Principal;
use crate::db::MessageKind;
use crate::media::{safe_filename, sniff, upload_path};
use crate::outbound::{MAX_REDIRECTS, Policy, Refused, refusal};

const DONE: &str = "Media sent successfully";
/// How much of a file its type is sniffed from.
const SNIFF_BYTES: usize = 8192;
/// Text fields of the form are small; only `file` may be large.
const MAX_FIELD_BYTES: usize = 256 * 1024;

#[derive(Debug, Default)]
struct Form {
    recipient: Option<String>,
    media_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
    session: Option<String>,
    mimetype: Option<String>,
    /// `markRead`: also mark the chat read when it is sent.
    mark_read: Option<String>,
    /// `replyTo`: the message it quotes.
    reply_to: Option<ReplyTo>,
    /// `mentions`: the users the caption mentions (user ids, checked).
    mentions: Vec<String>,
    /// `id`: the message key id the client chose (checked).
    id: Option<String>,
    /// Saved upload: (absolute path, path relative to the media dir, size).
    file: Option<(PathBuf, String, u64)>,
    /// Hex SHA-256 of the file's bytes (an `Idempotency-Key`'s fingerprint covers them).
    sha256: Option<String>,
}

/// Deletes a stored upload unless told to keep it (nothing half-stored on any error).
struct Upload {
    path: Option<PathBuf>,
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

pub(super) fn too_large(limit: u64) -> ApiError {
    ApiError::coded(
        ErrorCode::MediaTooLarge,
        format!("The file is larger than the limit of {limit} bytes"),
    )
}

async fn write_new(path: &PathBuf) -> Result<tokio::fs::File, ApiError> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    tokio::fs::File::create(path)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// A multipart body that could not be read: 408 when it stalled (see `timeouts`), else 400.
fn multipart_error(e: actix_multipart::MultipartError) -> ApiError {
    match e {
        actix_multipart::MultipartError::Payload(p) => super::body::body_error(p),
        other => ApiError::BadRequest(format!("Malformed multipart body: {other}")),
    }
}

/// The client's name of an uploaded file: `filename*` (RFC 8187, UTF-8) when given, as RFC 6266
/// prefers it, else `filename`.
fn upload_name(cd: &actix_web::http::header::ContentDisposition) -> String {
    cd.get_filename_ext()
        .and_then(|ext| String::from_utf8(ext.value.clone()).ok())
        .or_else(|| cd.get_filename().map(str::to_string))
        .unwrap_or_default()
}

/// The first bytes of a stored upload: enough to sniff its type, without reading it all.
async fn read_head(path: &PathBuf) -> Result<Vec<u8>, ApiError> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    file.take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(head)
}

async fn read_multipart(
    state: &AppState,
    user_id: i64,
    mut mp: Multipart,
    upload: &mut Upload,
) -> Result<Form, ApiError> {
    let limit = state.settings.media.max_upload_bytes;
    let mut form = Form::default();
    while let Some(field) = mp.next().await {
        let mut field = field.map_err(multipart_error)?;
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if form.file.is_some() {
                return Err(ApiError::validation(
                    "file",
                    "file is given twice: send one file per message",
                ));
            }
            let original = field.content_disposition().map(upload_name).unwrap_or_default();
            let (path, relative) = upload_path(&state.settings.media.dir, user_id, &original);
            let mut file = StoredFile::create(path.clone(), upload).await?;
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(multipart_error)?;
                file.write(&chunk, limit).await?;
            }
            let (size, sha256) = file.finish().await?;
            form.sha256 = Some(sha256);
            if form.filename.is_none() && !original.is_empty() {
                form.filename = Some(original);
            }
            form.file = Some((path, relative, size));
            continue;
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(multipart_error)?;
            if value.len() + chunk.len() > MAX_FIELD_BYTES {
                return Err(ApiError::validation(
                    &name,
                    format!("{name} is too long: form fields other than file take at most {MAX_FIELD_BYTES} bytes"),
                ));
            }
            value.extend_from_slice(&chunk);
        }
        let value =
            String::from_utf8(value).map_err(|_| ApiError::validation(&name, format!("{name} is not UTF-8")))?;
        super::body::check_text(&name, &value)?;
        match name.as_str() {
            "recipient" => form.recipient = Some(value),
            "media_type" => form.media_type = Some(value),
            "caption" => form.caption = Some(value),
            "filename" => form.filename = Some(value),
            "session" => form.session = Some(value),
            "mimetype" => form.mimetype = Some(value),
            "markRead" => form.mark_read = Some(value),
            "replyTo" => form.reply_to = ReplyTo::from_field(&value)?,
            "mentions" => form.mentions = super::mentions::from_field(&value)?,
            "id" => form.id = super::client_id::checked(Some(value))?,
            _ => {}
        }
    }
    Ok(form)
}

/// The JSON form of `send-media`: the file by `url` or `base64`, exactly one of them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct JsonMedia {
    /// A phone number in international format or a chat id.
    #[schema(required = true, nullable = false, min_length = 1)]
    recipient: Option<String>,
    /// `image`, `video`, `audio`, `voice` (or `ptt`), `document` (or `file`), `sticker` (WebP; a PNG or
    /// JPEG is converted to a 512×512 WebP).
    #[schema(
        required = true,
        nullable = false,
        pattern = "^(image|video|audio|voice|ptt|document|file|sticker)$"
    )]
    media_type: Option<String>,
    /// An http(s) URL the gateway downloads (outbound address policy applies).
    url: Option<String>,
    /// The file in standard base64, or a `data:` URL.
    base64: Option<String>,
    filename: Option<String>,
    /// Ignored: the type comes from the file's bytes.
    mimetype: Option<String>,
    caption: Option<String>,
    /// Session name (default `default`); wins over `?session=`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
    /// Also mark the chat read when the file is sent. Default false.
    #[serde(rename = "markRead")]
    mark_read: Option<bool>,
    /// Reply to (quote) this message of the same chat: its `dbId` or WhatsApp id.
    #[serde(rename = "replyTo")]
    reply_to: Option<ReplyTo>,
    /// Users the caption mentions: phone numbers or user ids (`…@c.us`, `…@lid`), at most 1024.
    #[schema(max_items = 1024)]
    mentions: Option<Vec<String>>,
    /// The message key id, chosen by the client: 16 to 32 uppercase hex digits, new in the
    /// session. The message's WhatsApp id becomes `true_<chat>_<id>`. Default: wagate picks one.
    #[schema(pattern = "^[0-9A-F]{16,32}$")]
    id: Option<String>,
}

async fn read_json(
    state: &AppState,
    principal: &Principal,
    query: &SessionQuery,
    payload: web::Payload,
    upload: &mut Upload,
) -> Result<Form, ApiError> {
    let limit = state.settings.media.max_upload_bytes;
    // base64 is 4/3 of the bytes, plus room for the other fields.
    let body_limit = (limit as usize) / 3 * 4 + 64 * 1024;
    let body = super::body::read_limited(payload, body_limit, || too_large(limit)).await?;
    // Parsed straight into its fields (no intermediate JSON tree: the base64 string is the size
    // of the file), and the body dropped before decoding.
    let j: JsonMedia =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))?;
    drop(body);
    for (field, value) in [
        ("recipient", &j.recipient),
        ("media_type", &j.media_type),
        ("url", &j.url),
        ("filename", &j.filename),
        ("mimetype", &j.mimetype),
        ("caption", &j.caption),
        ("session", &j.session),
    ] {
        super::body::check_text(field, value.as_deref().unwrap_or_default())?;
    }
    // A key limited to other sessions is refused before anything is fetched or stored.
    session_for(principal, query, j.session.as_deref())?;
    let name = j.filename.clone().unwrap_or_default();
    let (path, relative) = upload_path(&state.settings.media.dir, principal.user_id, &name);
    let mut file = StoredFile::create(path.clone(), upload).await?;
    match (j.base64.as_deref(), j.url.as_deref()) {
        (Some(b64), None) => {
            let data = b64.split_once(";base64,").map(|(_, d)| d).unwrap_or(b64).trim();
            // Decoded a slice at a time (a multiple of 4 characters) straight to disk.
            for part in data.as_bytes().chunks(64 * 1024) {
                let bytes = base64::engine::general_purpose::STANDARD.decode(part).map_err(|e| {
                    ApiError::validation(
                        "base64",
                        format!("base64 is not standard base64 (RFC 4648, optionally a data: URL): {e}"),
                    )
                })?;
                file.write(&bytes, limit).await?;
            }
        }
        (None, Some(url)) => {
            let bytes = fetch(url, limit, Policy::media(&state.settings.media)).await?;
            file.write(&bytes, limit).await?;
        }
        (Some(_), Some(_)) => return Err(ApiError::validation("url", "give either url or base64, not both")),
        (None, None) => {
            return Err(ApiError::validation(
                "file",
                "the file is required: give url (http or https) or base64",
            ));
        }
    }
    let (size, sha256) = file.finish().await?;
    Ok(Form {
        recipient: j.recipient,
        media_type: j.media_type,
        caption: j.caption,
        filename: j.filename,
        session: j.session,
        mimetype: j.mimetype,
        mark_read: j.mark_read.map(|m| m.to_string()),
        reply_to: j.reply_to.map(ReplyTo::checked).transpose()?,
        mentions: super::mentions::checked(j.mentions)?,
        id: super::client_id::checked(j.id)?,
        sha256: Some(sha256),
        file: Some((path, relative, size)),
    })
}

/// An upload being written to the media dir: size-limited, hashed as it goes, and deleted by the
/// [`Upload`] guard unless the request succeeds.
struct StoredFile {
    out: tokio::fs::File,
    size: u64,
    hash: Sha256,
}

impl StoredFile {
    async fn create(path: PathBuf, upload: &mut Upload) -> Result<Self, ApiError> {
        upload.path = Some(path.clone());
        Ok(StoredFile {
            out: write_new(&path).await?,
            size: 0,
            hash: Sha256::new(),
        })
    }

    async fn write(&mut self, bytes: &[u8], limit: u64) -> Result<(), ApiError> {
        self.size += bytes.len() as u64;
        if self.size > limit {
            return Err(too_large(limit));
        }
        self.hash.update(bytes);
        self.out
            .write_all(bytes)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// The size in bytes and the hex SHA-256 of what was written.
    async fn finish(mut self) -> Result<(u64, String), ApiError> {
        self.out.flush().await.map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok((self.size, hex::encode(self.hash.finalize())))
    }
}

/// The PNG or JPEG (`from`) at `path` as a 512×512 WebP sticker ([`crate::images::to_sticker`]).
/// Bytes that do not decode are 415 `UNSUPPORTED_MEDIA_TYPE` saying why.
async fn convert_to_sticker(path: &PathBuf, from: &str) -> Result<Vec<u8>, ApiError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let webp = tokio::task::spawn_blocking(move || crate::images::to_sticker(&bytes))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| {
            ApiError::coded(
                ErrorCode::UnsupportedMediaType,
                format!(
                    "the file is {from}, which could not be made a sticker ({e}); media_type=sticker takes {}",
                    crate::media::accepted_description(&MessageKind::Sticker)
                ),
            )
        })?;
    Ok(webp)
}

/// Downloads `url` (http or https) within the size limit. Every connection, each redirect hop
/// included (at most [`MAX_REDIRECTS`]), obeys the media address policy on the address actually
/// connected to (see [`crate::outbound`]); a refusal is 400 `VALIDATION_ERROR` on `url`.
async fn fetch(url: &str, limit: u64, policy: Policy) -> Result<Vec<u8>, ApiError> {
    let parsed = url::Url::parse(url).map_err(|_| ApiError::validation("url", "url is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ApiError::validation("url", "url must be http or https"));
    }
    let refused = |r: &Refused| ApiError::validation("url", format!("url was not fetched: {r}"));
    policy.check_url(&parsed).map_err(|r| refused(&r))?;
    let fail = |e: String| ApiError::coded(ErrorCode::MediaDownloadFailed, format!("Could not download {url}: {e}"));
    let client = policy
        .client_builder(MAX_REDIRECTS)
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let resp = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| refusal(&e).map(refused).unwrap_or_else(|| fail(e.to_string())))?;
    if !resp.status().is_success() {
        return Err(fail(format!("status {}", resp.status())));
    }
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let mut bytes = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| fail(e.to_string()))?;
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[utoipa::path(
    tag = "messages",
    operation_id = "send_media",
    security(("api_key" = [])),
    params(
        SessionQuery,
        SendMode,
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~][ -~]{0,254}$", description = "1 to 255 printable ASCII characters: a retry with the same key returns the first result instead of sending again")
    ),
    request_body(
        description = "The file as a multipart upload, or in JSON by `url` or `base64`",
        content(
            (MediaUpload = "multipart/form-data"),
            (JsonMedia = "application/json", example = json!({"recipient": "15550002002", "media_type": "document", "base64": "JVBERi0xLjcK", "filename": "a.pdf"}))
        )
    ),
    responses(
        (status = 200, description = "Sent: `message` is `Media sent successfully`, `filePath` where the file is kept", body = Envelope<SendResult>),
        (status = 202, description = "Queued (`?async=true`, a session that is away, or longer than `sending.wait_secs`); it still goes out", body = Envelope<SendQueued>),
        (status = 400, description = "VALIDATION_ERROR naming the field (recipient, media_type, file, url, base64, caption, replyTo, markRead, session, Idempotency-Key), BAD_REQUEST (malformed JSON or multipart)", body = ErrorBody),
        (status = 413, description = "MEDIA_TOO_LARGE: the file is over `media.max_upload_bytes`", body = ErrorBody),
        (status = 415, description = "UNSUPPORTED_MEDIA_TYPE: neither multipart nor JSON, or the file's bytes are not a type `media_type` takes", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED (the session was never linked, or is logged out), SEND_IN_PROGRESS (an `Idempotency-Key` whose first send has not finished), CONFLICT (`id` already used in the session)", body = ErrorBody),
        (status = 422, description = "RECIPIENT_NOT_ON_WHATSAPP, IDEMPOTENCY_KEY_REUSED (the key was used for a different request)", body = ErrorBody),
        (status = 429, description = "SESSION_LIMIT_REACHED (a linked stopped session could not be started), RATE_LIMITED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (with `detail`), MEDIA_DOWNLOAD_FAILED (the `url` could not be fetched), SEND_FAILED (an idempotent retry of a failed send)", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE, SERVICE_UNAVAILABLE (database unreachable)", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/messages/send-media/")]
pub async fn send_media(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    req: HttpRequest,
    query: web::Query<SessionQuery>,
    mode: web::Query<SendMode>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let idem_key = idempotency_key(&req)?;
    let mut upload = Upload { path: None };
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let form = if content_type.starts_with("multipart/form-data") {
        read_multipart(&state, p.user_id, Multipart::new(req.headers(), payload), &mut upload).await?
    } else if content_type.starts_with("application/json") {
        read_json(&state, &p, &query, payload, &mut upload).await?
    } else {
        return Err(ApiError::coded(
            ErrorCode::UnsupportedMediaType,
            "Send multipart/form-data or application/json",
        ));
    };

    let name = session_for(&p, &query, form.session.as_deref())?;
    let chat = recipient(form.recipient.as_deref())?;
    let kind_raw = form.media_type.as_deref().ok_or_else(|| {
        ApiError::validation(
            "media_type",
            format!("media_type is required: {}", MessageKind::MEDIA_TYPES),
        )
    })?;
    let kind = MessageKind::from_media_type(kind_raw.trim()).ok_or_else(|| {
        ApiError::validation("media_type", format!("media_type must be {}", MessageKind::MEDIA_TYPES))
    })?;
    let (mut path, mut relative, mut size) = form.file.clone().ok_or_else(|| {
        ApiError::validation(
            "file",
            "file is required: a multipart part named file (or url/base64 in JSON)",
        )
    })?;
    if size == 0 {
        return Err(ApiError::validation(
            "file",
            "file is empty: it must have at least one byte",
        ));
    }
    if let Some(c) = &form.caption
        && c.chars().count() > MAX_TEXT_CHARS
    {
        return Err(ApiError::validation(
            "caption",
            format!("caption is too long: WhatsApp allows at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    let reply_print = form.reply_to.as_ref().map(ReplyTo::fingerprint);
    let mention_print = super::mentions::fingerprint(&form.mentions);
    let idem = idem_key.map(|key| {
        let mut fields: Vec<&[u8]> = vec![
            chat.as_str().as_bytes(),
            kind.as_str().as_bytes(),
            form.caption.as_deref().unwrap_or_default().as_bytes(),
            form.filename.as_deref().unwrap_or_default().as_bytes(),
            form.sha256.as_deref().unwrap_or_default().as_bytes(),
        ];
        // Only when given: a retry of a request from before replies keeps its fingerprint.
        fields.extend(reply_print.as_deref().map(str::as_bytes));
        fields.extend(mention_print.as_deref().map(str::as_bytes));
        fields.extend(form.id.as_deref().map(str::as_bytes));
        Idempotency::bind(key, "send-media", &name, &fields)
    });
    if let Some(answer) = replay(&state, &p, idem.as_ref(), DONE).await? {
        // The retry's own copy of the file is dropped with `upload`.
        return Ok(answer);
    }
    let mut head = read_head(&path).await?;
    let mut filename = form.filename.as_deref().map(safe_filename);
    if kind == MessageKind::Sticker
        && let Some(from) = infer::get(&head)
            .map(|t| t.mime_type())
            .filter(|m| crate::images::converts(m))
    {
        let webp = convert_to_sticker(&path, from).await?;
        let as_webp = |name: &str| Path::new(name).with_extension("webp").to_string_lossy().into_owned();
        let webp_path = path.with_extension("webp");
        tokio::fs::write(&webp_path, &webp)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        upload.path = Some(webp_path.clone());
        let _ = tokio::fs::remove_file(&path).await;
        (path, relative, size) = (webp_path, as_webp(&relative), webp.len() as u64);
        filename = filename.as_deref().map(as_webp);
        head = read_head(&path).await?;
    }
    let mimetype =
        sniff(&kind, &head, filename.as_deref()).map_err(|e| ApiError::coded(ErrorCode::UnsupportedMediaType, e.0))?;

    let mark_read = super::messages::flag_field("markRead", form.mark_read.as_deref().unwrap_or_default())?;
    let session_id = sending_session(&state, &p, &name).await?;
    let base =
        super::messages::send_details(&state, &p, session_id, &chat, form.reply_to.as_ref(), form.id.clone()).await?;
    let mut row = new_message(&p, session_id, &chat, kind, idem);
    row.details = crate::db::MessageDetails {
        mentions: super::mentions::stored(form.mentions.clone()),
        ..base
    }
    .to_column();
    row.caption = form.caption.clone().filter(|c| !c.is_empty());
    row.media_path = Some(relative);
    row.media_mime = Some(mimetype.clone());
    row.media_filename = filename.clone();
    row.media_size = Some(size as i64);
    row.mark_read = mark_read;
    // In cluster mode the session's owner may be another node: it reads the file from the store.
    let relative = row.media_path.clone().unwrap_or_default();
    state.sessions.media().publish(&relative).await.map_err(|e| {
        ApiError::coded(
            ErrorCode::ServiceUnavailable,
            format!("The file could not be stored for the other nodes: {e}"),
        )
    })?;
    // From here the file belongs to the message row (the queue sends it from disk).
    upload.path = None;
    enqueue_and_answer(&state, &p, row, mode.into_inner().is_async(), DONE).await
}
