//! The bundled admin page (`/admin/`): plain HTML, CSS and JavaScript from `static/admin`,
//! embedded in the binary, over a small JSON API behind a login cookie and a CSRF token.

mod api;
mod assets;
mod login;

use actix_web::web;

pub use login::AdminSessions;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(assets::root)
        .service(assets::index)
        .service(assets::file)
        .service(login::login)
        .service(login::logout)
        .service(login::me)
        .service(api::sessions)
        .service(api::start_session)
        .service(api::session)
        .service(api::session_action)
        .service(api::delete_session)
        .service(api::users)
        .service(api::create_user)
        .service(api::keys)
        .service(api::create_key)
        .service(api::revoke_key)
        .service(api::messages)
        .service(api::get_webhook)
        .service(api::put_webhook);
}
