//! The HTML pages: sign-in, consent, admin consent, "Need admin approval", Microsoft's error page, form_post and
//! sign-out. Plain forms with stable element ids (Microsoft's own ids where they exist: `i0116` for the account
//! field, `idSIButton9` for Next/Accept, `idBtn_Back` for Cancel, `idChkBx_consentOnBehalf`) and no JavaScript, so
//! a WebDriver session or a scripted HTTP client can click through. Every reflected value goes through [`esc`].

use crate::errors::{AadError, ErrorCtx};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <style>body{{font-family:'Segoe UI',sans-serif;max-width:440px;margin:40px auto;padding:0 16px}}\
         .banner{{font-weight:600;color:#555}} button,input[type=submit]{{padding:6px 18px;margin:4px}}\
         .error{{color:#e81123}} li{{margin:4px 0}}</style></head>\
         <body><div class=\"banner\">Microsoft (entra-emulator)</div>{}</body></html>",
        esc(title),
        body
    )
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    (status, Html(layout(title, body))).into_response()
}

/// Account picker / sign-in page. `accounts` lists (UPN, display name) for one-click sign-in.
pub fn signin(
    tenant: &str,
    flow: &str,
    app_name: &str,
    hint: &str,
    accounts: &[(String, String)],
    error: Option<&str>,
) -> Response {
    let action = format!("/{}/login", esc(tenant));
    let err = error.map(|e| format!("<div id=\"usernameError\" class=\"error\">{}</div>", esc(e))).unwrap_or_default();
    let mut picks = String::new();
    for (i, (upn, name)) in accounts.iter().enumerate() {
        picks.push_str(&format!(
            "<li><form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"flow\" value=\"{flow}\">\
             <input type=\"hidden\" name=\"login\" value=\"{upn}\"><button type=\"submit\" id=\"pick-{i}\" \
             name=\"action\" value=\"signin\">{name} &lt;{upn}&gt;</button></form></li>",
            flow = esc(flow),
            upn = esc(upn),
            name = esc(name)
        ));
    }
    let body = format!(
        "<h1 id=\"loginHeader\">Sign in</h1><p>to continue to <span id=\"appName\">{app}</span></p>{err}\
         <form id=\"signinForm\" method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"flow\" value=\"{flow}\">\
         <input type=\"email\" id=\"i0116\" name=\"login\" value=\"{hint}\" placeholder=\"Email, phone, or Skype\">\
         <p>No password is asked: this is an emulator.</p>\
         <button type=\"submit\" id=\"idBtn_Back\" name=\"action\" value=\"cancel\">Cancel</button>\
         <button type=\"submit\" id=\"idSIButton9\" name=\"action\" value=\"signin\">Next</button></form>\
         <h2>Pick an account</h2><ul id=\"accounts\">{picks}</ul>",
        app = esc(app_name),
        flow = esc(flow),
        hint = esc(hint),
    );
    page(StatusCode::OK, "Sign in to your account", &body)
}

/// "Permissions requested" consent page. Admins get the "Consent on behalf of your organization" checkbox;
/// `admin_consent` pages (from /adminconsent) ask for the organization outright.
pub fn consent(
    tenant: &str,
    flow: &str,
    app_name: &str,
    upn: &str,
    scopes: &[String],
    is_admin: bool,
    admin_consent: bool,
) -> Response {
    let list: String = scopes.iter().map(|s| format!("<li>{}</li>", esc(s))).collect();
    let checkbox = if is_admin && !admin_consent {
        "<p><label><input type=\"checkbox\" id=\"idChkBx_consentOnBehalf\" name=\"on_behalf\" value=\"1\"> \
         Consent on behalf of your organization</label></p>"
    } else {
        ""
    };
    let heading =
        if admin_consent { "Permissions requested — Accept for your organization" } else { "Permissions requested" };
    let body = format!(
        "<h1 id=\"consentHeader\">{heading}</h1><p><span id=\"appName\">{app}</span> wants to:</p>\
         <ul id=\"scopes\">{list}</ul><p>Signed in as <span id=\"signedInUser\">{upn}</span></p>\
         <form id=\"consentForm\" method=\"post\" action=\"/{tenant}/consent\">\
         <input type=\"hidden\" name=\"flow\" value=\"{flow}\">{checkbox}\
         <button type=\"submit\" id=\"idBtn_Back\" name=\"action\" value=\"cancel\">Cancel</button>\
         <button type=\"submit\" id=\"idSIButton9\" name=\"action\" value=\"accept\">Accept</button></form>",
        app = esc(app_name),
        upn = esc(upn),
        tenant = esc(tenant),
        flow = esc(flow),
    );
    page(StatusCode::OK, "Permissions requested", &body)
}

/// "Need admin approval" (AADSTS90094): the only way back to the app is the link that returns an
/// `access_denied` + `error_subcode=cancel` redirect.
pub fn need_admin_approval(app_name: &str, upn: &str, return_url: &str) -> Response {
    let body = format!(
        "<h1 id=\"needAdminApprovalHeader\">Need admin approval</h1>\
         <p><span id=\"appName\">{app}</span> needs permission to access resources in your organization that only an \
         admin can grant. Please ask an admin to grant permission to this app before you can use it.</p>\
         <p>Signed in as <span id=\"signedInUser\">{upn}</span></p>\
         <p><a id=\"idBtn_Back\" href=\"{url}\">Return to the application without granting consent</a></p>\
         <p class=\"error\" id=\"error-code\">AADSTS90094</p>",
        app = esc(app_name),
        upn = esc(upn),
        url = esc(return_url),
    );
    page(StatusCode::OK, "Need admin approval", &body)
}

/// Microsoft's own error page (no redirect back to the app): 50011, 700016, 90002 at /authorize, ….
pub fn error_page(err: &AadError, ctx: &ErrorCtx) -> Response {
    let body = format!(
        "<h1>Sign in</h1><p>Sorry, but we're having trouble signing you in.</p>\
         <p class=\"error\" id=\"error-message\">AADSTS<span id=\"error-code\">{code}</span>: {msg}</p>\
         <dl><dt>Request Id</dt><dd id=\"trace-id\">{trace}</dd><dt>Correlation Id</dt><dd id=\"correlation-id\">{corr}</dd>\
         <dt>Timestamp</dt><dd id=\"timestamp\">{ts}</dd></dl>",
        code = err.code,
        msg = esc(&err.message),
        trace = esc(&ctx.trace_id),
        corr = esc(&ctx.correlation_id),
        ts = esc(&ctx.timestamp()),
    );
    page(StatusCode::BAD_REQUEST, "Sign in to your account", &body)
}

/// `response_mode=form_post`: a form the browser submits to the redirect URI (a button, since no JavaScript).
pub fn form_post(redirect_uri: &str, params: &[(String, String)]) -> Response {
    let inputs: String = params
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v)))
        .collect();
    let body = format!(
        "<form id=\"hiddenform\" method=\"post\" action=\"{}\">{inputs}\
         <noscript><p>Script is disabled. Click Submit to continue.</p></noscript>\
         <button type=\"submit\" id=\"submit\">Submit</button></form>",
        esc(redirect_uri)
    );
    page(StatusCode::OK, "Working...", &body)
}

pub fn signed_out() -> Response {
    page(
        StatusCode::OK,
        "Sign out",
        "<h1 id=\"signedOut\">You signed out of your account</h1><p>It's a good idea to close all browser windows.</p>",
    )
}

/// What `error_uri` points at.
pub fn error_code(code: &str) -> Response {
    let text =
        code.parse::<u32>().ok().map(|c| AadError::new(c, &[]).message).unwrap_or_else(|| "Unknown error code.".into());
    let body = format!(
        "<h1>Error code AADSTS<span id=\"error-code\">{}</span></h1><p id=\"error-message\">{}</p>",
        esc(code),
        esc(&text)
    );
    page(StatusCode::OK, "Error code lookup", &body)
}
