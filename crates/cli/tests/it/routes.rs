//! The route table against the API description: every route the gateway serves is documented
//! in `/openapi.json`, and every documented route answers 401 without a key unless it is one
//! of the few public routes the authentication layer lets through.

use serde_json::Value;
use warden_gateway::router::{PUBLIC_ROUTES, paths};
use warden_standin::StandIn;

use crate::support::gateway;

#[tokio::test]
async fn every_route_needs_a_key_unless_listed_public() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).start();
    let doc = g.get("/openapi.json", "").await.json();
    let documented = doc["paths"].as_object().unwrap();
    let mut served = paths();
    served.sort_unstable();
    let mut listed: Vec<&str> = documented.keys().map(String::as_str).collect();
    listed.sort_unstable();
    assert_eq!(
        served, listed,
        "the router and /openapi.json list the same routes"
    );

    let client = reqwest::Client::new();
    let mut checked = 0;
    for (path, operations) in documented {
        let concrete = path
            .replace("{trace_id}", "01a0-x")
            .replace("{id}", "01a0-x")
            .replace("{server}", "files")
            .replace("{name}", "files");
        for method in operations.as_object().unwrap().keys() {
            let url = g.url(&concrete);
            let request = match method.as_str() {
                "get" => client.get(&url),
                "post" => client.post(&url).body("{}"),
                "delete" => client.delete(&url),
                other => panic!("undocumented method {other}"),
            };
            let reply = request.send().await.unwrap();
            let status = reply.status().as_u16();
            if PUBLIC_ROUTES.contains(&path.as_str()) {
                assert_ne!(status, 401, "{method} {path} is public");
            } else {
                assert_eq!(status, 401, "{method} {path} answered {status} without a key");
                let body: Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
                assert!(body["error"]["message"].is_string(), "{method} {path}: {body}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 23, "{checked} operations checked");
    assert!(agent.received().is_empty());
}
