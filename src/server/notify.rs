//! systemd's readiness protocol (`sd_notify`): `KEY=VALUE` lines in one datagram to the Unix
//! socket named by `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). Written
//! here on std's `UnixDatagram`: the whole protocol is one `send_to`, and the crates for it
//! either use `unsafe` libc calls or bring all of libsystemd. Without `NOTIFY_SOCKET` (not
//! under `Type=notify`) every call does nothing.

use std::os::unix::net::UnixDatagram;

/// The states mxconf reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Every listener is bound; also the end of a reload.
    Ready,
    /// A reload begins (`Type=notify-reload` wants the monotonic time with it).
    Reloading,
    /// Draining before exit.
    Stopping,
}

/// Tells systemd `state`, with `status` as the human-readable `STATUS=` line. Failures are
/// logged at debug only: a missing listener must not disturb serving.
pub fn notify(state: State, status: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let mut message = match state {
        State::Ready => "READY=1\n".to_owned(),
        State::Reloading => format!("RELOADING=1\nMONOTONIC_USEC={}\n", monotonic_usec()),
        State::Stopping => "STOPPING=1\n".to_owned(),
    };
    // One line: a newline in the status would start a new assignment.
    message.push_str("STATUS=");
    message.extend(status.chars().map(|c| if c == '\n' { ' ' } else { c }));
    message.push('\n');
    if let Err(error) = send(&socket, message.as_bytes()) {
        tracing::debug!(%error, "cannot notify systemd");
    }
}

fn send(socket: &std::ffi::OsStr, message: &[u8]) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let datagram = UnixDatagram::unbound()?;
    let bytes = socket.as_bytes();
    match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            datagram.send_to_addr(message, &addr)?;
        }
        None => {
            datagram.send_to(message, socket)?;
        }
    }
    Ok(())
}

/// `CLOCK_MONOTONIC` in microseconds, the clock systemd compares `MONOTONIC_USEC` with.
fn monotonic_usec() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
    let micros = u64::try_from(now.tv_nsec).unwrap_or(0) / 1000;
    seconds * 1_000_000 + micros
}
