//! In-process fan-out of live frames to WebSocket clients. Every frame carries its owner, so a
//! socket only ever sees its own user's meetings.

use std::sync::Arc;

use tokio::sync::broadcast;
use vexa_core::UserId;

#[derive(Debug, Clone)]
pub struct Frame {
    pub user: UserId,
    /// `(platform, native id)`, what WebSocket clients subscribe to.
    pub key: Option<(String, String)>,
    /// `true` for the user channel (every meeting of the user, no subscription needed).
    pub user_wide: bool,
    pub text: Arc<str>,
}

#[derive(Debug, Clone)]
pub struct Hub {
    tx: broadcast::Sender<Frame>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            tx: broadcast::channel(4096).0,
        }
    }
}

impl Hub {
    pub fn publish(&self, frame: Frame) {
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(frame);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Frame> {
        self.tx.subscribe()
    }
}
