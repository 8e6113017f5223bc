//! A TCP relay on loopback that holds every chunk for a fixed delay before passing it on, each
//! way: a server that far away, as a network's round trip puts it, for what only latency shows
//! (a connection set-up of several round trips against a timeout of a few). Plain threads, so it
//! keeps relaying while a test blocks.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Relay {
    pub port: u16,
}

impl Relay {
    /// Relays `127.0.0.1:port` to `target`, each chunk `delay` late in each direction. The
    /// listener lives as long as the test process (a thread per connection and direction).
    pub fn start(target: SocketAddr, delay: Duration) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay binds");
        let port = listener.local_addr().expect("relay address").port();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(upstream) = TcpStream::connect(target) else {
                    continue;
                };
                for (from, to) in [
                    (client.try_clone(), upstream.try_clone()),
                    (upstream.try_clone(), client.try_clone()),
                ] {
                    if let (Ok(from), Ok(to)) = (from, to) {
                        delayed(from, to, delay);
                    }
                }
            }
        });
        Relay { port }
    }
}

/// Copies `from` to `to`, each chunk sent `delay` after it was read, in order.
fn delayed(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (chunks, due) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        loop {
            let read = from.read(&mut buf).unwrap_or(0);
            let _ = chunks.send((Instant::now() + delay, buf[..read].to_vec()));
            if read == 0 {
                return;
            }
        }
    });
    std::thread::spawn(move || {
        for (at, chunk) in due {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            if chunk.is_empty() || to.write_all(&chunk).is_err() {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
        }
    });
}
