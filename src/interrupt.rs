//! Interrupts: Ctrl-C (SIGINT), SIGTERM (what CI and process managers send), and losing the
//! stack's lock to someone else. The first of them stops new steps from starting and abandons
//! waits (what was waited for is picked up by the next run); the requests in flight finish. A
//! second signal quits at once, giving the lock back first. Every way out releases the lock.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::watch;

/// Why the run was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C: exit 130.
    Interrupt,
    /// SIGTERM: exit 143.
    Terminate,
    /// The lock was removed or taken over while this run held it: exit 1.
    LockLost,
}

impl Signal {
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
            Signal::LockLost => 1,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Signal::Interrupt => "interrupted",
            Signal::Terminate => "terminated (SIGTERM)",
            Signal::LockLost => "stopped: the stack's lock was taken from this run",
        }
    }
}

fn state() -> &'static watch::Sender<Option<Signal>> {
    static STATE: OnceLock<watch::Sender<Option<Signal>>> = OnceLock::new();
    STATE.get_or_init(|| watch::channel(None).0)
}

/// The first reason the run was told to stop, if any.
pub fn current() -> Option<Signal> {
    *state().borrow()
}

/// The exit code of a run that stopped because it was told to (130 if nothing says why).
pub fn exit_code() -> i32 {
    current().map_or(130, Signal::exit_code)
}

/// Tell the run to stop (the first reason counts).
pub fn stop(signal: Signal) {
    state().send_if_modified(|current| {
        if current.is_none() {
            *current = Some(signal);
            true
        } else {
            false
        }
    });
}

/// Resolves once the run is told to stop (never, if it is not).
pub async fn stopped() -> Signal {
    let mut receiver = state().subscribe();
    loop {
        if let Some(signal) = *receiver.borrow_and_update() {
            return signal;
        }
        if receiver.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A flag that turns true once the run is told to stop (what the engine watches).
pub fn flag() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(current().is_some());
    tokio::spawn(async move {
        stopped().await;
        let _ = sender.send(true);
    });
    receiver
}

/// Listen for Ctrl-C and SIGTERM for the rest of the process (in the runtime).
pub fn install() {
    tokio::spawn(async move {
        let mut signals = Signals::new();
        let first = signals.next().await;
        stop(first);
        let second = signals.next().await;
        crate::render::errors::note(&format!(
            "{} again: giving the lock back and quitting now; the same command resumes",
            second.describe()
        ));
        let _ =
            tokio::time::timeout(Duration::from_secs(5), crate::aws::lock::release_held()).await;
        std::process::exit(second.exit_code());
    });
}

/// The process's Ctrl-C and SIGTERM, listened to from the start so that none is missed.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        {
            async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = recv(&mut self.interrupt) => Signal::Interrupt,
                _ = recv(&mut self.terminate) => Signal::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Interrupt
        }
    }
}
