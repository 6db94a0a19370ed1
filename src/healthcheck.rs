//! `authbridge healthcheck`: the container's own health check. A distroless image has no shell and
//! no curl, so the binary asks the running server's `/readyz` itself, with hyper's HTTP/1 client.
//! It never opens the database and does not need `DATABASE_URL`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Name lookup, connecting and the response head together. `/readyz` asks the database, which
/// answers in milliseconds when healthy; a server that cannot answer in this time is not ready.
/// Kept below Docker's and Kubernetes' own probe timeouts so that this one's message is the one
/// they record.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The `/readyz` of a server listening on `bind`: an unspecified address (0.0.0.0, [::]) is
/// reached through the loopback address of its family.
pub fn default_url(bind: SocketAddr) -> String {
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/readyz", SocketAddr::new(ip, bind.port()))
}

/// Exit 0 when `url` answers 200 within [`TIMEOUT`]; otherwise one line on stderr and exit 1
/// (never 2, which Docker reserves in health checks).
pub async fn run(url: &str) -> ExitCode {
    let outcome = match tokio::time::timeout(TIMEOUT, probe(url)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no answer within {} s", TIMEOUT.as_secs())),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("authbridge: healthcheck {url}: {reason}");
            ExitCode::FAILURE
        }
    }
}

async fn probe(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    if parsed.scheme() != "http" {
        return Err("only http:// URLs are checked (the server itself speaks plain HTTP)".into());
    }
    let host = parsed.host_str().ok_or("the URL has no host")?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    // host_str keeps an IPv6 address in brackets, so this parses as an address or is looked up.
    let stream = TcpStream::connect(format!("{host}:{port}")).await.map_err(|e| format!("cannot connect: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = hyper::Request::get(&parsed[url::Position::BeforePath..url::Position::AfterQuery])
        .header(hyper::header::HOST, &parsed[url::Position::BeforeHost..url::Position::AfterPort])
        .header(hyper::header::USER_AGENT, concat!("authbridge-healthcheck/", env!("CARGO_PKG_VERSION")))
        .body(String::new())
        .map_err(|e| e.to_string())?;
    let status = sender.send_request(request).await.map_err(|e| e.to_string())?.status();
    if status == StatusCode::OK { Ok(()) } else { Err(format!("answered {status}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_reaches_an_unspecified_bind_address_through_loopback() {
        let url = |bind: &str| default_url(bind.parse().unwrap());
        assert_eq!(url("0.0.0.0:7777"), "http://127.0.0.1:7777/readyz");
        assert_eq!(url("[::]:8080"), "http://[::1]:8080/readyz");
        assert_eq!(url("127.0.0.1:7777"), "http://127.0.0.1:7777/readyz");
        assert_eq!(url("10.1.2.3:80"), "http://10.1.2.3:80/readyz");
        assert_eq!(url("[fd00::1]:7777"), "http://[fd00::1]:7777/readyz");
    }
}
