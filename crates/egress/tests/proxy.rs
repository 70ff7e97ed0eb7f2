//! System proxy variables must not route around the guard: with `HTTP_PROXY` and
//! friends pointing at a recording "proxy", the executor still connects directly to
//! the (checked) destination. Its own test binary, because it sets process-wide
//! environment variables.

mod support;

use support::*;

#[tokio::test]
async fn proxy_environment_variables_are_ignored() {
    let proxy = RawUpstream::start(
        b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Type: text/plain\r\n\r\nproxied".to_vec(),
    )
    .await;
    let proxy_url = format!("http://{}", proxy.addr);
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        std::env::set_var(var, &proxy_url);
    }
    for var in ["NO_PROXY", "no_proxy"] {
        std::env::remove_var(var);
    }
    let up = Upstream::start().await;

    // Control: a default client does go through the proxy, so the variables work.
    let direct = reqwest::Client::new()
        .get(up.url("/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.text().await.unwrap(), "proxied");
    let through_proxy = *proxy.connections.lock().unwrap();
    assert_eq!(through_proxy, 1);

    let out = executor()
        .fetch(request(&up.url("/echo")), &MapResolver::new())
        .await
        .unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(
        up.records().len(),
        1,
        "the executor did not reach the upstream directly"
    );
    assert_eq!(
        *proxy.connections.lock().unwrap(),
        through_proxy,
        "the executor used the proxy"
    );
}
