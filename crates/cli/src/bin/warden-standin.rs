//! `warden-standin`: the stand-in agent (crates/standin) as a process, for trying Warden without
//! an agent, benchmarks and manual testing.
//!
//! Usage: `warden-standin [--listen ADDR] [--delay-ms N] [--chunk-delay-ms N] [--token T] [--reply TEXT]`

use std::time::Duration;

use warden_standin::StandIn;

fn usage() -> ! {
    eprintln!(
        "usage: warden-standin [--listen ADDR] [--delay-ms N] [--chunk-delay-ms N] [--token T] [--reply TEXT]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut listen = "127.0.0.1:0".to_string();
    let mut standin = StandIn::new().record(false);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        let millis = || {
            value
                .parse::<u64>()
                .map(Duration::from_millis)
                .unwrap_or_else(|_| usage())
        };
        standin = match flag.as_str() {
            "--listen" => {
                listen = value.clone();
                standin
            }
            "--delay-ms" => standin.delay(millis()),
            "--chunk-delay-ms" => standin.chunk_delay(millis()),
            "--token" => standin.token(&value),
            "--reply" => standin.reply(&value),
            _ => usage(),
        };
    }
    let running = match standin.start(&listen).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warden-standin: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("stand-in agent listening on {}", running.addr);
    let _ = tokio::signal::ctrl_c().await;
}
