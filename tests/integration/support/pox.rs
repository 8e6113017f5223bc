//! Autodiscover POX requests as Outlook sends them, for the autodiscover and redirect tests.

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;

use super::TestServer;

pub const PATH: &str = "/autodiscover/autodiscover.xml";
pub const OUTLOOK_REQUEST_NS: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";

/// An Outlook request body for `email`, asking for the answer schema `schema`.
pub fn request_body(email: &str, schema: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"{OUTLOOK_REQUEST_NS}\">\
         <Request><EMailAddress>{email}</EMailAddress>\
         <AcceptableResponseSchema>{schema}</AcceptableResponseSchema></Request></Autodiscover>"
    )
}

/// POSTs `body` to `path`; returns the 200 text/xml answer after checking the declaration.
pub async fn post(server: &TestServer, path: &str, body: impl Into<reqwest::Body>) -> String {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .header(CONTENT_TYPE, "text/xml; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/xml; charset=utf-8");
    let text = response.text().await.unwrap();
    // exchangelib refuses a body without the declaration (docs/protocols.md, "XML declaration
    // first, no BOM").
    assert!(
        text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{text}"
    );
    text
}

/// POSTs an Outlook request for `email` asking for `schema` to the POX path.
pub async fn pox(server: &TestServer, email: &str, schema: &str) -> String {
    post(server, PATH, request_body(email, schema)).await
}
