//! Who waits on which request's decision: one watch channel per request with a waiter,
//! woken (and removed) when the request is decided, and removed as well when its last
//! waiter leaves, so long-polls that time out leave nothing behind.
//!
//! Request ids are unique across projects (the store refuses a taken id), so a channel is
//! keyed by the id alone; a waiter is registered only after the caller was shown to be
//! allowed to read the request (`authority::readable`), so ids that do not exist, or that
//! the caller may not see, never get one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The channels of the requests someone waits on.
#[derive(Clone, Default)]
pub(crate) struct Waiters {
    channels: Arc<Mutex<HashMap<String, watch::Sender<()>>>>,
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<()>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts waiting on request `id`.
    pub(crate) fn subscribe(&self, id: &str) -> Waiter {
        let rx = self.lock().entry(id.to_string()).or_insert_with(|| watch::channel(()).0).subscribe();
        Waiter { rx, id: id.to_string(), waiters: self.clone() }
    }

    /// Wakes everyone waiting on request `id`.
    pub(crate) fn notify(&self, id: &str) {
        if let Some(tx) = self.lock().remove(id) {
            let _ = tx.send(());
        }
    }

    /// Wakes every waiter (each reads its request again).
    pub(crate) fn notify_all(&self) {
        for (_, tx) in self.lock().drain() {
            let _ = tx.send(());
        }
    }

    /// How many requests have a waiter.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// One caller waiting on one request; dropping it leaves.
pub(crate) struct Waiter {
    rx: watch::Receiver<()>,
    id: String,
    waiters: Waiters,
}

impl Waiter {
    /// Resolves when the request is decided.
    pub(crate) async fn decided(&mut self) {
        let _ = self.rx.changed().await;
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut channels = self.waiters.lock();
        // This waiter's receiver still counts: it is the last one when the count is 1.
        if channels.get(&self.id).is_some_and(|tx| tx.receiver_count() <= 1) {
            channels.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_decision_wakes_every_waiter_and_leaving_removes_the_channel() {
        let waiters = Waiters::default();
        let (mut a, mut b) = (waiters.subscribe("req_1"), waiters.subscribe("req_1"));
        let other = waiters.subscribe("req_2");
        assert_eq!(waiters.len(), 2);
        waiters.notify("req_1");
        a.decided().await;
        b.decided().await;
        assert_eq!(waiters.len(), 1, "a decided request's channel is gone");
        drop((a, b));
        // A long-poll that times out: its request's channel goes with its last waiter.
        let again = waiters.subscribe("req_2");
        drop(other);
        assert_eq!(waiters.len(), 1, "one waiter is left on req_2");
        drop(again);
        assert_eq!(waiters.len(), 0);
        // Waiting after a decision of which nobody heard still works (a fresh channel).
        waiters.notify("req_3");
        let late = waiters.subscribe("req_3");
        assert_eq!(waiters.len(), 1);
        drop(late);
        assert_eq!(waiters.len(), 0);
    }
}
