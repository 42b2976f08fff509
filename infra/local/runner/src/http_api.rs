//! API Gateway HTTP API, emulated: the `HttpApi` routes of every function served on one local port,
//! requests translated into the version 2.0 payload and the function's response translated back.

use crate::jwt::JwtAuthorizer;
use anyhow::{Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

/// One route: a method (`ANY` matches all) and a path template with `{name}` and greedy `{name+}` segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Upper-case method or `ANY`.
    pub method: String,
    /// Path template, e.g. `/tenants/{tenantIdentifier}/payments`; `$default` catches everything.
    pub path: String,
    /// The JWT authorizer a request must pass before the function is invoked, if any.
    pub authorizer: Option<JwtAuthorizer>,
}

impl Route {
    /// A route from the `Method` and `Path` of an `HttpApi` event (SAM: both absent is `$default`).
    pub fn new(method: Option<&str>, path: Option<&str>) -> Result<Self> {
        let path = path.unwrap_or("$default").to_string();
        if path != "$default" && !path.starts_with('/') {
            bail!("HttpApi path {path:?} does not start with /");
        }
        let method = match method.map(str::to_ascii_uppercase) {
            None => "ANY".to_string(),
            Some(m) if m == "X-AMAZON-APIGATEWAY-ANY-METHOD" => "ANY".to_string(),
            Some(m) => m,
        };
        Ok(Route {
            method,
            path,
            authorizer: None,
        })
    }

    /// The route key as API Gateway writes it: `POST /x/{id}`, or `$default`.
    pub fn key(&self) -> String {
        if self.path == "$default" {
            "$default".into()
        } else {
            format!("{} {}", self.method, self.path)
        }
    }

    /// The path parameters when `method` and `path` match this route.
    pub fn matches(&self, method: &str, path: &str) -> Option<BTreeMap<String, String>> {
        if self.method != "ANY" && !self.method.eq_ignore_ascii_case(method) {
            return None;
        }
        let mut params = BTreeMap::new();
        if self.path == "$default" {
            return Some(params);
        }
        let pattern: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
        for (i, segment) in pattern.iter().enumerate() {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
                let rest = actual.get(i..).filter(|r| !r.is_empty() && !r[0].is_empty())?;
                params.insert(name.to_string(), percent_decode(&rest.join("/")));
                return Some(params);
            }
            let value = actual.get(i)?;
            match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) if !value.is_empty() => {
                    params.insert(name.to_string(), percent_decode(value));
                }
                Some(_) => return None,
                None if segment == value => {}
                None => return None,
            }
        }
        (pattern.len() == actual.len()).then_some(params)
    }

    /// How specific a route is, for choosing among several matches as API Gateway does: literal
    /// segments beat parameters, parameters beat greedy ones, a method beats `ANY`, `$default` comes last.
    fn rank(&self) -> (usize, usize, usize, bool) {
        if self.path == "$default" {
            return (0, 0, 0, false);
        }
        let segments: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let literal = segments.iter().filter(|s| !s.starts_with('{')).count();
        let greedy = segments.iter().any(|s| s.ends_with("+}"));
        (
            1,
            literal,
            if greedy { 0 } else { segments.len() },
            self.method != "ANY",
        )
    }
}

/// The best route for a request, with its path parameters; `T` identifies the route's function.
pub fn route<'a, T>(
    routes: &'a [(Route, T)],
    method: &str,
    path: &str,
) -> Option<(&'a Route, &'a T, BTreeMap<String, String>)> {
    routes
        .iter()
        .filter_map(|(r, t)| r.matches(method, path).map(|p| (r, t, p)))
        .max_by_key(|(r, _, _)| r.rank())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An HTTP request as the emulator received it.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    /// Method, e.g. `POST`.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query string without `?`.
    pub query: String,
    /// Headers in arrival order (names as sent).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Client address.
    pub source_ip: String,
}

/// The API Gateway v2 (payload format 2.0) event for a request that matched `route`.
pub fn to_event(
    request: &HttpRequest,
    route: &Route,
    path_parameters: &BTreeMap<String, String>,
    request_id: &str,
    epoch_ms: u128,
) -> Json {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &request.headers {
        let name = name.to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()));
            continue;
        }
        headers
            .entry(name)
            .and_modify(|v| {
                v.push(',');
                v.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for pair in request.query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (
            percent_decode(&k.replace('+', " ")),
            percent_decode(&v.replace('+', " ")),
        );
        query
            .entry(k)
            .and_modify(|old| {
                old.push(',');
                old.push_str(&v);
            })
            .or_insert(v);
    }
    let (body, is_base64) = match std::str::from_utf8(&request.body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (BASE64.encode(&request.body), true),
    };
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host").cloned().unwrap_or_else(|| "localhost".into()),
            "domainPrefix": "local",
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": route.key(),
            "stage": "$default",
            "time": "",
            "timeEpoch": epoch_ms,
        },
        "isBase64Encoded": is_base64,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !path_parameters.is_empty() {
        event["pathParameters"] = json!(path_parameters);
    }
    if !request.body.is_empty() {
        event["body"] = json!(body);
    }
    event
}

/// An HTTP response to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers (a `Set-Cookie` per cookie).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A JSON error answer as API Gateway gives it (`{"message": ...}`).
    pub fn message(status: u16, message: &str) -> Self {
        Self::json(status, &json!({ "message": message }))
    }

    /// A JSON answer.
    pub fn json(status: u16, body: &Json) -> Self {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }
}

/// Translates what the function returned (payload format 2.0): an object with `statusCode` is a full
/// response; anything else is a bare JSON body answered with 200 and `application/json`.
pub fn from_function_response(payload: &[u8]) -> HttpResponse {
    let Ok(value) = serde_json::from_slice::<Json>(payload) else {
        return HttpResponse::message(502, "Internal Server Error");
    };
    let Some(status) = value.get("statusCode").and_then(Json::as_u64) else {
        return HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: match &value {
                Json::String(s) => s.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            },
        };
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for (k, v) in value.get("headers").and_then(Json::as_object).into_iter().flatten() {
        if let Some(v) = crate::template::scalar_to_string(v) {
            headers.push((k.to_ascii_lowercase(), v));
        }
    }
    for (k, vs) in value
        .get("multiValueHeaders")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
    {
        for v in vs
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(crate::template::scalar_to_string)
        {
            headers.push((k.to_ascii_lowercase(), v));
        }
    }
    for cookie in value
        .get("cookies")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
    {
        headers.push(("set-cookie".into(), cookie.to_string()));
    }
    let body = value.get("body").and_then(Json::as_str).unwrap_or_default();
    let body = if value.get("isBase64Encoded").and_then(Json::as_bool) == Some(true) {
        match BASE64.decode(body) {
            Ok(bytes) => bytes,
            Err(_) => return HttpResponse::message(502, "Internal Server Error"),
        }
    } else {
        body.as_bytes().to_vec()
    };
    let status = u16::try_from(status)
        .ok()
        .filter(|s| (100..600).contains(s))
        .unwrap_or(502);
    HttpResponse { status, headers, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(method: &str, path: &str) -> Route {
        Route::new(Some(method), Some(path)).unwrap()
    }

    #[test]
    fn matches_paths_with_parameters() {
        let route = r("post", "/tenants/{tenantIdentifier}/payments");
        assert_eq!(route.key(), "POST /tenants/{tenantIdentifier}/payments");
        let params = route.matches("POST", "/tenants/t%201/payments").unwrap();
        assert_eq!(params["tenantIdentifier"], "t 1");
        assert!(route.matches("GET", "/tenants/t1/payments").is_none());
        assert!(route.matches("POST", "/tenants/t1/payments/x").is_none());
        assert!(route.matches("POST", "/tenants//payments").is_none());
        let greedy = r("ANY", "/files/{proxy+}");
        assert_eq!(greedy.matches("DELETE", "/files/a/b").unwrap()["proxy"], "a/b");
        assert!(greedy.matches("GET", "/files").is_none());
    }

    #[test]
    fn the_most_specific_route_wins() {
        let routes = vec![
            (Route::new(None, None).unwrap(), "default"),
            (r("ANY", "/p/{id}"), "any"),
            (r("GET", "/p/{id}"), "get"),
            (r("GET", "/p/new"), "literal"),
            (r("GET", "/{proxy+}"), "greedy"),
        ];
        let pick = |m: &str, p: &str| route(&routes, m, p).map(|(_, t, _)| *t);
        assert_eq!(pick("GET", "/p/new"), Some("literal"));
        assert_eq!(pick("GET", "/p/7"), Some("get"));
        assert_eq!(pick("PUT", "/p/7"), Some("any"));
        assert_eq!(pick("GET", "/q/1"), Some("greedy"));
        assert_eq!(pick("POST", "/q"), Some("default"));
    }

    #[test]
    fn builds_the_version_2_payload() {
        let route = r("POST", "/tenants/{tenantIdentifier}/payments");
        let request = HttpRequest {
            method: "POST".into(),
            path: "/tenants/t1/payments".into(),
            query: "a=1&a=2&b=x%20y".into(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-Multi".into(), "1".into()),
                ("x-multi".into(), "2".into()),
                ("Cookie".into(), "s=1; t=2".into()),
            ],
            body: br#"{"amount":1}"#.to_vec(),
            source_ip: "127.0.0.1".into(),
        };
        let params = route.matches("POST", &request.path).unwrap();
        let e = to_event(&request, &route, &params, "req-1", 5);
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "POST /tenants/{tenantIdentifier}/payments");
        assert_eq!(e["rawPath"], "/tenants/t1/payments");
        assert_eq!(e["rawQueryString"], "a=1&a=2&b=x%20y");
        assert_eq!(e["queryStringParameters"], json!({"a": "1,2", "b": "x y"}));
        assert_eq!(
            e["headers"],
            json!({"content-type": "application/json", "x-multi": "1,2"})
        );
        assert_eq!(e["cookies"], json!(["s=1", "t=2"]));
        assert_eq!(e["pathParameters"], json!({"tenantIdentifier": "t1"}));
        assert_eq!(e["requestContext"]["http"]["method"], "POST");
        assert_eq!(e["requestContext"]["http"]["path"], "/tenants/t1/payments");
        assert_eq!(e["requestContext"]["requestId"], "req-1");
        assert_eq!(e["body"], r#"{"amount":1}"#);
        assert_eq!(e["isBase64Encoded"], false);

        let binary = HttpRequest {
            method: "GET".into(),
            path: "/x".into(),
            body: vec![0xff, 0x00],
            ..HttpRequest::default()
        };
        let e = to_event(&binary, &r("GET", "/x"), &BTreeMap::new(), "r", 0);
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "/wA=");
        assert!(e.get("pathParameters").is_none() && e.get("queryStringParameters").is_none());
    }

    #[test]
    fn translates_function_responses() {
        let full = from_function_response(
            br#"{"statusCode":201,"headers":{"Content-Type":"text/plain","X-N":1},"cookies":["a=b"],"body":"made","isBase64Encoded":false}"#,
        );
        assert_eq!(full.status, 201);
        assert_eq!(full.body, b"made");
        assert_eq!(
            full.headers,
            vec![
                ("content-type".to_string(), "text/plain".to_string()),
                ("x-n".to_string(), "1".to_string()),
                ("set-cookie".to_string(), "a=b".to_string())
            ]
        );
        let b64 = from_function_response(br#"{"statusCode":200,"body":"/wA=","isBase64Encoded":true}"#);
        assert_eq!(b64.body, vec![0xff, 0x00]);
        let bare = from_function_response(br#"{"ok":true}"#);
        assert_eq!(bare.status, 200);
        assert_eq!(bare.body, br#"{"ok":true}"#);
        assert_eq!(
            bare.headers,
            vec![("content-type".to_string(), "application/json".to_string())]
        );
        assert_eq!(from_function_response(b"not json").status, 502);
    }
}
